"""The recipe's value types: the allowed names of each choice, and the checked string and number
types the sections share."""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from workloads.evaluation.registry import KINDS

DatasetVariant = Literal["math-cot", "math-nocot", "countdown-cot", "reference"]
ModelSource = Literal["gguf-package", "local", "hub", "tiny-config"]
QueryLoader = Literal["math", "countdown"]
TeacherBackend = Literal["vllm", "countdown-solver"]
BenchmarkCategory = Literal["reasoning", "out-of-domain", "safety"]
# transformers' SchedulerType values (a test keeps them equal), without importing torch at load.
SchedulerType = Literal[
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
    "greedy",
]
# The kinds the evaluation registry defines (workloads.evaluation.registry): one list, not a copy.
BenchmarkKind = Literal[tuple(KINDS)]

DATASET_VARIANTS: tuple[str, ...] = get_args(DatasetVariant)
MODEL_SOURCES: tuple[str, ...] = get_args(ModelSource)
QUERY_LOADERS: tuple[str, ...] = get_args(QueryLoader)
TEACHER_BACKENDS: tuple[str, ...] = get_args(TeacherBackend)
BENCHMARK_CATEGORIES: tuple[str, ...] = get_args(BenchmarkCategory)
BENCHMARK_KINDS: tuple[str, ...] = get_args(BenchmarkKind)
AnswerFormat = Literal["plain", "gsm8k", "first", "last-boxed"]
# workloads.core.hardware.DTYPES: auto is the device's native dtype (bf16, else fp16 on a GPU, else fp32).
ComputeDtype = Literal["auto", "bfloat16", "float16", "float32"]
COMPUTE_DTYPE_HELP = (
    "auto: bfloat16 where the device computes it natively, float16 on GPUs without bf16, float32 otherwise; "
    "a dtype forces it (with a warning where the device only emulates it)"
)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


# Every count and step fits a signed 32-bit integer, as the engines, torch and polars take them;
# fields with a natural scale bound themselves tighter.
INT32_MAX = 2**31 - 1
# Generation budgets and context lengths: 2**21 tokens is past every model the study runs.
MAX_TOKENS = 2**21
Count = Annotated[StrictInt, Field(gt=0, le=INT32_MAX)]
Tokens = Annotated[StrictInt, Field(gt=0, le=MAX_TOKENS)]
# Samples per prompt: the paper takes at most 10; more than 1024 is a typo.
Samples = Annotated[StrictInt, Field(gt=0, le=1024)]
Positive = Annotated[float, Field(gt=0)]

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")


def _identifier(value: str) -> str:
    """Names that become storage keys and partition keys: one path segment, never ``..``."""
    if not _IDENTIFIER.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{value!r} is not a safe name: 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit, without '..'"
        )
    return value


def hub_id(value: str) -> str:
    if not _HUB_ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a hub id (`owner/name` or `name`)")
    return value


def _location(value: str) -> str:
    """``hub:<id>`` or a file path; where a path may point is the recipe's rule (allow_absolute_paths)."""
    if value.startswith("hub:"):
        hub_id(value.removeprefix("hub:"))
    elif not value.strip():
        raise ValueError("empty location")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Location = Annotated[str, AfterValidator(_location)]
