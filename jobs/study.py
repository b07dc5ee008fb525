"""Jobs of the study, one per partitioning of the graph; the sensor that evaluates new
checkpoints as training saves them; the schedule that re-evaluates missing or stale eval cells.
Eval runs target ranges of cells (checkpoint x benchmark) so a checkpoint's cells share an engine."""


import json

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from assets.datasets import dataset_asset_name
from assets.evaluation import eval_code_version
from assets.keys import Keys
from assets.partitions import (
    BASE_STEP,
    CHECKPOINTS,
    cell_key,
    cell_range_tags,
    contiguous_groups,
    recipe_checkpoints,
    run_partitions,
    shard_partitions,
)
from assets.training import read_manifest
from resources.recipe import DATASET_VARIANTS, Recipe
from resources.storage import Storage
from workloads.train import checkpoint_key

# The tag under which Dagster records the code version an asset was materialized with.
CODE_VERSION_TAG = "dagster/code_version"

# The order a full materialization follows; each job covers one partitioning of the graph.
JOB_ORDER = ("models_job", "queries_job", "generation_job", "datasets_job", "training_job", "evaluation_job", "report_job")


def build_jobs(recipe: Recipe) -> list:
    return [
        define_asset_job("models_job", AssetSelection.assets("base_models"), description="Model folders, one per partition."),
        define_asset_job("queries_job", AssetSelection.assets("raw_queries"), description="Sample the training queries."),
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
            AssetSelection.assets("eval_cells"),
            description="Evaluate eval cells (checkpoint x benchmark); each checkpoint's cells with one engine.",
        ),
        define_asset_job("report_job", AssetSelection.assets("training_dynamics"), description="Training-dynamics report."),
    ]


def cell_requests(recipe: Recipe, instance, due: dict[str, list[str]], *, reason: dict[str, str], run_key_suffix: str) -> list[RunRequest]:
    """Run requests covering the due cells (checkpoint -> benchmarks): neighbouring checkpoints
    with the same span of benchmarks share a run. A span may include current cells between
    due ones; the asset reuses those instead of recomputing them."""
    order = list(recipe.evaluation.benchmarks)
    spans = {c: (min(order.index(b) for b in bs), max(order.index(b) for b in bs)) for c, bs in due.items() if bs}
    registered = instance.get_dynamic_partitions(CHECKPOINTS.name)
    requests = []
    for span in sorted(set(spans.values())):
        chosen = [c for c, s in spans.items() if s == span]
        for group in contiguous_groups(registered, chosen):
            benchmarks = [order[span[0]], order[span[1]]]
            requests.append(RunRequest(
                run_key=f"{group[0]}..{group[-1]}:{benchmarks[0]}..{benchmarks[1]}:{run_key_suffix}",
                tags={**cell_range_tags(recipe, group[0], group[-1], benchmarks),
                      "cells": ", ".join(f"{c}: {reason[c]}" for c in group)[:1000]},
            ))
    return requests


def build_eval_refresh_schedule(recipe: Recipe):
    wanted = eval_code_version(recipe)

    @schedule(
        job_name="evaluation_job",
        cron_schedule="0 3 * * *",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly: requests every eval cell of the recipe that is missing, or was computed under "
        "another eval definition (benchmarks, protocol, scorer, judge or code version).",
    )
    def eval_refresh_schedule(context: ScheduleEvaluationContext):
        due, reason = {}, {}
        for checkpoint in recipe_checkpoints(context.instance, recipe):
            for benchmark in recipe.evaluation.benchmarks:
                records = context.instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=AssetKey("eval_cells"),
                                       asset_partitions=[str(cell_key(checkpoint, benchmark))]), limit=1
                ).records
                version = records[0].asset_materialization.tags.get(CODE_VERSION_TAG) if records else None
                if version != wanted:
                    due.setdefault(checkpoint, []).append(benchmark)
                    reason[checkpoint] = "missing" if not records else f"stale ({version} -> {wanted})"
        requests = cell_requests(recipe, context.instance, due, reason=reason, run_key_suffix=wanted)
        return requests or SkipReason("every eval cell is present and current")

    return eval_refresh_schedule


def build_checkpoint_sensor(recipe: Recipe):
    keys = Keys(recipe)

    @sensor(
        job_name="evaluation_job",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Registers checkpoints that training runs announce in their manifests (also while "
        "still training) and requests their evaluation. The cursor remembers what it has seen.",
    )
    def new_checkpoints_sensor(context: SensorEvaluationContext, storage: Storage) -> SensorResult:
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        found = []
        for run in recipe.runs:
            records = read_manifest(storage, keys.manifest(run))
            # Once a run has saved anything, its base model (step 0) is due for evaluation too.
            steps = [BASE_STEP] + [r["step"] for r in records] if records else []
            found += [k for k in (checkpoint_key(run, s) for s in steps) if k not in seen]
        if not found:
            return SensorResult(skip_reason="no new checkpoints")
        known = set(context.instance.get_dynamic_partitions(CHECKPOINTS.name))
        # The partitions are added when this result is processed, before its run requests are.
        return SensorResult(
            run_requests=[
                RunRequest(run_key=k, tags={**cell_range_tags(recipe, k, k), "cells": f"{k}: new checkpoint"})
                for k in found
            ],
            dynamic_partitions_requests=[CHECKPOINTS.build_add_request([k for k in found if k not in known])],
            cursor=json.dumps(sorted(seen | set(found))),
        )

    return new_checkpoints_sensor
