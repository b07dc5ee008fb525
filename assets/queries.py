"""Raw training queries from every source of the recipe: cleaned, decontaminated against the
recipe's benchmarks, sampled with a seed, with stable ids and (for math) reference solutions."""

import json

import polars as pl
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, asset, asset_check

from assets.keys import Keys
from assets.metadata import preview, table_metadata
from assets.versions import queries_version
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.data.decontamination import NgramIndex
from workloads.data.queries import (
    assign_shards,
    attach_references,
    clean_and_sample,
    countdown_queries,
    math_queries,
    read_records,
)
from workloads.evaluation.items import Layout
from workloads.evaluation.loading import benchmark_questions, load_benchmark
from workloads.evaluation.tasks.math_problems import gold_parsable
from workloads.verification.countdown_rule import solve_countdown


def benchmark_index(recipe: Recipe) -> NgramIndex | None:
    if not recipe.decontamination.enabled:
        return None
    index = NgramIndex(recipe.decontamination.ngram, recipe.decontamination.min_overlap)
    for name, bench in recipe.evaluation.benchmarks.items():
        index.add(
            name,
            benchmark_questions(
                recipe.data_path(bench.location),
                hub_config=bench.hub_config,
                hub_split=bench.hub_split,
                layout=Layout.from_settings(vars(bench)),
            ),
        )
    return index


def held_out_countdown_tasks(recipe: Recipe) -> set[tuple[tuple[int, ...], int]]:
    """The Countdown tasks the evaluation uses, as (sorted numbers, target): a training task equal to
    one of them is contamination (n-grams can't tell, every Countdown prompt is the same template)."""
    tasks = set()
    for bench in recipe.evaluation.benchmarks.values():
        if bench.kind == "countdown":
            items = load_benchmark(
                recipe.data_path(bench.location),
                "countdown",
                limit=bench.limit,
                seed=recipe.seed,
                hub_config=bench.hub_config,
                hub_split=bench.hub_split,
            )
            tasks |= {countdown_task(**json.loads(item.reference)) for item in items}
    return tasks


def countdown_task(nums, target) -> tuple[tuple[int, ...], int]:
    return tuple(sorted(int(n) for n in nums)), int(target)


def load_source(
    recipe: Recipe, name: str, index: NgramIndex | None, held_out: set = frozenset()
) -> tuple[pl.DataFrame, dict[str, float]]:
    src = recipe.queries[name]
    records = read_records(recipe.data_path(src.location), hub_config=src.hub_config)
    if src.loader == "countdown":
        table = countdown_queries(records, source=name)
    else:
        table = math_queries(
            records,
            source=name,
            problem_field=src.problem_field,
            answer_field=src.answer_field,
            solution_field=src.solution_field,
            answer_format=src.answer_format,
        )

    def reject(row: dict) -> str | None:
        if index is not None and index.match(row["problem"]):
            return "contaminated"
        if src.loader == "math" and not gold_parsable(row["answer"]):
            return "unparsable_answer"
        if src.loader == "countdown" and countdown_task(row["nums"], row["target"]) in held_out:
            return "contaminated"
        if src.loader == "countdown" and solve_countdown(row["nums"], row["target"]).equation is None:
            return "unsolvable"
        return None

    # Each source gets its own seed offset so sources of equal size don't pick the same rows.
    sample, counts = clean_and_sample(
        table, size=src.size, seed=recipe.seed + sorted(recipe.queries).index(name), reject=reject
    )
    if src.references is not None:
        ref = src.references
        references = read_records(recipe.data_path(ref.location), hub_config=ref.hub_config)
        sample, rate = attach_references(
            sample, references, problem_field=ref.problem_field, solution_field=ref.solution_field
        )
        counts["reference_match_rate"] = round(rate, 4)
    return sample, counts


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="queries",
        kinds={"polars", "parquet"},
        code_version=queries_version(recipe),
        description="Training queries: query_id, source, problem, answer, solution, nums, target, split, shard. "
        "Without an answer (math: one math-verify can parse; Countdown: a solvable task), duplicated, or "
        "overlapping an evaluation item: dropped and counted.",
    )
    def raw_queries(context: AssetExecutionContext, storage: Storage) -> MaterializeResult:
        index = benchmark_index(recipe)
        held_out = held_out_countdown_tasks(recipe) if recipe.decontamination.enabled else set()
        tables, metadata = [], {}
        for name in recipe.queries:
            table, counts = load_source(recipe, name, index, held_out)
            tables.append(table)
            metadata.update({f"{name}_{k}": v for k, v in counts.items()})
            context.log.info(f"{name}: {counts}")
        queries = assign_shards(pl.concat(tables), recipe.generation.shards)
        path = storage.write_table(keys.queries(), queries)
        return MaterializeResult(
            metadata={
                **metadata,
                **table_metadata(queries),
                "queries": queries.height,
                "decontamination": f"{recipe.decontamination.ngram}-gram overlap >= "
                f"{recipe.decontamination.min_overlap} with {', '.join(recipe.evaluation.benchmarks)}"
                if index
                else "off",
                "per_shard": str(queries.group_by("shard").len().sort("shard").rows()),
                "path": path,
                "preview": preview(queries.select("query_id", "source", "problem", "answer", "shard")),
            }
        )

    @asset_check(asset=raw_queries, description="Query ids are unique (they key every join downstream).")
    def raw_queries_unique_ids(storage: Storage) -> AssetCheckResult:
        ids = storage.read_table(keys.queries())["query_id"]
        duplicates = ids.len() - ids.n_unique()
        return AssetCheckResult(passed=duplicates == 0, metadata={"duplicates": duplicates})

    return [raw_queries, raw_queries_unique_ids]
