"""The TRL pass-through: training keys beyond the study's own are ``trl.SFTConfig`` fields, checked
here so a typo fails before any GPU starts."""

from __future__ import annotations

import dataclasses
import typing

from pydantic import TypeAdapter, ValidationError

from recipe_schema.errors import FieldProblem, did_you_mean
from workloads.training.config import RECIPE_NAMES, SET_BY_WORKLOAD, sft_arguments

# TRL's names (SFTConfig, as TRL's and open-r1's recipes spell them) for the study's own settings;
# a recipe may use either. TRL's warmup_steps counts steps, not the study's ratio, so it is not here.
TRL_NAMES = {
    "lr_scheduler_type": "lr_scheduler",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "per_device_batch_size",
    "save_steps": "save_every",
    "max_seq_length": "max_length",  # TRL's name before 0.20
}


def accept_trl_names(data):
    """The training section with TRL's names turned into the study's; both spellings of one
    setting is an error naming both. ``gradient_accumulation_steps`` becomes the global batch:
    steps x per-device batch x GPUs (training.cluster.gpus, else one)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for trl_name, ours in TRL_NAMES.items():
        if trl_name in data:
            if ours in data:
                raise FieldProblem(trl_name, f"{trl_name} (TRL's name) and {ours} (the study's) both set: keep one")
            data[ours] = data.pop(trl_name)
    if "gradient_accumulation_steps" in data:
        if "global_batch_size" in data:
            raise FieldProblem(
                "gradient_accumulation_steps",
                "gradient_accumulation_steps (TRL's) and global_batch_size (the study's) both set: keep one",
            )
        steps, per_device = data.pop("gradient_accumulation_steps"), data.get("per_device_batch_size", 1)
        cluster = data.get("cluster")
        gpus = cluster.get("gpus", 1) if isinstance(cluster, dict) else 1
        if not all(type(v) is int and v > 0 for v in (steps, per_device, gpus)):
            raise FieldProblem("gradient_accumulation_steps", f"{steps!r} is not a positive integer")
        data["global_batch_size"] = steps * per_device * gpus
    return data


# SFTConfig fields that name a file or folder on the compute. The data-folder rule holds for a
# recipe's paths, and these would escape it: the workload resumes from the run's own newest
# checkpoint and logs beside it, and a DeepSpeed, FSDP or accelerator config is given inline.
PATH_SETTINGS = {
    "resume_from_checkpoint": "the training workload resumes from the run's newest complete checkpoint itself",
    "logging_dir": "the training workload logs into the run's own folder",
    "deepspeed": "give the DeepSpeed config inline, as a mapping, not as a file",
    "fsdp_config": "give the FSDP config inline, as a mapping, not as a file",
    "accelerator_config": "give the accelerator config inline, as a mapping, not as a file",
    "chat_template_path": "the study's chat template is fixed (workloads.core.chat)",
}


def check_sft_settings(training) -> None:
    """Keys beyond the study's own (``training.model_extra``) are SFTConfig fields, of their
    declared types, that TRL accepts together with the study's."""
    for key, value in training.model_extra.items():
        if key in PATH_SETTINGS and (
            key in ("resume_from_checkpoint", "logging_dir", "chat_template_path") or isinstance(value, str)
        ):
            raise FieldProblem(key, f"a path on the compute is not a recipe setting: {PATH_SETTINGS[key]}")
    try:
        # TRL (and torch under it) only for recipes that pass SFTConfig fields through.
        from trl import SFTConfig
    except ImportError:  # the orchestrator's image has no TRL: the training workload checks them
        return

    fields = {f.name for f in dataclasses.fields(SFTConfig) if f.init}
    types = typing.get_type_hints(SFTConfig)
    renamed = {sft: ours for ours, sft in RECIPE_NAMES.items()}
    for key, value in training.model_extra.items():
        if key in renamed:
            raise FieldProblem(key, f"set it as training.{renamed[key]}")
        if key == "fp16":
            raise FieldProblem(key, "set the compute dtype as training.dtype (float16, bfloat16, float32 or auto)")
        if key in SET_BY_WORKLOAD:
            raise FieldProblem(key, "set by the training workload, not by a recipe")
        if key not in fields:
            hint = did_you_mean(key, [*type(training).model_fields, *fields])
            raise FieldProblem(key, f"unknown key: neither a study setting nor a trl.SFTConfig field{hint}")
        try:
            TypeAdapter(types[key]).validate_python(value, strict=True)
        except ValidationError as err:
            expected = getattr(types[key], "__name__", types[key])
            raise FieldProblem(key, f"{value!r} is not a valid {expected} ({err.errors()[0]['msg']})") from None
    try:
        # use_cpu: the orchestrator's hardware must not decide whether a GPU recipe is valid.
        SFTConfig(output_dir="unused", use_cpu=True, **sft_arguments(training.model_dump()))
    except ImportError as err:  # e.g. deepspeed: the settings need a package this environment lacks
        raise FieldProblem(
            "", f"these settings need a package that is not installed: {getattr(err, 'name', None) or err}"
        ) from None
    except Exception as err:  # whatever TRL raises about the settings is the recipe's problem, not a crash
        raise FieldProblem("", f"trl.SFTConfig rejects these settings: {' '.join(str(err).split())}") from None
