"""Peak GPU memory of one full fine-tuning run, estimated before anything is launched.

The estimate is a sum of named parts, each a formula of the student's shape and the run's setup
(docs/training-at-scale.md derives each one and checks the sum against published measurements):

- ``states``: AdamW in bf16 mixed precision keeps 16 bytes per parameter (bf16 or fp32 weights and
  gradients, fp32 master weights, two fp32 moments; the ZeRO paper's 2 + 2 + 12). DDP keeps them
  whole on every GPU; FSDP divides them by the number of GPUs.
- ``gathered``: under FSDP2 the unit being computed and the one prefetched next are all-gathered
  (bf16 weights, then their gradients until the reduce-scatter), and so is the root unit
  (embeddings, final norm, output head), which stays gathered from forward to backward.
- ``activations``: what the decoder layers keep for backward, in bf16. With activation
  checkpointing, each layer's input, and during backward one layer recomputed in full;
  without it, every layer in full. Attention is assumed memory-efficient (FlashAttention or
  SDPA's efficient kernels): nothing grows with the square of the length.
- ``loss``: unfused, the bf16 logits the model returns plus three fp32 tensors of the same size
  alive at once while the loss backpropagates (log-softmax, its gradient, the logits' gradient):
  14 bytes per token and vocabulary entry. Fused (Liger's linear cross-entropy) the logits
  exist one chunk at a time: about a chunk of logits and the input gradient (6 bytes per token
  and hidden unit) plus the output head's fp32 gradient.
- ``overhead``: CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation, a flat 2 GiB.

The loss peak comes before the layers' backward starts, the recomputed layer after it, so the
peak takes the larger of the two on top of what is alive throughout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3
BYTES_PER_PARAM_STATE = 16
GATHERED_BYTES_PER_PARAM = 2 + 4  # bf16 weight, fp32 gradient before the reduce-scatter
ACTIVATION_BYTES = 2  # bf16
UNFUSED_LOSS_BYTES = 2 + 3 * 4
OVERHEAD_BYTES = 2 * GIB
PARALLELISMS = ("ddp", "fsdp", "auto")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory depends on (config.json's names)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: int | None = None
    tie_word_embeddings: bool = False
    qk_norm: bool = False  # Qwen3 normalises queries and keys per head

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        missing = [
            k
            for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
            if k not in config
        ]
        if missing:
            raise ValueError(f"model config lacks {missing}: not a decoder-only transformer config")
        return cls(
            hidden_size=config["hidden_size"],
            num_hidden_layers=config["num_hidden_layers"],
            num_attention_heads=config["num_attention_heads"],
            num_key_value_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            vocab_size=config["vocab_size"],
            head_dim=config.get("head_dim"),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            qk_norm=config.get("model_type") in QK_NORM_MODEL_TYPES,
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelShape:
        return cls.from_config(json.loads((Path(folder) / "config.json").read_text()))

    @property
    def query_width(self) -> int:
        return self.num_attention_heads * self._head_dim

    @property
    def kv_width(self) -> int:
        return self.num_key_value_heads * self._head_dim

    @property
    def _head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def layer_params(self) -> int:
        h = self.hidden_size
        attention = 2 * h * self.query_width + 2 * h * self.kv_width
        mlp = 3 * h * self.intermediate_size
        norms = 2 * h + (2 * self._head_dim if self.qk_norm else 0)
        return attention + mlp + norms

    @property
    def root_params(self) -> int:
        """Parameters outside the decoder layers: embeddings, output head (unless tied), final norm."""
        head = 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size
        return self.vocab_size * self.hidden_size + head + self.hidden_size

    @property
    def params(self) -> int:
        return self.num_hidden_layers * self.layer_params + self.root_params

    @property
    def layer_activations_per_token(self) -> int:
        """Elements one decoder layer saves for backward per token: both norms' inputs, the
        projections' normed inputs, queries, keys, values and the attention output (plus the
        pre-norm queries and keys with qk-norm), the MLP's gate, activation, up and product."""
        h, q, kv, i = self.hidden_size, self.query_width, self.kv_width, self.intermediate_size
        return 4 * h + 2 * q + 2 * kv + 4 * i + ((q + kv) if self.qk_norm else 0)


QK_NORM_MODEL_TYPES = frozenset({"qwen3", "qwen3_moe"})

# config.json of the paper's students (Hugging Face hub, Qwen/Qwen3-*-Base), for planning without the hub.
KNOWN_SHAPES = {
    "Qwen/Qwen3-1.7B-Base": ModelShape(2048, 28, 16, 8, 6144, 151936, 128, True, True),
    "Qwen/Qwen3-4B-Base": ModelShape(2560, 36, 32, 8, 9728, 151936, 128, True, True),
    "Qwen/Qwen3-8B-Base": ModelShape(4096, 36, 32, 8, 12288, 151936, 128, False, True),
    "Qwen/Qwen3-14B-Base": ModelShape(5120, 40, 40, 8, 17408, 151936, 128, False, True),
}


