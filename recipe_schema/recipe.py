"""The experiment recipe: one YAML file, validated here and nowhere else.

Every section is a pydantic model that forbids unknown keys; loading turns pydantic's errors and
the cross-field rules into a ``RecipeError`` naming the file and the field's path
(``small.yaml: training.save_every: ...``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from recipe_schema.yaml_loading import YamlProblem, read_yaml
from workloads.core.naming import run_name
from workloads.evaluation.registry import KINDS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "STUDY_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"

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
BenchmarkKindName = Literal[tuple(KINDS)]

DATASET_VARIANTS: tuple[str, ...] = get_args(DatasetVariant)
MODEL_SOURCES: tuple[str, ...] = get_args(ModelSource)
QUERY_LOADERS: tuple[str, ...] = get_args(QueryLoader)
TEACHER_BACKENDS: tuple[str, ...] = get_args(TeacherBackend)
BENCHMARK_CATEGORIES: tuple[str, ...] = get_args(BenchmarkCategory)
BENCHMARK_KINDS: tuple[str, ...] = get_args(BenchmarkKindName)
AnswerFormat = Literal["plain", "gsm8k", "first", "last-boxed"]
# workloads.core.hardware.DTYPES: auto is the device's native dtype (bf16, else fp16 on a GPU, else fp32).
ComputeDtype = Literal["auto", "bfloat16", "float16", "float32"]
COMPUTE_DTYPE_HELP = (
    "auto: bfloat16 where the device computes it natively, float16 on GPUs without bf16, float32 otherwise; "
    "a dtype forces it (with a warning where the device only emulates it)"
)


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the field."""


class FieldProblem(ValueError):
    """Raised by a validator about one of its model's fields (``where``, relative to the model)."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


Count = Annotated[StrictInt, Field(gt=0)]
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


def _hub_id(value: str) -> str:
    if not _HUB_ID.fullmatch(value) or ".." in value:
        raise ValueError(f"{value!r} is not a hub id (`owner/name` or `name`)")
    return value


def _location(value: str) -> str:
    """``hub:<id>`` or a file path; where a path may point is the recipe's rule (allow_absolute_paths)."""
    if value.startswith("hub:"):
        _hub_id(value.removeprefix("hub:"))
    elif not value.strip():
        raise ValueError("empty location")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
Location = Annotated[str, AfterValidator(_location)]


class ModelSpec(Section):
    source: ModelSource = Field(description="where the weights come from")
    package: str | None = Field(None, description="gguf-package: python package shipping the GGUF")
    file: str | None = Field(None, description="gguf-package: GGUF file inside the package")
    path: str | None = Field(None, description="local: a folder; hub: a hub id")
    base: str | None = Field(None, description="tiny-config: model whose tokenizer to reuse")
    config: dict = Field(default_factory=dict, description="tiny-config: architecture overrides")
    dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="weights' dtype")

    @model_validator(mode="after")
    def _source_settings(self) -> ModelSpec:
        if self.source == "gguf-package" and not (self.package and self.file):
            raise FieldProblem("", "gguf-package needs `package` and `file`")
        if self.source in ("local", "hub") and not self.path:
            raise FieldProblem("path", f"required for source {self.source}")
        if self.source == "hub":
            try:
                _hub_id(self.path)
            except ValueError as err:
                raise FieldProblem("path", str(err)) from None
        if self.source == "tiny-config" and not self.base:
            raise FieldProblem("base", "required for source tiny-config")
        return self


class References(Section):
    location: Location = Field(description="reference solutions (NuminaMath-1.5): hub:<id> or a data-folder path")
    problem_field: str = "problem"
    solution_field: str = "solution"
    hub_config: str | None = None


class QuerySource(Section):
    loader: QueryLoader = Field(description="how rows become queries")
    location: Location = Field(description="hub:<id> or a path relative to the data folder")
    size: Count = Field(description="queries sampled from this source")
    problem_field: str = "problem"
    answer_field: str = "answer"
    solution_field: str | None = None
    answer_format: AnswerFormat = Field(
        "plain",
        description="where answer_field keeps the answer: plain, gsm8k (after ####), first (of a list), "
        "last-boxed (last \\boxed{} of a solution)",
    )
    hub_config: str | None = None
    references: References | None = Field(
        None, description="match reference solutions by problem text (else solution_field)"
    )

    @model_validator(mode="after")
    def _references_are_for_math(self) -> QuerySource:
        if self.references is not None and self.loader != "math":
            raise FieldProblem("references", "reference solutions are for math sources")
        return self


