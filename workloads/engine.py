"""The vLLM offline engine, shared by generation and evaluation."""

from __future__ import annotations

from workloads.naming import content_hash


def make_llm(settings: dict):
    """Start vLLM from an endpoint's settings (see ``resources/llm.py``)."""
    from vllm import LLM  # imported late: the engine is heavy and only this path needs it

    if settings.get("backend") != "vllm-offline":
        raise ValueError(f"unsupported generation backend {settings.get('backend')!r}")
    return LLM(
        model=settings["model"],
        dtype=settings["dtype"],
        enforce_eager=settings["enforce_eager"],
        gpu_memory_utilization=settings["gpu_memory_utilization"],
        tensor_parallel_size=settings["tensor_parallel_size"],
        max_model_len=settings["max_model_len"],
        seed=settings["seed"],
    )


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
    )


def render_prompt(tokenizer, messages: list[dict], *, thinking_prompt: str) -> str:
    """``chat-template`` asks the template to open thinking (Qwen3's ``enable_thinking``);
    ``prefill`` appends ``<think>`` after the generation prompt for models whose template can't."""
    if thinking_prompt == "chat-template":
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=True
        )
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt + "<think>\n" if thinking_prompt == "prefill" else prompt


def config_hash(config: dict) -> str:
    """Stable hash of a sampling/teacher configuration, stored with every generated row."""
    return content_hash(config)
