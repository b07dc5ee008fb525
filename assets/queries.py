"""Raw training queries from every source of the recipe, sampled with a seed, with stable ids."""


import polars as pl
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, asset, asset_check

from assets.keys import Keys
from assets.metadata import preview
from resources.recipe import Recipe
from resources.storage import Storage
from workloads.queries import assign_shards, clean_and_sample, countdown_queries, math_queries, read_records


def load_source(recipe: Recipe, name: str) -> tuple[pl.DataFrame, dict[str, int]]:
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
    # Each source gets its own seed offset so sources of equal size don't pick the same rows.
    return clean_and_sample(table, size=src.size, seed=recipe.seed + sorted(recipe.queries).index(name))


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="queries",
        description="Training queries: query_id, source, problem, answer, solution, nums, target, split, shard.",
    )
    def raw_queries(context: AssetExecutionContext, storage: Storage) -> MaterializeResult:
        tables, metadata = [], {}
        for name in recipe.queries:
            table, counts = load_source(recipe, name)
            tables.append(table)
            metadata.update({f"{name}_{k}": v for k, v in counts.items()})
            context.log.info(f"{name}: {counts}")
        queries = assign_shards(pl.concat(tables), recipe.generation.shards)
        path = storage.write_table(keys.queries(), queries)
        return MaterializeResult(
            metadata={
                **metadata,
                "queries": queries.height,
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