class Sampling(Section):
    n: Count = Field(1, description="samples per prompt")
    temperature: float = Field(0.6, ge=0, description="0 is greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: StrictInt = Field(20, ge=-1, description="-1 disables top-k")
    min_p: float = Field(0.0, ge=0, le=1)
    max_new_tokens: Count = 16384


class Teacher(Section):
    backend: TeacherBackend
    model: str | None = Field(None, description="key in `models` (vllm backend)")
    thinking_prompt: Literal["chat-template", "prefill"] = "prefill"
    few_shot: bool = False
    max_model_len: Count = 4096
    dtype: ComputeDtype = Field("auto", description=f"vllm backend's compute dtype; {COMPUTE_DTYPE_HELP}")


class Generation(Section):
    shards: Count
    sampling: Sampling
    teachers: dict[Identifier, Teacher] = Field(description="query source -> teacher")


class TrainingCluster(Section):
    """The GPUs of one training run; more than ``gpus_per_node`` spans nodes (a TrainJob)."""

    gpus: Count = Field(description="GPUs per run (data-parallel ranks, FSDP shards)")
    gpus_per_node: Count = Field(8, description="GPUs of one node (one pod)")
    gpu_memory_gib: Positive = Field(80, description="memory of one GPU in GiB")

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
    """The study's training settings; any other key is a ``trl.SFTConfig`` field, passed through."""

    model_config = ConfigDict(extra="allow")

    students: list[Identifier] = Field(min_length=1, description="keys in `models`")
    datasets: list[DatasetVariant] = Field(min_length=1)
    learning_rate: Positive = 5e-5
    lr_scheduler: SchedulerType = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, ge=0)
    epochs: Positive = 8
    global_batch_size: Count = 256
    per_device_batch_size: Count = 1
    max_length: Count = 20000
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
        "(python -m recipe_schema.training_plan --recipe <file> prints it)",
    )

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
            _check_sft_settings(self)
        return self


