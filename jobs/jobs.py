"""The study's jobs, one per partitioning of the graph, in the order a full materialization follows."""

from dagster import AssetSelection, define_asset_job

from assets.datasets import dataset_asset_name
from assets.evaluation import eval_asset_keys
from assets.partitions import run_partitions, shard_partitions
from recipe_schema.fields import DATASET_VARIANTS
from recipe_schema.recipe import Recipe

# The order a full materialization follows; each job covers one partitioning of the graph.
JOB_ORDER = (
    "models_job",
    "queries_job",
    "generation_job",
    "datasets_job",
    "training_job",
    "evaluation_job",
    "report_job",
)


def build_jobs(recipe: Recipe) -> list:
    return [
        define_asset_job(
            "models_job", AssetSelection.assets("base_models"), description="Model folders, one per partition."
        ),
        define_asset_job(
            "queries_job", AssetSelection.assets("raw_queries"), description="Sample the training queries."
        ),
        define_asset_job(
            "generation_job",
            AssetSelection.assets("teacher_traces", "verdicts"),
            partitions_def=shard_partitions(recipe),
            description="Generate and verify one shard of teacher traces.",
        ),
        define_asset_job(
            "datasets_job",
            AssetSelection.assets(*[dataset_asset_name(v) for v in DATASET_VARIANTS]),
            description="Build the four SFT dataset variants from all verified shards.",
        ),
        define_asset_job(
            "training_job",
            AssetSelection.assets("sft_run"),
            partitions_def=run_partitions(recipe),
            description="One SFT run (student x dataset).",
        ),
        define_asset_job(
            "evaluation_job",
            AssetSelection.assets(*eval_asset_keys(recipe)),
            description="Evaluate eval cells (a benchmark's asset at a checkpoint); each checkpoint's cells with "
            "one engine.",
        ),
        define_asset_job(
            "report_job", AssetSelection.assets("training_dynamics"), description="Training-dynamics report."
        ),
    ]
