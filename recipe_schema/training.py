"""The recipe's training section: the study's settings, and any ``trl.SFTConfig`` field passed
through (recipe_schema.trl_settings checks those)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from recipe_schema.errors import FieldProblem
from recipe_schema.fields import (
    COMPUTE_DTYPE_HELP,
    ComputeDtype,
    Count,
    DatasetVariant,
    Identifier,
    Positive,
    SchedulerType,
    Section,
    Tokens,
)
from recipe_schema.trl_settings import accept_trl_names, check_sft_settings


class TrainingCluster(Section):
    """The GPUs of one training run; more than ``gpus_per_node`` spans nodes (a TrainJob)."""

    gpus: Count = Field(description="GPUs per run (data-parallel ranks, FSDP shards)")
    gpus_per_node: Count = Field(8, description="GPUs of one node (one pod)")
    gpu_memory_gib: Positive = Field(80, le=4096, description="memory of one GPU in GiB")

    @model_validator(mode="after")
    def _whole_nodes(self) -> TrainingCluster:
        if self.gpus > self.gpus_per_node and self.gpus % self.gpus_per_node:
            raise FieldProblem(
                "gpus",
                f"{self.gpus} GPUs over nodes of {self.gpus_per_node}: a run on more than one "
                "node takes whole nodes (a multiple of gpus_per_node)",
            )
        return self


class Training(Section):
    """The study's training settings (TRL's names for them accepted too: trl_settings.TRL_NAMES); any other
    key is a ``trl.SFTConfig`` field, passed through."""

    model_config = ConfigDict(extra="allow")

    students: list[Identifier] = Field(min_length=1, description="keys in `models`")
    datasets: list[DatasetVariant] = Field(min_length=1)
    learning_rate: Positive = Field(5e-5, le=1)
    lr_scheduler: SchedulerType = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=1)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, ge=0, le=1e6)
    epochs: Positive = Field(8, le=1000)
    global_batch_size: Count = 256
    per_device_batch_size: Count = 1
    max_length: Tokens = 20000
    dtype: ComputeDtype = Field("auto", description=f"mixed-precision compute dtype; {COMPUTE_DTYPE_HELP}")
    bf16: bool | None = Field(None, description="older spelling of dtype: true is bfloat16, false float32")
    gradient_checkpointing: bool = True
    save_every: Count = 10
    parallelism: Literal["ddp", "fsdp", "auto"] = Field(
        "auto",
        description="ddp: a full replica per GPU; fsdp: FSDP2 full sharding; auto: ddp where a replica "
        "fits the memory plan (training.cluster), else fsdp",
    )
    fused_loss: bool = Field(True, description="Liger's fused linear cross-entropy on GPU: logits never whole")
    cluster: TrainingCluster | None = Field(
        None,
        description="the GPUs one run gets; when set, every student's memory plan must fit "
        "(study plan --recipe <file> prints it)",
    )

    @model_validator(mode="before")
    @classmethod
    def _trl_names(cls, data):
        return accept_trl_names(data)

    @model_validator(mode="after")
    def _batches(self) -> Training:
        if self.global_batch_size % self.per_device_batch_size:
            raise FieldProblem("global_batch_size", "must be a multiple of per_device_batch_size")
        for field in ("students", "datasets"):
            names = getattr(self, field)
            for i, name in enumerate(names):
                if name in names[:i]:
                    raise FieldProblem(f"{field}[{i}]", f"{name!r} is listed twice")
        return self

    @model_validator(mode="after")
    def _older_bf16(self) -> Training:
        if self.bf16 is not None:
            spelled = "bfloat16" if self.bf16 else "float32"
            if self.dtype not in ("auto", spelled):
                raise FieldProblem("bf16", f"says {spelled} but dtype says {self.dtype}: keep dtype only")
            self.dtype, self.bf16 = spelled, None
        return self

    @model_validator(mode="after")
    def _trl_settings(self) -> Training:
        if self.model_extra:
            check_sft_settings(self)
        return self
