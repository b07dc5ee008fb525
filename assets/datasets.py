"""The four SFT dataset variants, built from every shard's verified traces."""


import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    multi_asset,
)

from assets.keys import Keys
from assets.metadata import percentiles, preview
from assets.partitions import shard_key
from resources.recipe import DATASET_VARIANTS, Recipe
from resources.storage import Storage
from workloads.sft_data import build_variants

DESCRIPTIONS = {
    "math-cot": "Math queries with one verified teacher response each, thinking kept (Math-CoT).",
    "math-nocot": "Math-CoT with the thinking removed: only the final answer text (Math-NoCoT).",
    "countdown-cot": "Countdown tasks with one verified response each, thinking kept (Countdown-CoT).",
    "reference": "The Math-CoT queries with their reference solutions as responses (NuminaMath's role).",
}


def dataset_asset_name(variant: str) -> str:
    return f"{variant.replace('-', '_')}_dataset"


def _count_tokens(table: pl.DataFrame, tokenizer) -> pl.DataFrame:
    counts = [len(tokenizer.apply_chat_template(m, tokenize=True)) for m in table["messages"].to_list()]
    return table.with_columns(tokens=pl.Series(counts, dtype=pl.Int64))


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    all_shards = AllPartitionMapping()
    specs = [
        AssetSpec(
            dataset_asset_name(v),
            group_name="datasets",
            description=DESCRIPTIONS[v],
            deps=[
                "raw_queries",
                AssetDep("teacher_traces", partition_mapping=all_shards),
                AssetDep("verdicts", partition_mapping=all_shards),
                AssetDep("base_models", partition_mapping=AllPartitionMapping()),
            ],
        )
        for v in DATASET_VARIANTS
    ]
    checks = [
        spec
        for v in DATASET_VARIANTS
        for spec in (
            AssetCheckSpec(
                "not_empty",
                asset=dataset_asset_name(v),
                blocking=v in recipe.training.datasets,
                description="A dataset a training run consumes must have examples (blocks training if not).",
            ),
            AssetCheckSpec("unique_query_ids", asset=dataset_asset_name(v), description="One example per query."),
        )
    ]

    @multi_asset(specs=specs, check_specs=checks, can_subset=False)
    def sft_datasets(context: AssetExecutionContext, storage: Storage):
        from transformers import AutoTokenizer

        shard_keys = [shard_key(i) for i in range(recipe.generation.shards)]
        traces = pl.concat([storage.read_table(keys.traces(s)) for s in shard_keys])
        verdicts = pl.concat([storage.read_table(keys.verdicts(s)) for s in shard_keys])
        queries = storage.read_table(keys.queries())
        loaders = {name: src.loader for name, src in recipe.queries.items()}
        variants = build_variants(queries, traces, verdicts, loaders=loaders, seed=recipe.seed)
        tokenizer = AutoTokenizer.from_pretrained(storage.uri(keys.model(recipe.training.students[0])))
        for variant, table in variants.items():
            table = _count_tokens(table, tokenizer)
            path = storage.write_table(keys.dataset(variant), table)
            name = dataset_asset_name(variant)
            yield MaterializeResult(
                asset_key=name,
                metadata={
                    "examples": table.height,
                    "path": path,
                    **{f"tokens_{k}": v for k, v in percentiles(table["tokens"]).items()},
                    "preview": preview(
                        table.select("example_id", pl.col("messages").list.last().struct.field("content").alias("response"))
                    ),
                },
            )
            if table.height == 0:
                context.log.warning(f"{variant} is empty: no verified response survived for its sources")
            yield AssetCheckResult(
                asset_key=name,
                check_name="not_empty",
                passed=table.height > 0,
                severity=AssetCheckSeverity.ERROR,
                metadata={"examples": table.height},
            )
            yield AssetCheckResult(
                asset_key=name,
                check_name="unique_query_ids",
                passed=table["query_id"].n_unique() == table.height,
            )

    return [sft_datasets]
