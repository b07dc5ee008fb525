"""Jobs of the study, one per partitioning of the graph; the sensor that evaluates new
checkpoints as training saves them; the schedule that re-evaluates missing or stale eval cells.
An eval run selects the benchmarks (eval assets) due at a checkpoint, so its cells share an engine."""

import json

from dagster import (
    AssetSelection,
    DagsterEventType,
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
from assets.evaluation import cell_definition, eval_asset_key, eval_asset_keys
from assets.keys import Keys
from assets.partitions import (
    BASE_STEP,
    CHECKPOINTS,
    cell_id,
    contiguous_groups,
    parse_checkpoint_key,
    planned_benchmarks,
    run_partitions,
    shard_partitions,
    split_cell_id,
)
from assets.training import read_manifest
from recipe_schema.recipe import DATASET_VARIANTS, Recipe
from resources.storage import Storage
from workloads.core.naming import checkpoint_key, content_hash

# The tag under which Dagster records a materialization's data version (indexed per partition).
DATA_VERSION_TAG = "dagster/data_version"

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


def cell_runs(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, merge_neighbours: bool = False
) -> list[tuple[list[str], list[str]]]:
    """(checkpoints, benchmarks) of each run that covers the due cells (checkpoint -> benchmarks):
    a run selects exactly the benchmarks due at its checkpoints, so no cell outside them is
    computed. Each checkpoint gets its own run, which the cluster runs in parallel up to the
    ``inference`` pool's limit; ``merge_neighbours`` lets neighbouring checkpoints (in registration
    order) with the same due benchmarks share a run instead, for a study materialized in one
    process, where runs are sequential anyway and a judge server then starts once."""
    order = list(recipe.evaluation.benchmarks)
    by_benchmarks: dict[tuple[str, ...], list[str]] = {}
    for checkpoint in registered:
        wanted = tuple(b for b in order if b in set(due.get(checkpoint, ())))
        if wanted:
            by_benchmarks.setdefault(wanted, []).append(checkpoint)
    runs = []
    for benchmarks, checkpoints in by_benchmarks.items():
        groups = contiguous_groups(registered, checkpoints) if merge_neighbours else [[c] for c in checkpoints]
        runs += [(group, list(benchmarks)) for group in groups]
    return runs


def cell_requests(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, reason: dict[str, str], run_key_suffix: str
) -> list[RunRequest]:
    """One run request per checkpoint, selecting its due benchmarks (see ``cell_runs``)."""
    return [
        RunRequest(
            run_key=f"{checkpoint}:{','.join(benchmarks)}:{run_key_suffix}",
            partition_key=checkpoint,
            asset_selection=[eval_asset_key(b) for b in benchmarks],
            tags={"cells": f"{checkpoint}: {reason[checkpoint]}"[:1000]},
        )
        for (checkpoint,), benchmarks in cell_runs(recipe, registered, due)
    ]


def materialized_cells(instance, recipe: Recipe) -> dict[str, int]:
    """``cell_id`` -> storage id of the latest materialization of every cell of the recipe's
    benchmarks, one query per benchmark."""
    return {
        cell_id(checkpoint, benchmark): storage_id
        for benchmark in recipe.evaluation.benchmarks
        for checkpoint, storage_id in instance.get_latest_storage_id_by_partition(
            eval_asset_key(benchmark), DagsterEventType.ASSET_MATERIALIZATION
        ).items()
    }


def latest_cell_versions(instance, recipe: Recipe, checkpoints: set[str]) -> dict[tuple[str, str], str | None]:
    """(checkpoint, benchmark) -> the cell definition each materialized cell at ``checkpoints`` is
    current under, in two queries per benchmark: the eval assets record it as the cells' data
    version, a tag the event log indexes per partition. Cells materialized otherwise map to None."""
    tags = {
        b: instance.event_log_storage.get_latest_tags_by_partition(
            eval_asset_key(b), DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG]
        )
        for b in recipe.evaluation.benchmarks
    }
    cells = (split_cell_id(cell) for cell in materialized_cells(instance, recipe))
    return {(c, b): tags[b].get(c, {}).get(DATA_VERSION_TAG) for c, b in cells if c in checkpoints}


def build_eval_refresh_schedule(recipe: Recipe):
    wanted = {b: cell_definition(recipe, b) for b in recipe.evaluation.benchmarks}

    @schedule(
        job_name="evaluation_job",
        cron_schedule="0 3 * * *",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly: requests every eval cell of the recipe's evaluation plan that is missing, or was "
        "computed under another definition of its benchmark (settings, protocol, scorer, judge or code "
        "version); one run per checkpoint. Cells outside the plan are left alone (backfill them by hand).",
    )
    def eval_refresh_schedule(context: ScheduleEvaluationContext):
        registered = context.instance.get_dynamic_partitions(CHECKPOINTS.name)
        runs = set(recipe.runs)
        planned = {c: planned_benchmarks(recipe, c) for c in registered if parse_checkpoint_key(c)[0] in runs}
        versions = latest_cell_versions(context.instance, recipe, set(planned))
        due, reason = {}, {}
        for checkpoint, benchmarks in planned.items():
            missing = [b for b in benchmarks if (checkpoint, b) not in versions]
            stale = [b for b in benchmarks if (checkpoint, b) in versions and versions[(checkpoint, b)] != wanted[b]]
            if missing or stale:
                due[checkpoint] = missing + stale
                reason[checkpoint] = "; ".join(
                    f"{label} {', '.join(bs)}" for label, bs in (("missing", missing), ("stale", stale)) if bs
                )
        suffix = content_hash(wanted)
        requests = cell_requests(recipe, registered, due, reason=reason, run_key_suffix=suffix)
        return requests or SkipReason("every planned eval cell is present and current")

    return eval_refresh_schedule


def build_checkpoint_sensor(recipe: Recipe):
    keys = Keys(recipe)

    @sensor(
        job_name="evaluation_job",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        description="Registers checkpoints that training runs announce in their manifests (also while "
        "still training) and requests the cells of the evaluation plan, one run per checkpoint. The cursor "
        "remembers what it has seen.",
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
        registered = context.instance.get_dynamic_partitions(CHECKPOINTS.name)
        known = set(registered)
        # The partitions are added when this result is processed, before its run requests are.
        registered = [*registered, *(k for k in found if k not in known)]
        due = {k: planned_benchmarks(recipe, k) for k in found}
        return SensorResult(
            run_requests=cell_requests(
                recipe, registered, due, reason=dict.fromkeys(found, "new checkpoint"), run_key_suffix="new"
            ),
            dynamic_partitions_requests=[CHECKPOINTS.build_add_request([k for k in found if k not in known])],
            cursor=json.dumps(sorted(seen | set(found))),
        )

    return new_checkpoints_sensor
