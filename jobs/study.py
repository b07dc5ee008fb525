"""Jobs of the study, one per partitioning of the graph; the sensor that evaluates new
checkpoints as training saves them; the schedule that re-evaluates missing or stale eval cells.
Eval runs target ranges of cells (checkpoint x benchmark) so a checkpoint's cells share an engine."""

import json

from dagster import (
    AssetKey,
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
from assets.evaluation import eval_code_version
from assets.keys import Keys
from assets.partitions import (
    BASE_STEP,
    CHECKPOINTS,
    cell_key,
    cell_range_tags,
    contiguous_groups,
    parse_checkpoint_key,
    planned_benchmarks,
    run_partitions,
    shard_partitions,
)
from assets.training import read_manifest
from resources.recipe import DATASET_VARIANTS, Recipe
from resources.storage import Storage
from workloads.naming import checkpoint_key

# The tag under which Dagster records a materialization's data version (indexed per partition).
DATA_VERSION_TAG = "dagster/data_version"

EVAL_CELLS = AssetKey("eval_cells")

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
            AssetSelection.assets("eval_cells"),
            description="Evaluate eval cells (checkpoint x benchmark); each checkpoint's cells with one engine.",
        ),
        define_asset_job(
            "report_job", AssetSelection.assets("training_dynamics"), description="Training-dynamics report."
        ),
    ]


def cell_runs(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, merge_neighbours: bool = False
) -> list[tuple[list[str], tuple[str, str]]]:
    """(checkpoints, (first, last benchmark)) of each run that covers the due cells (checkpoint ->
    benchmarks). A span never crosses a benchmark that is neither planned nor due at that
    checkpoint, so no unplanned cell is computed; planned cells inside a span that are current
    are reused by the asset. Each checkpoint gets its own runs, which the cluster runs in
    parallel up to the ``inference`` pool's limit; ``merge_neighbours`` lets neighbouring
    checkpoints (in registration order) with the same span share a run instead, for a study
    materialized in one process, where runs are sequential anyway and a judge server then starts once."""
    order = list(recipe.evaluation.benchmarks)
    by_span: dict[tuple[str, str], list[str]] = {}
    for checkpoint in registered:
        wanted = set(due.get(checkpoint, ()))
        if not wanted:
            continue
        for group in contiguous_groups(order, wanted | set(planned_benchmarks(recipe, checkpoint))):
            inside = [b for b in group if b in wanted]
            if inside:
                by_span.setdefault((inside[0], inside[-1]), []).append(checkpoint)
    runs = []
    for span, checkpoints in by_span.items():
        groups = contiguous_groups(registered, checkpoints) if merge_neighbours else [[c] for c in checkpoints]
        runs += [(group, span) for group in groups]
    return runs


def cell_requests(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, reason: dict[str, str], run_key_suffix: str
) -> list[RunRequest]:
    """One run request per checkpoint and span of its due cells (see ``cell_runs``)."""
    return [
        RunRequest(
            run_key=f"{group[0]}:{span[0]}..{span[1]}:{run_key_suffix}",
            tags={
                **cell_range_tags(recipe, group[0], group[-1], list(span)),
                "cells": ", ".join(f"{c}: {reason[c]}" for c in group)[:1000],
            },
        )
        for group, span in cell_runs(recipe, registered, due)
    ]


def latest_cell_versions(instance, partitions: set[str]) -> dict[str, str | None]:
    """The eval definition (``eval_code_version``) each materialized cell in ``partitions`` is
    current under, for all cells in one query: the eval asset records it as the cells' data
    version, a tag the event log indexes per partition. Cells materialized otherwise map to None."""
    tags = instance.event_log_storage.get_latest_tags_by_partition(
        EVAL_CELLS, DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG]
    )
    latest = instance.get_latest_storage_id_by_partition(EVAL_CELLS, DagsterEventType.ASSET_MATERIALIZATION)
    return {p: tags.get(p, {}).get(DATA_VERSION_TAG) for p in latest if p in partitions}


def build_eval_refresh_schedule(recipe: Recipe):
    wanted = eval_code_version(recipe)

    @schedule(
        job_name="evaluation_job",
        cron_schedule="0 3 * * *",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly: requests every eval cell of the recipe's evaluation plan that is missing, or was "
        "computed under another eval definition (benchmarks, protocol, scorer, judge or code version); one "
        "run per checkpoint. Cells outside the plan are left alone (backfill them by hand).",
    )
    def eval_refresh_schedule(context: ScheduleEvaluationContext):
        registered = context.instance.get_dynamic_partitions(CHECKPOINTS.name)
        runs = set(recipe.runs)
        planned = {c: planned_benchmarks(recipe, c) for c in registered if parse_checkpoint_key(c)[0] in runs}
        versions = latest_cell_versions(
            context.instance, {str(cell_key(c, b)) for c, benchmarks in planned.items() for b in benchmarks}
        )
        due, reason = {}, {}
        for checkpoint, benchmarks in planned.items():
            for benchmark in benchmarks:
                partition = str(cell_key(checkpoint, benchmark))
                version = versions.get(partition)
                if version != wanted:
                    due.setdefault(checkpoint, []).append(benchmark)
                    reason[checkpoint] = "missing" if partition not in versions else f"stale ({version} -> {wanted})"
        requests = cell_requests(recipe, registered, due, reason=reason, run_key_suffix=wanted)
        return requests or SkipReason("every planned eval cell is present and current")

    return eval_refresh_schedule


def build_checkpoint_sensor(recipe: Recipe):
    keys = Keys(recipe)
    order = list(recipe.evaluation.benchmarks)

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
        requests = [
            RunRequest(
                run_key=k if span == (order[0], order[-1]) else f"{k}:{span[0]}..{span[1]}",
                tags={**cell_range_tags(recipe, k, k, list(span)), "cells": f"{k}: new checkpoint"},
            )
            for (k,), span in cell_runs(recipe, registered, due)
        ]
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[CHECKPOINTS.build_add_request([k for k in found if k not in known])],
            cursor=json.dumps(sorted(seen | set(found))),
        )

    return new_checkpoints_sensor