def _check_sft_settings(training: Training) -> None:
    """Keys beyond the study's own are SFTConfig fields, of their declared types, that TRL accepts
    together with the study's (checked here so a typo fails before any GPU starts; TRL and torch
    are imported only for recipes that use such keys)."""
    import dataclasses
    import typing

    from pydantic import TypeAdapter

    try:
        from trl import SFTConfig
    except ImportError:  # the orchestrator's image has no TRL: the training workload checks them
        return

    from workloads.training.config import RECIPE_NAMES, SET_BY_WORKLOAD, sft_arguments

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
            close = difflib.get_close_matches(key, [*Training.model_fields, *fields], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise FieldProblem(key, f"unknown key: neither a study setting nor a trl.SFTConfig field{hint}")
        try:
            TypeAdapter(types[key]).validate_python(value, strict=True)
        except ValidationError as err:
            expected = getattr(types[key], "__name__", types[key])
            raise FieldProblem(key, f"{value!r} is not a valid {expected} ({err.errors()[0]['msg']})") from None
    try:
        # use_cpu: the orchestrator's hardware must not decide whether a GPU recipe is valid.
        SFTConfig(output_dir="unused", use_cpu=True, **sft_arguments(training.model_dump()))
    except (ValueError, TypeError) as err:
        raise FieldProblem("", f"trl.SFTConfig rejects these settings: {' '.join(str(err).split())}") from None


class CheckpointPlan(Section):
    """Which saved checkpoints a benchmark is evaluated on (workloads.planning.eval_plan); the base model
    and a run's last checkpoint are always in."""

    every: Count = Field(1, description="every k-th saved checkpoint (1: all of them)")
    dense_until: StrictInt | None = Field(
        None, ge=0, description="every checkpoint up to this step, then every k-th (the dip comes early)"
    )
    steps: list[Annotated[StrictInt, Field(ge=0)]] | None = Field(
        None, description="an explicit list of steps instead of every/dense_until"
    )

    @model_validator(mode="after")
    def _one_way(self) -> CheckpointPlan:
        if self.steps is not None and (self.every != 1 or self.dense_until is not None):
            raise FieldProblem("steps", "an explicit list replaces every/dense_until: give one or the other")
        return self


class Benchmark(Section):
    location: Location = Field(description="hub:<id> or a path relative to the data folder")
    kind: BenchmarkKindName = Field(description="how items are loaded and scored")
    category: BenchmarkCategory = Field("reasoning", description="groups benchmarks in the analysis")
    n: Count = 1
    limit: Count | None = Field(None, description="a seeded subset of this many items (seed: the recipe's)")
    checkpoints: CheckpointPlan | None = Field(
        None, description="the checkpoints this benchmark is evaluated on; default evaluation.checkpoints"
    )
    hub_config: str | None = None
    hub_split: str = "test"
    max_new_tokens: Count | None = Field(
        None, description="this benchmark's generation budget; default evaluation.sampling's"
    )
    released_from: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="livecodebench: only problems whose contest_date is on or after this ISO date",
    )
    released_until: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="livecodebench: only problems whose contest_date is on or before this ISO date",
    )
    # Where a file keeps what its kind's loader reads (workloads.evaluation.loading.Layout).
    answer_field: str | None = Field(None, description="math: the gold answer's field; default answer or gt_answer")
    answer_format: AnswerFormat = Field("plain", description="math: where answer_field keeps the answer")
    label_field: str = Field("label", description="refusal: the column saying which prompts should be refused")
    label_values: dict[str, Literal["comply", "refuse"]] = Field(
        default_factory=lambda: {"safe": "comply", "unsafe": "refuse"},
        description="refusal: each value of label_field mapped to the expected behaviour",
    )
    expected: Literal["comply", "refuse"] | None = Field(
        None, description="refusal: one expectation for every prompt, no label column read (AdvBench: refuse)"
    )
    csv_header: bool = Field(
        True,
        description="false: location is a folder of header-less CSV files, one prompt a line, one file "
        "per category (HEx-PHI)",
    )


class Judge(Section):
    model: str = Field(
        description="with base_url: the served model name; without: a key in `models`, served on this "
        "machine by a vLLM server the evaluation starts for the run"
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible server root incl. the version, e.g. https://host/v1"
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="NAME of the environment variable holding the key ('' if none)"
    )
    max_tokens: Count = Field(512, description="the judge's reply budget")
    max_concurrency: Count = 8
    max_model_len: Count = Field(4096, description="context of a judge server started locally")


class Evaluation(Section):
    benchmarks: dict[Identifier, Benchmark] = Field(min_length=1)
    sampling: Sampling
    max_model_len: Count = 40960
    dtype: ComputeDtype = Field("auto", description=f"compute dtype of the evaluation engine; {COMPUTE_DTYPE_HELP}")
    judge: Judge | None = Field(None, description="LLM judge (temperature 0) of safety-judge benchmarks")
    checkpoints: CheckpointPlan = Field(
        default_factory=CheckpointPlan, description="the evaluation plan's checkpoints for every benchmark"
    )

    refine_max_cells: StrictInt = Field(
        0, ge=0, description="cells the refinement sensor may add around dips and recoveries, in all (0: none)"
    )
    refine_cells_per_tick: Count = Field(64, description="cells the refinement sensor adds per tick at most")

    def plan_of(self, benchmark: str) -> CheckpointPlan:
        return self.benchmarks[benchmark].checkpoints or self.checkpoints

    @model_validator(mode="after")
    def _judge(self) -> Evaluation:
        if self.sampling.n != 1:
            raise FieldProblem("sampling.n", "set samples per benchmark with benchmarks.<name>.n")
        for key, bench in self.benchmarks.items():
            if bench.kind == "safety-judge" and self.judge is None:
                raise FieldProblem("judge", f"{key} is a safety-judge benchmark: name the judge")
        return self


