"""Code versions of the assets, derived from what computes them: the recipe settings an asset reads
and the code of the program (or functions) that computes it. A recipe change to sampling marks
the teacher traces stale in the UI, a change to training the training runs, and nothing else
upstream; a change to a program's code does the same for what that program computes.

The eval cells' versions are their cell definitions (``assets.evaluation.cell_definition``).
"""

import ast
import functools
import importlib
import importlib.util
from pathlib import Path

from recipe_schema.recipe import Recipe
from workloads.analysis.dynamics import analyse, headline, under_optimized_warnings
from workloads.core.code_version import code_digest
from workloads.core.naming import content_hash
from workloads.data.decontamination import NgramIndex
from workloads.data.queries import (
    assign_shards,
    attach_references,
    clean_and_sample,
    countdown_queries,
    math_queries,
    read_records,
)
from workloads.data.sft_data import build_variants, dataset_card, thinking_format_errors, unverified_examples
from workloads.evaluation.loading import benchmark_questions, load_benchmark
from workloads.evaluation.registry import verifier_version
from workloads.evaluation.tasks.math_problems import gold_parsable
from workloads.verification.countdown_rule import solve_countdown

# Benchmark settings that say how its items are sampled and answered, not which items exist: the
# training queries are decontaminated against the items, so only the others count for them.
SAMPLING_ONLY = {"n", "max_new_tokens", "checkpoints", "category"}


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


@functools.cache  # code does not change within a process; digests cost a second or two each
def program_digest(module: str) -> str:
    """A program's code: its own module's syntax tree (read from its file, not imported: a program
    may import torch at its top, which the orchestrator need not have) and ``code_digest`` of every
    project name it imports, transitively."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"program {module!r} not found: its code version cannot be derived")
    tree = ast.parse(Path(spec.origin).read_text())
    imported = [
        getattr(importlib.import_module(node.module), alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "workloads"
        for alias in node.names
    ]
    return content_hash([_without_docstrings(tree), code_digest(*imported)])


def version(settings, *code: str) -> str:
    """An asset's code version: the recipe settings it reads (JSON-able) and digests of its code."""
    return content_hash({"settings": settings, "code": list(code)})


def models_version(recipe: Recipe) -> str:
    return version(
        {n: m.model_dump() for n, m in recipe.models.items()}, program_digest("workloads.programs.prepare_model")
    )


def queries_version(recipe: Recipe) -> str:
    decontamination = recipe.decontamination
    settings = {
        "queries": {n: q.model_dump() for n, q in recipe.queries.items()},
        "shards": recipe.generation.shards,
        "seed": recipe.seed,
        "decontamination": decontamination.model_dump(),
        "against": {n: b.model_dump(exclude=SAMPLING_ONLY) for n, b in recipe.evaluation.benchmarks.items()}
        if decontamination.enabled
        else None,
    }
    return version(settings, _queries_code())


@functools.cache
def _queries_code() -> str:
    return code_digest(
        NgramIndex,
        assign_shards,
        attach_references,
        clean_and_sample,
        countdown_queries,
        math_queries,
        read_records,
        benchmark_questions,
        load_benchmark,
        gold_parsable,
        solve_countdown,
    )


def traces_version(recipe: Recipe) -> str:
    generation = recipe.generation
    settings = {
        "sampling": generation.sampling.model_dump(),
        "teachers": {n: t.model_dump() for n, t in generation.teachers.items()},
        "loaders": {n: q.loader for n, q in recipe.queries.items()},
    }
    return version(settings, program_digest("workloads.programs.generate"))


def verdicts_version(recipe: Recipe) -> str:
    """The verifier versions of the recipe's query sources (each covers its rule's code and library)
    and the verify program: a new one makes every shard's verdicts stale, not its traces."""
    verifiers = sorted({verifier_version(q.loader) for q in recipe.queries.values()})
    return version(verifiers, program_digest("workloads.programs.verify"))


def datasets_version(recipe: Recipe) -> str:
    settings = {
        "seed": recipe.seed,
        "name": recipe.name,  # the dataset cards' provenance names the recipe, its sources and decontamination
        "sources": {n: q.model_dump(include={"loader", "location", "size"}) for n, q in recipe.queries.items()},
        "decontamination": recipe.decontamination.model_dump(),
        "tokenizer": recipe.training.students[0],  # token counts use the first student's tokenizer
    }
    return version(settings, _datasets_code())


@functools.cache
def _datasets_code() -> str:
    return code_digest(build_variants, dataset_card, thinking_format_errors, unverified_examples)


def training_version(recipe: Recipe) -> str:
    """The training settings a run reads; not which students and datasets there are (those are the
    partitions: adding one adds runs, it changes none)."""
    settings = {"training": recipe.training.model_dump(exclude={"students", "datasets"}), "seed": recipe.seed}
    return version(settings, program_digest("workloads.programs.train"))


def analysis_version(recipe: Recipe) -> str:
    """The training-dynamics analysis: its seed (bootstrap), the benchmarks' categories it groups by,
    and the analysis code."""
    settings = {"seed": recipe.seed, "categories": {n: b.category for n, b in recipe.evaluation.benchmarks.items()}}
    return version(settings, _analysis_code())


@functools.cache
def _analysis_code() -> str:
    return code_digest(analyse, headline, under_optimized_warnings)
