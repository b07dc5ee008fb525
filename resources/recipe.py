"""The experiment recipe: one YAML file, validated here and nowhere else.

Every section is a typed dataclass; loading rejects unknown keys, wrong types, missing files and
impossible sizes with a message that names the offending field (``training.save_every: ...``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "STUDY_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the field."""


@dataclass
class ModelSpec:
    source: str = field(metadata={"help": "gguf-package | local | hub | tiny-config"})
    package: str | None = field(default=None, metadata={"help": "python package shipping the GGUF"})
    file: str | None = field(default=None, metadata={"help": "GGUF file inside the package"})
    path: str | None = field(default=None, metadata={"help": "local folder or hub id"})
    base: str | None = field(default=None, metadata={"help": "tiny-config: model whose tokenizer to reuse"})
    config: dict = field(default_factory=dict, metadata={"help": "tiny-config: architecture overrides"})
    dtype: str = "bfloat16"


@dataclass
class References:
    location: str = field(metadata={"help": "reference solutions (NuminaMath-1.5): hub:<id> or a data-folder path"})
    problem_field: str = "problem"
    solution_field: str = "solution"
    hub_config: str | None = None


@dataclass
class QuerySource:
    loader: str = field(metadata={"help": "math | countdown"})
    location: str = field(metadata={"help": "hub:<id> or a path relative to the data folder"})
    size: int = field(metadata={"help": "queries sampled from this source"})
    problem_field: str = "problem"
    answer_field: str = "answer"
    solution_field: str | None = None
    answer_format: str = "plain"
    hub_config: str | None = None
    references: References | None = field(
        default=None, metadata={"help": "match reference solutions by problem text (else solution_field)"}
    )


@dataclass
class Sampling:
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    min_p: float = 0.0
    max_new_tokens: int = 16384


@dataclass
class Teacher:
    backend: str = field(metadata={"help": "vllm | countdown-solver"})
    model: str | None = field(default=None, metadata={"help": "key in `models` (vllm backend)"})
    thinking_prompt: str = field(default="prefill", metadata={"help": "chat-template | prefill"})
    few_shot: bool = False
    max_model_len: int = 4096


@dataclass
class Generation:
    shards: int
    sampling: Sampling
    teachers: dict[str, Teacher] = field(metadata={"help": "query source -> teacher"})


@dataclass
class Training:
    students: list[str]
    datasets: list[str]
    learning_rate: float = 5e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    epochs: float = 8
    global_batch_size: int = 256
    per_device_batch_size: int = 1
    max_length: int = 20000
    bf16: bool = True
    gradient_checkpointing: bool = True
    save_every: int = 10


@dataclass
class Benchmark:
    location: str = field(metadata={"help": "hub:<id> or a path relative to the data folder"})
    kind: str = field(metadata={"help": "how items are loaded and scored (see BENCHMARK_KINDS)"})
    category: str = field(
        default="reasoning", metadata={"help": "reasoning | out-of-domain | safety: groups benchmarks in the analysis"}
    )
    n: int = 1
    limit: int | None = None
    hub_config: str | None = None
    hub_split: str = "test"
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "this benchmark's generation budget; default evaluation.sampling's"}
    )


@dataclass
class Judge:
    model: str = field(
        metadata={"help": "with base_url: the served model name; without: a key in `models`, served on this "
                  "machine by a vLLM server the evaluation starts for the run"}
    )
    base_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible server root incl. the version, e.g. https://host/v1"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "NAME of the environment variable holding the key ('' if none)"}
    )
    max_tokens: int = field(default=512, metadata={"help": "the judge's reply budget"})
    max_concurrency: int = 8
    max_model_len: int = field(default=4096, metadata={"help": "context of a judge server started locally"})


@dataclass
class Evaluation:
    benchmarks: dict[str, Benchmark]
    sampling: Sampling
    max_model_len: int = 40960
    judge: Judge | None = field(
        default=None, metadata={"help": "LLM judge (temperature 0) of safety-judge benchmarks"}
    )


@dataclass
class Decontamination:
    enabled: bool = True
    ngram: int = field(default=8, metadata={"help": "word n-gram length"})
    min_overlap: float = field(
        default=0.5, metadata={"help": "share of a query's n-grams found in one eval item that drops it"}
    )