@dataclass(frozen=True)
class Setup:
    """How a run is laid out: ``gpus`` data-parallel ranks (FSDP shards over all of them)."""

    parallelism: str
    gpus: int
    max_length: int
    per_device_batch: int = 1
    activation_checkpointing: bool = True
    fused_loss: bool = True


@dataclass(frozen=True)
class Estimate:
    parts: dict[str, int]  # bytes

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def gib(self) -> float:
        return self.total / GIB

    def table(self) -> dict[str, float]:
        return {name: round(value / GIB, 1) for name, value in self.parts.items()} | {"total": round(self.gib, 1)}


def estimate(shape: ModelShape, setup: Setup) -> Estimate:
    """Peak memory of one GPU (see the module docstring for each part)."""
    if setup.parallelism not in ("ddp", "fsdp"):
        raise ValueError(f"parallelism {setup.parallelism!r}: estimate ddp or fsdp (auto chooses between them)")
    if setup.gpus < 1 or setup.max_length < 1 or setup.per_device_batch < 1:
        raise ValueError(f"{setup}: gpus, max_length and per_device_batch must be >= 1")
    sharded = setup.parallelism == "fsdp"
    states = shape.params * BYTES_PER_PARAM_STATE // (setup.gpus if sharded else 1)
    gathered = (shape.root_params + 2 * shape.layer_params) * GATHERED_BYTES_PER_PARAM if sharded else 0
    tokens = setup.max_length * setup.per_device_batch
    full_layer = tokens * shape.layer_activations_per_token * ACTIVATION_BYTES
    if setup.activation_checkpointing:
        kept = shape.num_hidden_layers * tokens * shape.hidden_size * ACTIVATION_BYTES
        recomputed = full_layer
    else:
        kept, recomputed = shape.num_hidden_layers * full_layer, 0
    if setup.fused_loss:
        loss = 6 * tokens * shape.hidden_size + 4 * shape.vocab_size * shape.hidden_size
    else:
        loss = UNFUSED_LOSS_BYTES * tokens * shape.vocab_size
    return Estimate(
        {
            "states": states,
            "gathered": gathered,
            "activations": kept,
            "loss_or_recompute": max(loss, recomputed),
            "overhead": OVERHEAD_BYTES,
        }
    )


@dataclass(frozen=True)
class Plan:
    """The parallelism chosen for a run, its estimate, and whether it fits the GPUs."""

    parallelism: str
    gpus: int
    gpu_memory_gib: float
    estimate: Estimate
    alternative: str | None  # what would fit, when this does not

    @property
    def fits(self) -> bool:
        return self.estimate.gib <= self.gpu_memory_gib

    def describe(self) -> str:
        text = (
            f"about {self.estimate.gib:.0f} GiB per GPU with {self.parallelism} "
            f"on {self.gpus} × {self.gpu_memory_gib:g} GiB"
        )
        return text if self.fits or not self.alternative else f"{text}; {self.alternative}"

    def metadata(self) -> dict:
        return {
            "parallelism": self.parallelism,
            "gpus": self.gpus,
            "gpu_memory_gib": self.gpu_memory_gib,
            "fits": self.fits,
            "gib_per_gpu": self.estimate.table(),
        }


def plan(
    shape: ModelShape,
    parallelism: str,
    gpus: int,
    gpu_memory_gib: float,
    max_length: int,
    per_device_batch: int = 1,
    activation_checkpointing: bool = True,
    fused_loss: bool = True,
    max_gpus: int | None = None,
) -> Plan:
    """``auto`` takes DDP when a whole replica fits (no gather traffic), else FSDP. A plan that
    does not fit names the smallest FSDP layout (a power of two up to ``max_gpus``) that would."""
    if parallelism not in PARALLELISMS:
        raise ValueError(f"parallelism {parallelism!r}: one of {PARALLELISMS}")

    def at(kind: str, count: int) -> Estimate:
        return estimate(shape, Setup(kind, count, max_length, per_device_batch, activation_checkpointing, fused_loss))

    chosen = parallelism
    if parallelism == "auto":
        chosen = "ddp" if at("ddp", gpus).gib <= gpu_memory_gib else "fsdp"
    result = at(chosen, gpus)
    alternative = None
    if result.gib > gpu_memory_gib:
        count = 1
        while count <= (max_gpus or max(gpus, 1) * 64):
            needed = at("fsdp", count).gib
            if needed <= gpu_memory_gib:
                alternative = f"fsdp over {count} GPUs needs about {needed:.0f} GiB"
                break
            count *= 2
        if alternative is None:
            at_most = at("fsdp", count // 2).gib
            alternative = f"even fsdp over {count // 2} GPUs needs about {at_most:.0f} GiB"
            if not fused_loss or not activation_checkpointing:
                alternative += " (turn on the fused loss and activation checkpointing)"
    return Plan(chosen, gpus, gpu_memory_gib, result, alternative)
