"""Completions through an OpenAI-compatible HTTP server (a vLLM server, or any provider).

The prompt arrives already rendered by the model's chat template (``workloads.inference.engine.render_prompt``,
the offline path's code), so it goes to ``/completions``, not ``/chat/completions``: both backends
then feed the model the same text. One request per prompt, carrying ``n`` samples; requests run on
a bounded thread pool, and each is retried with exponential backoff and jitter on 408, 429, 5xx,
timeouts and dropped connections. A malformed request is never retried: another 4xx, or a request
that could not even be built or sent (an ``EndpointError`` with ``retryable = False``, which the
orchestrator then fails at once instead of retrying the step).

The API key travels only in the client's ``Authorization`` header. Surrounding whitespace (a
trailing newline from a secrets file) is stripped; a key with any other character a header can't
carry is refused without being echoed. Log lines and exceptions carry the method, URL, status and
a short excerpt of the response body with every form of the key masked out (raw, repr- or
JSON-escaped, URL-encoded), never headers, and exceptions are raised without the HTTP library's
exception (which holds the request and its headers) chained to them.

Why not the ``openai`` client's own retries (installed with vLLM), or tenacity: the ``openai``
client retries any error raised while sending as a connection error, so a malformed request (an
illegal header) is retried; its backoff is fixed at 0.5-8 s and it gives up on a Retry-After over
60 s; it can't stop a retry when another prompt of the call has already failed for good; and it
has no key redaction either. tenacity would replace only the loop in ``_one``: Retry-After, the
stop on a failed sibling and the redacted problem text would still be written here.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import NamedTuple
from urllib.parse import quote, quote_plus

import httpx

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))
# Transport errors that a later attempt can get past; any other (a request h11 or httpx refuse to
# send, a bad URL, a proxy refusing) fails the same way every time.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BODY_EXCERPT = 300  # characters of an error response shown in messages


class EndpointError(RuntimeError):
    """A request failed for good: retries exhausted (``retryable``: a later run may succeed), or a
    request that no retry can fix (bad key, 401/403, another 4xx, a request that can't be sent)."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def clean_api_key(key: str, source: str) -> str:
    """The key without surrounding whitespace; refused, without echoing it, when it still holds a
    character an HTTP header can't carry."""
    key = key.strip()
    bad = [i for i, ch in enumerate(key) if not "!" <= ch <= "~"]
    if bad:
        raise EndpointError(
            f"{source} is not a usable API key: character {bad[0] + 1} of {len(key)} is not printable ASCII "
            "(a space, control character or non-ASCII letter); the value is not shown"
        )
    return key


def secret_forms(secret: str) -> list[str]:
    """Every way a secret can appear in an error's text, longest first."""
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        repr(secret.encode())[2:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }
    return sorted((f for f in forms if f), key=len, reverse=True)


class Completion(NamedTuple):
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int | None  # None: the server gave no per-sample count and no counter was set


def api_key_from_env(name: str) -> str:
    """The key from the environment; unset is an error, empty means the server needs none (as
    does naming no variable at all)."""
    if not name:
        return ""
    key = os.environ.get(name)
    if key is None:
        raise EndpointError(
            f"environment variable {name} (the endpoint's api_key_env) is not set: set it to the API key, "
            "or to an empty string for a server that needs none"
        )
    return clean_api_key(key, f"environment variable {name}")


def request_body(sampling: dict, *, model: str, vllm_extensions: bool) -> dict:
    """The completions request fields for the recipe's sampling parameters (without the prompt)."""
    body = {
        "model": model,
        "n": sampling["n"],
        "temperature": sampling["temperature"],
        "top_p": sampling["top_p"],
        "max_tokens": sampling["max_new_tokens"],
    }
    top_k, min_p = sampling.get("top_k"), sampling.get("min_p")
    if vllm_extensions:
        # repetition_penalty 1.0 overrides any default a server takes from the model's
        # generation_config, so the server samples exactly as the offline engine does.
        body |= {
            "top_k": top_k if top_k is not None else -1,
            "min_p": min_p or 0.0,
            "repetition_penalty": 1.0,
            "return_token_ids": True,
        }
    elif top_k not in (None, 0, -1) or (min_p or 0.0) > 0:
        raise ValueError(
            f"sampling asks for top_k={top_k}, min_p={min_p}, which only vLLM-style servers accept: "
            "enable the endpoint's vllm_extensions or drop them from the recipe"
        )
    return body


class CompletionsClient:
    """Bounded-concurrency, retrying client of ``{base_url}/completions``, or, with ``chat=True``,
    of ``{base_url}/chat/completions`` (each prompt sent as one user message, for a judge whose
    server applies its own chat template)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        max_concurrency: int = 16,
        max_retries: int = 5,
        timeout_s: float = 600.0,
        backoff_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        vllm_extensions: bool = True,
        token_counter: Callable[[str], int] | None = None,
        chat: bool = False,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.chat = chat
        self.url = base_url.rstrip("/") + ("/chat/completions" if chat else "/completions")
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s, self.backoff_cap_s = backoff_s, backoff_cap_s
        self.vllm_extensions = vllm_extensions
        self.token_counter = token_counter
        api_key = clean_api_key(api_key, "api_key") if api_key else ""
        self._secrets = secret_forms(api_key) if api_key else []
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0)),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self._jitter = random.Random()

    @classmethod
    def from_settings(cls, settings: dict, **kwargs) -> CompletionsClient:
        """From an ``OpenAICompatibleEndpoint``'s settings; the key comes from the environment."""
        return cls(
            settings["base_url"],
            settings["model"],
            api_key=api_key_from_env(settings.get("api_key_env", "OPENAI_API_KEY")),
            max_concurrency=settings.get("max_concurrency", 16),
            max_retries=settings.get("max_retries", 5),
            timeout_s=settings.get("timeout_s", 600.0),
            backoff_s=settings.get("backoff_s", 1.0),
            vllm_extensions=settings.get("vllm_extensions", True),
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def complete(self, prompts: list[str], sampling: dict) -> list[list[Completion]]:
        """``sampling["n"]`` completions per prompt, in prompt order. Any prompt failing for good
        fails the call (the caller's chunk is then not written, and a resume redoes it)."""
        body = request_body(sampling, model=self.model, vllm_extensions=self.vllm_extensions)
        if not prompts:
            return []
        failed = threading.Event()
        workers = min(self.max_concurrency, len(prompts))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="completions") as pool:
            futures = [pool.submit(self._one, i, {**body, **self._input(p)}, failed) for i, p in enumerate(prompts)]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for f in done:
                    if f.exception() is not None:
                        raise f.exception()
                return [f.result() for f in futures]
            except BaseException:
                # Stop the rest: queued requests are dropped, in-flight ones don't retry.
                failed.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    # -- one request ------------------------------------------------------------------------

    def _input(self, prompt: str) -> dict:
        return {"messages": [{"role": "user", "content": prompt}]} if self.chat else {"prompt": prompt}

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random), at least a server's Retry-After."""
        ceiling = min(self.backoff_cap_s, self.backoff_s * 2**retry)
        delay = ceiling / 2 + self._jitter.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_cap_s))
        return delay

    def _one(self, index: int, body: dict, failed: threading.Event) -> list[Completion]:
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            problem, retryable, retry_after = self._attempt(body)
            if isinstance(problem, list):
                return problem
            if not retryable or attempt == attempts - 1 or failed.is_set():
                break
            delay = self._delay(attempt, retry_after)
            log.warning(
                "completions request %d: %s; retry %d/%d in %.1f s",
                index,
                problem,
                attempt + 1,
                self.max_retries,
                delay,
            )
            if failed.wait(delay):  # another prompt failed for good meanwhile: stop here
                break
        tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
        # Raised here, outside any ``except``: no HTTP exception (request, headers) is chained.
        raise EndpointError(
            f"POST {self._redact(self.url)} (prompt {index}) failed {tries}: {problem}", retryable=retryable
        )

    def _attempt(self, body: dict) -> tuple[list[Completion] | str, bool, float | None]:
        """(completions, _, _) on success, else (problem description, retryable, Retry-After)."""
        try:
            response = self._http.post(self.url, json=body)
        except TRANSIENT_ERRORS as exc:  # connection refused or reset, timeouts
            return f"{type(exc).__name__}: {self._redact(str(exc))}", True, None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:  # can't be sent as built
            return f"request not sent ({type(exc).__name__}: {self._redact(str(exc))})", False, None
        if response.status_code != 200:
            excerpt = self._redact(response.text[:BODY_EXCERPT]).replace("\n", " ")
            retry_after = _seconds(response.headers.get("retry-after"))
            return f"HTTP {response.status_code}: {excerpt}", response.status_code in RETRY_STATUS, retry_after
        try:
            return self._parse(response.json(), body["n"]), False, None
        except (ValueError, KeyError, TypeError) as exc:
            return f"unexpected response ({type(exc).__name__}: {self._redact(str(exc))[:BODY_EXCERPT]})", False, None

    def _parse(self, payload: dict, n: int) -> list[Completion]:
        choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
        if len(choices) != n:
            raise ValueError(f"{len(choices)} choices for n={n}")
        usage = payload.get("usage") or {}
        prompt_tokens = usage.get("prompt_tokens")
        if prompt_tokens is None and choices[0].get("prompt_token_ids") is not None:
            prompt_tokens = len(choices[0]["prompt_token_ids"])
        out = []
        for choice in choices:
            text = (choice["message"]["content"] or "") if self.chat else choice["text"]
            if choice.get("token_ids") is not None:  # vLLM's return_token_ids: exact per sample
                completion_tokens = len(choice["token_ids"])
            elif n == 1 and usage.get("completion_tokens") is not None:
                completion_tokens = usage["completion_tokens"]
            elif self.token_counter is not None:  # usage sums the samples: count this one's text
                completion_tokens = self.token_counter(text)
            else:
                completion_tokens = None
            out.append(Completion(text, choice.get("finish_reason"), int(prompt_tokens or 0), completion_tokens))
        return out


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: fall back to our own backoff
        return None