@dataclass
class Recipe:
    name: str
    seed: int
    models: dict[str, ModelSpec]
    queries: dict[str, QuerySource]
    generation: Generation
    training: Training
    evaluation: Evaluation
    decontamination: Decontamination = field(default_factory=Decontamination)
    dataset_targets: dict[str, int] = field(
        default_factory=dict, metadata={"help": "dataset variant -> examples it should reach (a warning check)"}
    )
    data_dir: str | None = field(default=None, metadata={"help": f"data folder; default ${DATA_DIR_ENV}"})

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


DATASET_VARIANTS = ("math-cot", "math-nocot", "countdown-cot", "reference")
MODEL_SOURCES = ("gguf-package", "local", "hub", "tiny-config")
QUERY_LOADERS = ("math", "countdown")
TEACHER_BACKENDS = ("vllm", "countdown-solver")
BENCHMARK_CATEGORIES = ("reasoning", "out-of-domain", "safety")
# Each has a loader (workloads.benchmarks.LOADERS) and a scorer (workloads.scoring.SCORERS), except
# safety-judge, whose responses the recipe's LLM judge scores (workloads.judge).
BENCHMARK_KINDS = ("math", "multiple-choice", "countdown", "yes-no", "refusal", "ifeval", "safety-judge")


def run_name(student: str, dataset: str) -> str:
    return f"{student}__{dataset}"


# --- generic dataclass building with named errors --------------------------------------------


