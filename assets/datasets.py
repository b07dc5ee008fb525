"""The four SFT dataset variants, built from every shard's verified traces, each exported as a
Hugging Face datasets folder (parquet + dataset card) with checks that guard training."""

import tempfile
from functools import partial
from pathlib import Path

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
from assets.partitions import shard_keys
from assets.versions import datasets_version
from recipe_schema.fields import DATASET_VARIANTS
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.core.artifacts import TOKENIZER_FILES, local_folder
from workloads.data.sft_data import (
    TRACE_VARIANTS,
    build_variants,
    dataset_card,
    thinking_format_errors,
    unverified_examples,
)
from workloads.evaluation.registry import verifier_version

DESCRIPTIONS = {
    "math-cot": "Math queries with one verified teacher response each, thinking kept (Math-CoT).",
    "math-nocot": "Math-CoT with the thinking removed: only the final answer text (Math-NoCoT).",
    "countdown-cot": "Countdown tasks with one verified response each, thinking kept (Countdown-CoT).",
    "reference": "The Math-CoT queries with their reference solutions as responses (NuminaMath's role).",
}


def dataset_asset_name(variant: str) -> str:
    return f"{variant.replace('-', '_')}_dataset"


def count_tokens(table: pl.DataFrame, tokenizer) -> pl.DataFrame:
    """Each example's length in tokens of its rendered chat. ``return_dict=True`` asks for the
    encoding explicitly (transformers 5 returns one by default, whose ``len()`` counts its keys),
    and the count is that of its ``input_ids``."""
    counts = [
        len(tokenizer.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"])
        for m in table["messages"].to_list()
    ]
    return table.with_columns(tokens=pl.Series(counts, dtype=pl.Int64))


def _check_specs(recipe: Recipe, variant: str) -> list[AssetCheckSpec]:
    name = dataset_asset_name(variant)
    trained = variant in recipe.training.datasets
    specs = [
        AssetCheckSpec(
            "not_empty",
            asset=name,
            blocking=trained,
            description="A dataset a training run consumes must have examples (fails and blocks training if not)."
            if trained
            else "Warns when empty; no training run of this recipe consumes this dataset.",
        ),
        AssetCheckSpec("unique_query_ids", asset=name, description="One example per query."),
        AssetCheckSpec(
            "thinking_format",
            asset=name,
            description="CoT examples hold exactly one closed <think> block; NoCoT and reference examples none.",
        ),
    ]
    if variant in TRACE_VARIANTS:
        specs.append(
            AssetCheckSpec(
                "every_example_verified", asset=name, description="Each example's trace sample has a correct verdict."
            )
        )
    if variant in recipe.dataset_targets:
        specs.append(
            AssetCheckSpec("meets_target", asset=name, description="Reaches the recipe's target size (warns).")
        )
    return specs


def _per_example_check(name: str, check: str, table: pl.DataFrame, failures, label: str) -> AssetCheckResult:
    """A check over every example; on an empty table it passes and says there was nothing to check
    (``failures`` is called only when there are examples)."""
    if table.height == 0:
        return AssetCheckResult(
            asset_key=name,
            check_name=check,
            passed=True,
            description="nothing to check: 0 examples",
            metadata={"examples": 0},
        )
    bad = failures()
    return AssetCheckResult(
        asset_key=name,
        check_name=check,
        passed=bad == 0,
        description=f"{bad} of {table.height} examples {label}" if bad else None,
        metadata={"examples": table.height, label.replace(" ", "_"): bad},
    )


def _check_results(recipe: Recipe, variant: str, table: pl.DataFrame, verdicts: pl.DataFrame) -> list[AssetCheckResult]:
    name = dataset_asset_name(variant)
    trained = variant in recipe.training.datasets
    results = [
        AssetCheckResult(
            asset_key=name,
            check_name="not_empty",
            passed=table.height > 0,
            severity=AssetCheckSeverity.ERROR if trained else AssetCheckSeverity.WARN,
            description=None if table.height or trained else "empty; no training run of this recipe consumes it",
            metadata={"examples": table.height},
        ),
        AssetCheckResult(
            asset_key=name, check_name="unique_query_ids", passed=table["query_id"].n_unique() == table.height
        ),
        _per_example_check(
            name, "thinking_format", table, lambda: thinking_format_errors(table, variant), "badly formatted"
        ),
    ]
    if variant in TRACE_VARIANTS:
        unverified = partial(unverified_examples, table, verdicts)
        results.append(_per_example_check(name, "every_example_verified", table, unverified, "unverified"))
    if variant in recipe.dataset_targets:
        target = recipe.dataset_targets[variant]
        results.append(
            AssetCheckResult(
                asset_key=name,
                check_name="meets_target",
                passed=table.height >= target,
                severity=AssetCheckSeverity.WARN,
                metadata={"examples": table.height, "target": target},
            )
        )
    return results


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    all_partitions = AllPartitionMapping()
    code_version = datasets_version(recipe)
    specs = [
        AssetSpec(
            dataset_asset_name(v),
            group_name="datasets",
            kinds={"huggingface", "parquet"},
            code_version=code_version,
            description=DESCRIPTIONS[v],
            deps=[
                "raw_queries",
                AssetDep("teacher_traces", partition_mapping=all_partitions),
                AssetDep("verdicts", partition_mapping=all_partitions),
                AssetDep("base_models", partition_mapping=all_partitions),
            ],
        )
        for v in DATASET_VARIANTS
    ]
    checks = [spec for v in DATASET_VARIANTS for spec in _check_specs(recipe, v)]

    @multi_asset(specs=specs, check_specs=checks, can_subset=False)
    def sft_datasets(context: AssetExecutionContext, storage: Storage):
        from transformers import AutoTokenizer  # heavy (torch): imported only when the datasets are built

        traces = pl.concat([storage.read_table(keys.traces(s)) for s in shard_keys(recipe)])
        verdicts = pl.concat([storage.read_table(keys.verdicts(s)) for s in shard_keys(recipe)])
        queries = storage.read_table(keys.queries())
        loaders = {name: src.loader for name, src in recipe.queries.items()}
        variants = build_variants(queries, traces, verdicts, loaders=loaders, seed=recipe.seed)
        with tempfile.TemporaryDirectory() as scratch:  # the tokenizer files only, not the weights
            folder = local_folder(
                storage.uri(keys.model(recipe.training.students[0])), Path(scratch), only=TOKENIZER_FILES
            )
            tokenizer = AutoTokenizer.from_pretrained(folder)
        provenance = {
            "recipe": recipe.name,
            "query sources": ", ".join(f"{n} ({s.location}, {s.size})" for n, s in recipe.queries.items()),
            "selection": f"verified correct, thinking closed, one per query by a draw seeded {recipe.seed}",
            "verifiers": ", ".join(sorted({verifier_version(k) for k in loaders.values()})),
            "decontamination": f"{recipe.decontamination.ngram}-gram overlap >= {recipe.decontamination.min_overlap}"
            if recipe.decontamination.enabled
            else "off",
        }
        for variant, table in variants.items():
            table = count_tokens(table, tokenizer)
            path = storage.write_table(keys.dataset(variant), table)
            card = dataset_card(variant, table, description=DESCRIPTIONS[variant], provenance=provenance)
            storage.write_bytes(keys.dataset_card(variant), card.encode())
            if table.height == 0:
                context.log.warning(f"{variant} is empty: no verified response survived for its sources")
            yield MaterializeResult(
                asset_key=dataset_asset_name(variant),
                metadata={
                    "examples": table.height,
                    "path": path,
                    **{f"tokens_{k}": v for k, v in percentiles(table["tokens"]).items()},
                    "preview": preview(
                        table.select(
                            "example_id", pl.col("messages").list.last().struct.field("content").alias("response")
                        )
                    ),
                },
            )
            yield from _check_results(recipe, variant, table, verdicts)

    return [sft_datasets]
