"""The recipe's sections below the top level, except training (recipe_schema.training): each a
pydantic model that forbids unknown keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StrictInt, model_validator

from recipe_schema.errors import FieldProblem
from recipe_schema.fields import (
    COMPUTE_DTYPE_HELP,
    INT32_MAX,
    AnswerFormat,
    BenchmarkCategory,
    BenchmarkKind,
    ComputeDtype,
    Count,
    Identifier,
    Location,
    ModelSource,
    QueryLoader,
    Samples,
    Section,
    TeacherBackend,
    Tokens,
    hub_id,
)

# The judge's key: a variable whose name says it is an API key for a model provider.
_API_KEY_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*_API_KEY")
# Prefixes of the platform's own credentials, which are never a judge's key.
_NOT_JUDGE_KEYS = ("AWS_", "AZURE_STORAGE_", "GOOGLE_CLOUD_", "GCP_", "DAGSTER_", "HF_", "KUBERNETES_")
_PYTHON_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class ModelSpec(Section):
    source: ModelSource = Field(description="where the weights come from")
    package: str | None = Field(None, description="gguf-package: python package shipping the GGUF")
    file: str | None = Field(None, description="gguf-package: GGUF file inside the package")
    path: str | None = Field(None, description="local: a folder in the data folder; hub: a hub id")
    base: str | None = Field(None, description="tiny-config: model whose tokenizer to reuse")
    config: dict = Field(default_factory=dict, description="tiny-config: architecture overrides")
    dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="weights' dtype")

    @model_validator(mode="after")
    def _source_settings(self) -> ModelSpec:
        if self.source == "gguf-package" and not (self.package and self.file):
            raise FieldProblem("", "gguf-package needs `package` and `file`")
        if self.source == "gguf-package":
            if not _PYTHON_PACKAGE.fullmatch(self.package):
                raise FieldProblem("package", f"{self.package!r} is not a Python package name")
            # The file is looked up inside the package's folder and must stay there.
            if Path(self.file).is_absolute() or ".." in Path(self.file).parts or not self.file.strip():
                raise FieldProblem("file", f"{self.file!r} is not a file name inside the package")
        if self.source in ("local", "hub") and not self.path:
            raise FieldProblem("path", f"required for source {self.source}")
        if self.source == "hub":
            try:
                hub_id(self.path)
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
    n: Samples = Field(1, description="samples per prompt")
    temperature: float = Field(0.6, ge=0, le=5, description="0 is greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: StrictInt = Field(20, ge=-1, le=INT32_MAX, description="-1 disables top-k")
    min_p: float = Field(0.0, ge=0, le=1)
    max_new_tokens: Tokens = 16384


class Teacher(Section):
    backend: TeacherBackend
    model: str | None = Field(None, description="key in `models` (vllm backend)")
    thinking_prompt: Literal["chat-template", "prefill"] = "prefill"
    few_shot: bool = False
    max_model_len: Tokens = 4096
    dtype: ComputeDtype = Field("auto", description=f"vllm backend's compute dtype; {COMPUTE_DTYPE_HELP}")


class Generation(Section):
    shards: Count
    sampling: Sampling
    teachers: dict[Identifier, Teacher] = Field(description="query source -> teacher")


class CheckpointPlan(Section):
    """Which saved checkpoints a benchmark is evaluated on (workloads.planning.eval_plan); the base model
    and a run's last checkpoint are always in."""

    every: Count = Field(1, description="every k-th saved checkpoint (1: all of them)")
    dense_until: StrictInt | None = Field(
        None, ge=0, le=INT32_MAX, description="every checkpoint up to this step, then every k-th (the dip comes early)"
    )
    steps: list[Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]] | None = Field(
        None, description="an explicit list of steps instead of every/dense_until"
    )

    @model_validator(mode="after")
    def _one_way(self) -> CheckpointPlan:
        if self.steps is not None and (self.every != 1 or self.dense_until is not None):
            raise FieldProblem("steps", "an explicit list replaces every/dense_until: give one or the other")
        return self


class Benchmark(Section):
    location: Location = Field(description="hub:<id> or a path relative to the data folder")
    kind: BenchmarkKind = Field(description="how items are loaded and scored")
    category: BenchmarkCategory = Field("reasoning", description="groups benchmarks in the analysis")
    n: Samples = Field(1, description="samples per item")
    limit: Count | None = Field(None, description="a seeded subset of this many items (seed: the recipe's)")
    checkpoints: CheckpointPlan | None = Field(
        None, description="the checkpoints this benchmark is evaluated on; default evaluation.checkpoints"
    )
    hub_config: str | None = None
    hub_split: str = "test"
    max_new_tokens: Tokens | None = Field(
        None, description="this benchmark's generation budget; default evaluation.sampling's"
    )
    stop: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="stop sequences of its protocol: a response ends before the first of them (mmlu-pro: "
        "'Question:', where a base model goes on to invent the next question, as MMLU-Pro's harness stops)",
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
    max_tokens: Tokens = Field(512, description="the judge's reply budget")
    max_concurrency: Samples = Field(8, description="judge requests in flight at once")
    max_model_len: Tokens = Field(4096, description="context of a judge server started locally")

    @model_validator(mode="after")
    def _where_the_key_goes(self) -> Judge:
        # The key is sent to base_url: a recipe must not turn the judge into a way to send any
        # variable of the orchestrator's environment (a storage secret) to any address.
        if self.api_key_env and (
            not _API_KEY_VARIABLE.fullmatch(self.api_key_env) or self.api_key_env.startswith(_NOT_JUDGE_KEYS)
        ):
            raise FieldProblem(
                "api_key_env",
                f"{self.api_key_env!r}: the judge's key comes from a variable named <PROVIDER>_API_KEY (upper case, "
                f"e.g. OPENAI_API_KEY), not one of {', '.join(p + '*' for p in _NOT_JUDGE_KEYS)}; '' for no key",
            )
        if self.base_url is not None:
            url = urlsplit(self.base_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise FieldProblem("base_url", f"{self.base_url!r} is not an http(s) URL with a host")
            if url.username is not None or url.password is not None:
                raise FieldProblem("base_url", "holds credentials: give the key through api_key_env instead")
        return self


class Evaluation(Section):
    benchmarks: dict[Identifier, Benchmark] = Field(min_length=1)
    sampling: Sampling
    max_model_len: Tokens = 40960
    dtype: ComputeDtype = Field("auto", description=f"compute dtype of the evaluation engine; {COMPUTE_DTYPE_HELP}")
    judge: Judge | None = Field(None, description="LLM judge (temperature 0) of safety-judge benchmarks")
    checkpoints: CheckpointPlan = Field(
        default_factory=CheckpointPlan, description="the evaluation plan's checkpoints for every benchmark"
    )

    refine_max_cells: StrictInt = Field(
        0,
        ge=0,
        le=INT32_MAX,
        description="cells the refinement sensor may add around dips and recoveries, in all (0: none)",
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
    ngram: Annotated[StrictInt, Field(gt=0, le=64)] = Field(8, description="word n-gram length")
    min_overlap: float = Field(
        0.5, gt=0, le=1, description="share of a query's n-grams found in one eval item that drops it"
    )
