"""The SFT configuration of a training run: the recipe's training section mapped onto TRL's
SFTConfig, with the names TRL takes as they are and the study's own names translated."""

from __future__ import annotations

import os

from workloads.training.parallelism import training_arguments

# The recipe's names for SFTConfig fields; any other training key is an SFTConfig field as is.
RECIPE_NAMES = {
    "lr_scheduler": "lr_scheduler_type",
    "warmup_ratio": "warmup_steps",  # a float in [0, 1) is a ratio of total steps
    "epochs": "num_train_epochs",
    "per_device_batch_size": "per_device_train_batch_size",
    "save_every": "save_steps",
}


# Training keys that are the study's own (the global batch becomes gradient accumulation).
STUDY_KEYS = ("students", "datasets", "global_batch_size", "parallelism", "fused_loss", "cluster", "dtype", "bf16")


# SFTConfig fields the workload sets from elsewhere; a recipe may not. run_name: trackers name the
# run after the study's run, which is how evaluation finds it (workloads.core.tracking).
SET_BY_WORKLOAD = ("output_dir", "gradient_accumulation_steps", "seed", "data_seed", "use_cpu", "run_name")


def sft_arguments(training: dict) -> dict:
    """A recipe's training section as SFTConfig keyword arguments."""
    return {RECIPE_NAMES.get(k, k): v for k, v in training.items() if k not in STUDY_KEYS}


def build_config(
    cfg: dict,
    output_dir: str,
    seed: int,
    parallelism: str = "ddp",
    wrap_classes: tuple = (),
    dtype: str = "float32",
    run_name: str | None = None,
):
    """``parallelism``: ddp or fsdp, as the memory plan resolved it; ``wrap_classes``: the model's
    decoder layer classes (FSDP's units); ``dtype``: the compute dtype (``workloads.core.hardware``), mixed
    precision over fp32 weights, so checkpoints are saved in fp32 and load on any device."""
    import torch  # heavy: the orchestrator imports this module's names, never builds a config
    from trl import SFTConfig

    # The global batch is shared by every rank torchrun starts (WORLD_SIZE), as in the paper's 256.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg["global_batch_size"] % (cfg["per_device_batch_size"] * world):
        raise ValueError(
            f"global batch {cfg['global_batch_size']} is not a multiple of per-device batch "
            f"{cfg['per_device_batch_size']} x {world} processes"
        )
    defaults = dict(
        assistant_only_loss=True,
        # Never pad to the max length: batches of similar lengths everywhere, and no padding at
        # all where FlashAttention can take packed sequences (training_arguments).
        train_sampling_strategy="group_by_length",
        save_strategy="steps",
        logging_steps=1,
        include_num_input_tokens_seen="non_padding",
        report_to=["tensorboard"],  # <output_dir>/runs, readable with `tensorboard --logdir`
        dataloader_num_workers=0,
    )
    parallel = training_arguments(
        parallelism,
        on_gpu=torch.cuda.is_available(),
        layer_classes=list(wrap_classes),
        gradient_checkpointing=cfg.get("gradient_checkpointing", True),
        fused_loss=cfg.get("fused_loss", True),
    )
    arguments = {**defaults, **parallel, **sft_arguments(cfg)}
    if arguments.get("padding_free") and not arguments.get("packing"):
        # TRL does not cut padding-free batches to max_length (it refuses the setting); the training
        # program drops the longer examples itself (within_max_length), so none is silently cut.
        arguments["max_length"] = None
    if parallel.get("fsdp"):
        arguments["gradient_checkpointing"] = False  # FSDP checkpoints each unit itself (fsdp_config)
    return SFTConfig(
        **arguments,
        output_dir=output_dir,
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        gradient_accumulation_steps=cfg["global_batch_size"] // (cfg["per_device_batch_size"] * world),
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        run_name=run_name,
    )


def within_max_length(conversations: list, tokenizer, max_length: int | None) -> list[bool]:
    """Whether each conversation fits ``max_length`` tokens under the tokenizer's chat template
    (the length training sees). Where padding-free training leaves max_length to the program,
    the longer examples are dropped and counted rather than cut short."""
    if max_length is None:
        return [True] * len(conversations)
    fits = []
    for messages in conversations:
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        fits.append(len(ids) <= max_length)
    return fits
