"""The tiny student and its countdown dataset, shared by the training tests: eight distinct tasks
with worked solutions, and the optimiser settings both the in-process and torchrun tests start
from (each overrides what it is about); and the engine settings the tests start the tiny model
under (``make_llm``'s input, as ``VllmOfflineEndpoint.settings`` writes it)."""

from pathlib import Path

import polars as pl

from workloads.training.tiny_model import build_tiny_model
from workloads.verification.countdown_rule import countdown_prompt, solver_response

COUNTDOWN_TASKS = [
    ([3, 5, 7], 22),
    ([2, 4, 6], 14),
    ([9, 1, 2], 19),
    ([8, 3, 4], 44),
    ([5, 5, 3], 28),
    ([6, 2, 7], 26),
    ([1, 2, 3], 9),
    ([4, 4, 2], 10),
]
TRAINING = dict(
    learning_rate=1e-3,
    lr_scheduler="cosine",
    warmup_ratio=0.0,
    weight_decay=0.0,
    adam_beta1=0.9,
    adam_beta2=0.999,
    max_grad_norm=1.0,
    global_batch_size=4,
    per_device_batch_size=1,
    max_length=256,
    bf16=False,
    gradient_checkpointing=False,
    save_every=1,
)


def countdown_student(root: Path) -> Path:
    """Writes ``root/data.parquet`` (one conversation per task) and a tiny model whose vocabulary
    covers it; returns the model's folder."""
    messages = [
        [{"role": "user", "content": countdown_prompt(n, t)}, {"role": "assistant", "content": solver_response(n, t)}]
        for n, t in COUNTDOWN_TASKS
    ]
    pl.DataFrame({"messages": messages}).write_parquet(root / "data.parquet")
    return build_tiny_model(root / "model", [m["content"] for conversation in messages for m in conversation])


def engine_settings(model: Path, **overrides) -> dict:
    """A CPU engine for a tiny model: fp32 (exact on any CPU), eager, seed 0."""
    settings = {
        "backend": "vllm-offline",
        "engine": "vllm",
        "model": str(model),
        "dtype": "float32",
        "enforce_eager": True,
        "gpu_memory_utilization": 0.3,
        "tensor_parallel_size": 1,
        "max_model_len": 64,
        "seed": 0,
    }
    return {**settings, **overrides}
