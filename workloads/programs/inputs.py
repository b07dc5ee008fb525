"""What each program receives from the asset that launches it, as typed models.

The asset builds one and sends ``to_extras()`` through Pipes; the program reads it back with
``from_extras`` and uses attributes. Both sides share the model, so a renamed, missing or unknown
key fails where it is written (and in a unit test), not on a GPU hours later. Settings that pass
through to a library untouched (an engine's settings, sampling parameters, a training section)
stay mappings: the recipe validated them already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict

Settings = dict[str, Any]


class ProgramInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    program: ClassVar[str]

    def to_extras(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> Self:
        return cls.model_validate(dict(extras))


class PrepareModelInputs(ProgramInputs):
    program: ClassVar[str] = "prepare_model"
    spec: Settings  # the recipe's model entry, plus base_dir for a model built from another
    output_dir: str
    seed: int


class TeacherJob(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    loader: str  # the query source's loader, which says how its answers are checked
    teacher: Settings  # the recipe's teacher entry, plus its display name
    endpoint: Settings | None  # the engine's settings; None for a backend without one (the solver)


class GenerateInputs(ProgramInputs):
    program: ClassVar[str] = "generate"
    queries_path: str
    parts_dir: str
    output_path: str
    sources: dict[str, TeacherJob]
    sampling: Settings
    chunk_size: int


class VerifyInputs(ProgramInputs):
    program: ClassVar[str] = "verify"
    traces_path: str
    queries_path: str
    output_path: str
    loaders: dict[str, str]  # query source -> its loader
    workers: int | None = None
    timeout_s: float | None = None


class TrainInputs(ProgramInputs):
    program: ClassVar[str] = "train"
    run: str
    dataset: str
    dataset_path: str
    model_dir: str
    output_dir: str
    training: Settings  # the recipe's training section
    seed: int
    parallelism: Literal["ddp", "fsdp"] = "ddp"


class EvalCell(BaseModel):
    """One benchmark at one checkpoint: the recipe's benchmark entry (without its checkpoint plan),
    where its data is, and where its samples and table go."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    category: str
    n: int
    limit: int | None
    hub_config: str | None
    hub_split: str
    max_new_tokens: int | None
    stop: tuple[str, ...] = ()  # the protocol's stop sequences, passed to the engine (none before they existed)
    released_from: str | None
    released_until: str | None
    answer_field: str | None
    answer_format: str
    label_field: str
    label_values: dict[str, str]
    expected: str | None
    csv_header: bool
    location: str
    definition: str  # the cell's definition digest: a table under another definition is stale
    samples_path: str
    table_path: str


class EvaluateInputs(ProgramInputs):
    program: ClassVar[str] = "evaluate"
    checkpoint: str
    endpoint: Settings
    cells: dict[str, EvalCell]
    kinds: dict[str, str]  # every benchmark of the recipe -> its kind
    sampling: Settings
    seed: int
    judge: Settings | None  # the judge's endpoint, for safety-judge cells
    judge_cache: str
    report_to: str | list[str] | None = None
    tensorboard_dir: str | None = None  # the checkpoint's training run's TensorBoard folder (<run folder>/runs)