class Decontamination(Section):
    enabled: bool = True
    ngram: Count = Field(8, description="word n-gram length")
    min_overlap: float = Field(
        0.5, gt=0, le=1, description="share of a query's n-grams found in one eval item that drops it"
    )


class Recipe(Section):
    name: Identifier = Field(description="the study's folder in storage")
    seed: StrictInt = Field(ge=0)
    models: dict[Identifier, ModelSpec]
    queries: dict[Identifier, QuerySource]
    generation: Generation
    training: Training
    evaluation: Evaluation
    decontamination: Decontamination = Field(default_factory=Decontamination)
    dataset_targets: dict[DatasetVariant, Count] = Field(
        default_factory=dict, description="dataset variant -> examples it should reach (a warning check)"
    )
    data_dir: str | None = Field(None, description=f"data folder; default ${DATA_DIR_ENV}")
    allow_absolute_paths: bool = Field(
        False, description="let data locations be absolute paths or leave the data folder with '..'"
    )

    def data_path(self, location: str) -> str:
        """Hub ids pass through; file locations resolve against the data folder."""
        if location.startswith("hub:"):
            return location
        root = Path(self.data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
        return str((root / location).resolve())

    @property
    def runs(self) -> list[str]:
        return [run_name(s, d) for s in self.training.students for d in self.training.datasets]

    def student_of(self, run: str) -> str:
        for student in self.training.students:
            for dataset in self.training.datasets:
                if run_name(student, dataset) == run:
                    return student
        raise KeyError(f"run {run!r} is not in this recipe (runs: {self.runs})")

    @model_validator(mode="after")
    def _references(self) -> Recipe:
        """Rules across sections: every name a section uses exists in the section it points at."""
        for key, model in self.models.items():
            if model.source == "tiny-config":
                _require(
                    model.base in self.models and model.base != key,
                    f"models.{key}.base",
                    "must name another model in `models`",
                )
        total = sum(s.size for s in self.queries.values())
        gen = self.generation
        _require(gen.shards <= total, "generation.shards", f"{gen.shards} shards for only {total} queries")
        for src, teacher in gen.teachers.items():
            where = f"generation.teachers.{src}"
            _require(src in self.queries, where, f"no query source named {src!r}")
            if teacher.backend == "vllm":
                _require(teacher.model in self.models, f"{where}.model", "must name a model in `models`")
            if teacher.backend == "countdown-solver":
                _require(
                    self.queries[src].loader == "countdown", f"{where}.backend", "the solver only answers countdown"
                )
        for src in self.queries:
            _require(src in gen.teachers, f"generation.teachers.{src}", "every query source needs a teacher")
        for i, s in enumerate(self.training.students):
            _require(s in self.models, f"training.students[{i}]", f"{s!r} is not in `models`")
        judge = self.evaluation.judge
        if judge is not None:
            _require(
                bool(judge.base_url) or judge.model in self.models,
                "evaluation.judge.model",
                f"{judge.model!r} is not in `models` (without base_url the judge is served from a recipe model)",
            )
        return self

    @model_validator(mode="after")
    def _training_fits(self) -> Recipe:
        """Every student's run fits its GPUs by the memory plan (when the recipe states a cluster)."""
        from recipe_schema.training_plan import PlanProblem, check_students_fit

        try:
            check_students_fit(self)
        except PlanProblem as err:
            raise FieldProblem(err.where, str(err)) from None
        return self

    def _locations(self) -> list[tuple[str, str, tuple[str, int] | None]]:
        """(field path, location, (field, records it asks of the file) or None) of every data location."""
        found = []
        for key, src in self.queries.items():
            found.append((f"queries.{key}.location", src.location, ("size", src.size)))
            if src.references is not None:
                found.append((f"queries.{key}.references.location", src.references.location, None))
        for key, bench in self.evaluation.benchmarks.items():
            wanted = ("limit", bench.limit) if bench.limit is not None else None
            found.append((f"evaluation.benchmarks.{key}.location", bench.location, wanted))
        return found

    @model_validator(mode="after")
    def _locations_stay_inside_the_data_folder(self) -> Recipe:
        if not self.allow_absolute_paths:
            for where, location, _ in self._locations():
                if not location.startswith("hub:"):
                    parts = Path(location).parts
                    _require(
                        not Path(location).is_absolute() and ".." not in parts,
                        where,
                        f"{location!r} leaves the data folder: give a path inside it, or set "
                        "allow_absolute_paths: true",
                    )
        return self

    def check_files(self) -> None:
        """Local data files exist and hold at least the records the recipe asks of them (hub ids
        are checked when loaded)."""
        for where, location, wanted in self._locations():
            path = self.data_path(location)
            if path.startswith("hub:"):
                continue
            folder_of_csv = Path(path).is_dir() and any(Path(path).glob("*.csv"))  # HEx-PHI's layout
            _require(Path(path).is_file() or folder_of_csv, where, f"file not found: {path}")
            rows = _count_records(Path(path)) if wanted and not folder_of_csv else None
            if rows is not None:
                field, asked = wanted
                section = where.removesuffix(".location")
                _require(asked <= rows, f"{section}.{field}", f"{asked} asked of {path}, which holds {rows} records")


def _count_records(path: Path) -> int | None:
    """Records in a local data file as the loaders read them (None: a layout counted only when loaded)."""
    import polars as pl

    if path.suffix == ".jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    if path.suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
    if path.suffix == ".parquet":
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    if path.suffix == ".json":
        data = json.loads(path.read_bytes())
        return len(data) if isinstance(data, list) else None
    return None


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise FieldProblem(where, message)


# --- loading, with errors that name the field -------------------------------------------------


def parse_recipe(data: dict, *, check_files: bool = True) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError("a recipe is a YAML mapping")
    try:
        recipe = Recipe.model_validate(data)
        if check_files:
            recipe.check_files()
    except ValidationError as err:
        raise RecipeError("\n".join(_describe(e) for e in err.errors(include_url=False))) from None
    except FieldProblem as problem:
        raise RecipeError(f"{problem.where}: {problem}") from None
    return recipe


def load_recipe(path: str | Path, *, check_files: bool = True) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        return parse_recipe(read_yaml(path), check_files=check_files)
    except (RecipeError, YamlProblem) as err:
        raise RecipeError("\n".join(f"{path.name}: {line}" for line in str(err).splitlines())) from None


def _describe(error: dict) -> str:
    """One pydantic error as ``field.path: what is wrong (what is allowed)``."""
    loc = list(error["loc"])
    kind, ctx = error["type"], error.get("ctx") or {}
    message = error["msg"]
    if isinstance(ctx.get("error"), FieldProblem):
        problem = ctx["error"]
        loc += [p for p in problem.where.split(".") if p]
        message = str(problem)
    elif kind == "value_error":
        message = str(ctx.get("error", message))
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"unknown key{hint} (allowed: {', '.join(allowed)})"
    elif kind == "missing":
        message = "required field is missing"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = f"{error['input']!r} is out of range: must be {_allowed_range(loc, ctx)}"
    elif isinstance(error.get("input"), (str, int, float)):
        message = f"{message} (got {error['input']!r})"
    if "[key]" in loc:
        loc.remove("[key]")
        message = f"not a valid key: {message}"
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return f"{path or 'recipe'}: {message}"


def _section_at(loc: list) -> type[BaseModel]:
    """The model of the section at ``loc`` (walking dict values and optional sections)."""
    model: type[BaseModel] = Recipe
    for part in loc:
        if isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            nested = [
                a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if nested:
                model = nested[-1]
    return model


def _allowed_keys(loc: list) -> list[str]:
    return list(_section_at(loc).model_fields)


def _allowed_range(loc: list, ctx: dict) -> str:
    """A numeric field's bounds as an interval, e.g. ``in (0, 1]`` or ``>= -1`` (pydantic's error
    carries only the bound that failed)."""
    info = _section_at(loc[:-1]).model_fields.get(str(loc[-1]))
    bounds = {
        k: getattr(m, k) for m in (info.metadata if info else []) for k in ("gt", "ge", "lt", "le") if hasattr(m, k)
    }
    bounds = bounds or ctx
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]}"
    return "in range"