def _build(tp, value, where: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _build(options[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise RecipeError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(fields)})")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _build(hints[name], value[name], f"{where}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(f"{where}.{name}: required field is missing")
        return tp(**kwargs)
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {type(value).__name__}")
        return {str(k): _build(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise RecipeError(f"{where}: expected a list, got {type(value).__name__}")
        return [_build(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {type(value).__name__}")
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 5e-5 as a string
        except ValueError:
            pass
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise RecipeError(f"{where}: expected {tp.__name__}, got {type(value).__name__} ({value!r})")


def _check(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise RecipeError(f"{where}: {message}")


def validate(recipe: Recipe, *, check_files: bool = True) -> Recipe:
    """Cross-field rules the types alone can't express."""
    _check(recipe.seed >= 0, "seed", "must be >= 0")
    for key, model in recipe.models.items():
        _check(model.source in MODEL_SOURCES, f"models.{key}.source", f"must be one of {MODEL_SOURCES}")
        if model.source == "gguf-package":
            _check(bool(model.package and model.file), f"models.{key}", "gguf-package needs `package` and `file`")
        if model.source in ("local", "hub"):
            _check(bool(model.path), f"models.{key}.path", f"required for source {model.source}")
        if model.source == "tiny-config":
            _check(model.base in recipe.models, f"models.{key}.base", "must name another model in `models`")
    for key, src in recipe.queries.items():
        where = f"queries.{key}"
        _check(src.loader in QUERY_LOADERS, f"{where}.loader", f"must be one of {QUERY_LOADERS}")
        _check(src.size > 0, f"{where}.size", "must be > 0")
        _check(src.answer_format in ("plain", "gsm8k"), f"{where}.answer_format", "must be plain or gsm8k")
        for sub, location in (("location", src.location), ("references.location", src.references and src.references.location)):
            path = recipe.data_path(location) if location else "hub:"
            if check_files and not path.startswith("hub:"):
                _check(Path(path).is_file(), f"{where}.{sub}", f"file not found: {path}")
        if src.references is not None:
            _check(src.loader == "math", f"{where}.references", "reference solutions are for math sources")
    _check(recipe.decontamination.ngram > 0, "decontamination.ngram", "must be > 0")
    _check(0 < recipe.decontamination.min_overlap <= 1, "decontamination.min_overlap", "must be in (0, 1]")
    gen = recipe.generation
    _check(gen.shards > 0, "generation.shards", "must be > 0")
    total = sum(s.size for s in recipe.queries.values())
    _check(gen.shards <= total, "generation.shards", f"{gen.shards} shards for only {total} queries")
    _check(gen.sampling.n > 0, "generation.sampling.n", "must be > 0")
    _check(gen.sampling.max_new_tokens > 0, "generation.sampling.max_new_tokens", "must be > 0")
    _check(0 < gen.sampling.top_p <= 1, "generation.sampling.top_p", "must be in (0, 1]")
    for src, teacher in gen.teachers.items():
        where = f"generation.teachers.{src}"
        _check(src in recipe.queries, where, f"no query source named {src!r}")
        _check(teacher.backend in TEACHER_BACKENDS, f"{where}.backend", f"must be one of {TEACHER_BACKENDS}")
        if teacher.backend == "vllm":
            _check(teacher.model in recipe.models, f"{where}.model", "must name a model in `models`")
        if teacher.backend == "countdown-solver":
            _check(recipe.queries[src].loader == "countdown", f"{where}.backend", "the solver only answers countdown")
        _check(teacher.thinking_prompt in ("chat-template", "prefill"), f"{where}.thinking_prompt",
               "must be chat-template or prefill")
    for src in recipe.queries:
        _check(src in gen.teachers, f"generation.teachers.{src}", "every query source needs a teacher")
    tr = recipe.training
    _check(len(tr.students) > 0, "training.students", "name at least one student")
    for i, s in enumerate(tr.students):
        _check(s in recipe.models, f"training.students[{i}]", f"{s!r} is not in `models`")
    for i, d in enumerate(tr.datasets):
        _check(d in DATASET_VARIANTS, f"training.datasets[{i}]", f"must be one of {DATASET_VARIANTS}")
    for name in ("epochs", "global_batch_size", "per_device_batch_size", "max_length", "save_every", "learning_rate"):
        _check(getattr(tr, name) > 0, f"training.{name}", "must be > 0")
    _check(tr.global_batch_size % tr.per_device_batch_size == 0, "training.global_batch_size",
           "must be a multiple of per_device_batch_size")
    _check(0 <= tr.warmup_ratio < 1, "training.warmup_ratio", "must be in [0, 1)")
    for variant, target in recipe.dataset_targets.items():
        _check(variant in DATASET_VARIANTS, f"dataset_targets.{variant}", f"must be one of {DATASET_VARIANTS}")
        _check(target > 0, f"dataset_targets.{variant}", "must be > 0")
    ev = recipe.evaluation
    _check(len(ev.benchmarks) > 0, "evaluation.benchmarks", "name at least one benchmark")
    for key, bench in ev.benchmarks.items():
        where = f"evaluation.benchmarks.{key}"
        _check(bench.kind in BENCHMARK_KINDS, f"{where}.kind", f"must be one of {BENCHMARK_KINDS}")
        _check(bench.n > 0, f"{where}.n", "must be > 0")
        _check(bench.category in BENCHMARK_CATEGORIES, f"{where}.category", f"must be one of {BENCHMARK_CATEGORIES}")
        _check(bench.limit is None or bench.limit > 0, f"{where}.limit", "must be > 0")
        _check(bench.max_new_tokens is None or bench.max_new_tokens > 0, f"{where}.max_new_tokens", "must be > 0")
        path = recipe.data_path(bench.location)
        if check_files and not path.startswith("hub:"):
            _check(Path(path).is_file(), f"{where}.location", f"file not found: {path}")
        if bench.kind == "safety-judge":
            _check(ev.judge is not None, "evaluation.judge", f"{key} is a safety-judge benchmark: name the judge")
    if ev.judge is not None:
        _check(bool(ev.judge.base_url) or ev.judge.model in recipe.models, "evaluation.judge.model",
               f"{ev.judge.model!r} is not in `models` (without base_url the judge is served from a recipe model)")
        _check(ev.judge.max_tokens > 0, "evaluation.judge.max_tokens", "must be > 0")
        _check(ev.judge.max_concurrency > 0, "evaluation.judge.max_concurrency", "must be > 0")
    _check(ev.sampling.n == 1, "evaluation.sampling.n", "set samples per benchmark with benchmarks.<name>.n")
    return recipe


def parse_recipe(data: dict, *, check_files: bool = True) -> Recipe:
    return validate(_build(Recipe, data, "recipe"), check_files=check_files)


def load_recipe(path: str | Path, *, check_files: bool = True, overrides: dict | None = None) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping")
    if overrides:
        data = _merge(data, overrides)
    try:
        return parse_recipe(data, check_files=check_files)
    except RecipeError as err:
        raise RecipeError(f"{path.name}: {err}") from None


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
