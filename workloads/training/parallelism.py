"""How a training run is spread over its GPUs, as settings of TRL/transformers/accelerate.

``ddp``: one full replica per process (torchrun), gradient checkpointing through the Trainer.
``fsdp``: FSDP2 through accelerate's own plugin (the Trainer's ``fsdp`` / ``fsdp_config``): every
decoder layer (the model's ``_no_split_modules``) is its own fully sharded unit, activation
checkpointing is applied by FSDP per unit (the Trainer's gradient checkpointing would all-gather
each unit a second time in backward), mixed precision follows the compute dtype, and checkpoints keep
sharded state (one file per rank through torch.distributed.checkpoint: fast to write, and resumable
on the same number of GPUs). A sharded checkpoint is not something vLLM or ``from_pretrained`` can
read, so ``consolidate`` also writes each one as a plain safetensors folder.

On GPU the fused linear cross-entropy (Liger) replaces the logits-sized loss, and FlashAttention
(a prebuilt hub kernel through the ``kernels`` package when ``flash_attn`` is not installed) makes
padding-free batches possible. The HF Trainer on CPU runs FSDP settings as plain data parallel
(accelerate's MULTI_CPU), so these settings are only ever built for GPUs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FLASH_ATTENTION_KERNEL = "kernels-community/flash-attn2"
SHARDED_MODEL_FOLDER = "pytorch_model_fsdp_0"  # accelerate's names inside a sharded checkpoint
SHARDED_OPTIMIZER_FOLDER = "optimizer_0"


def attention_implementation(on_gpu: bool) -> str | None:
    """``flash_attention_2`` from the flash-attn wheel, else the same kernel prebuilt on the hub
    (``kernels`` package; the workloads image downloads it at build time), else the default."""
    if not on_gpu:
        return None
    if importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    if importlib.util.find_spec("kernels") is not None:
        return FLASH_ATTENTION_KERNEL
    return None


def fsdp_config(layer_classes: list[str], activation_checkpointing: bool) -> dict:
    if not layer_classes:
        raise ValueError("FSDP needs the decoder layer class to wrap (the model's _no_split_modules is empty)")
    return {
        "version": 2,
        "reshard_after_forward": True,  # full sharding: parameters are gathered per unit, then freed
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "transformer_layer_cls_to_wrap": list(layer_classes),
        "activation_checkpointing": activation_checkpointing,
        "state_dict_type": "SHARDED_STATE_DICT",
        # Rank 0 reads the weights, the others receive them: one copy in host memory per node.
        "cpu_ram_efficient_loading": True,
    }


def training_arguments(
    parallelism: str, *, on_gpu: bool, layer_classes: list[str], gradient_checkpointing: bool, fused_loss: bool
) -> dict:
    """The SFTConfig keyword arguments that depend on the parallelism and the device."""
    if parallelism not in ("ddp", "fsdp"):
        raise ValueError(f"parallelism {parallelism!r}: ddp or fsdp (the memory plan resolves auto before launch)")
    liger = on_gpu and fused_loss
    if liger and importlib.util.find_spec("liger_kernel") is None:
        raise RuntimeError("training.fused_loss needs liger-kernel on GPU (the `gpu` extra, in the workloads image)")
    arguments = {
        "use_liger_kernel": liger,
        # Padding-free batches need varlen attention (FlashAttention): without it, length-grouped batches.
        "padding_free": attention_implementation(on_gpu) is not None,
    }
    if parallelism == "fsdp" and on_gpu:
        return arguments | {
            "fsdp": True,
            "fsdp_config": fsdp_config(layer_classes, gradient_checkpointing),
            "gradient_checkpointing": False,
        }
    return arguments | {"gradient_checkpointing": gradient_checkpointing}


def layer_classes(model) -> list[str]:
    return list(getattr(model, "_no_split_modules", None) or [])


def is_sharded_checkpoint(folder: Path) -> bool:
    return (folder / SHARDED_MODEL_FOLDER).is_dir()


def consolidate(checkpoint: Path, config, dtype: str = "bfloat16") -> None:
    """Write a sharded checkpoint's weights next to it as a ``from_pretrained``/vLLM folder:
    ``config.json`` and ``model.safetensors`` in ``dtype``. One process reads every shard
    (torch.distributed.checkpoint without a process group); the training ranks need not wait."""
    import torch
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import save_file
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(checkpoint / SHARDED_MODEL_FOLDER))
    entries = reader.read_metadata().state_dict_metadata
    target = getattr(torch, dtype)
    state = {
        key: torch.empty(meta.size, dtype=meta.properties.dtype)
        for key, meta in entries.items()
        if isinstance(meta, TensorStorageMetadata)
    }
    dcp.load(state, storage_reader=reader, no_dist=True)
    prefix = "model."  # accelerate saves {"model": state_dict}
    weights = {key.removeprefix(prefix): value.to(target).contiguous() for key, value in state.items()}
    save_file(weights, str(checkpoint / "model.safetensors"), metadata={"format": "pt"})
    config.dtype = dtype
    config.save_pretrained(checkpoint)
