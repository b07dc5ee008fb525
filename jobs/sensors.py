"""The sensors: one evaluates new checkpoints as training saves them; the other, after the plan's
coarse pass, requests the checkpoints between coarse points where a run's curve turns
(workloads/planning/refine.py), within the recipe's cap on added cells. Each curve is a run's
headline score per step on one benchmark (scores where higher is better)."""

from __future__ import annotations

import json

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from assets.keys import Keys, read_manifest
from assets.partitions import BASE_STEP, CHECKPOINTS, cell_id, planned_benchmarks
from jobs.event_log import headline_means, materialized_cells
from jobs.planning import cell_requests, refinement_cells
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.core.naming import checkpoint_key


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


def build_refinement_sensor(recipe: Recipe):
    keys = Keys(recipe)
    ev = recipe.evaluation

    @sensor(
        job_name="evaluation_job",
        minimum_interval_seconds=600,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Adds eval cells between the plan's checkpoints where a curve turns, bracketing each "
        f"run's dip minimum and recovery step per benchmark until adjacent checkpoints: at most "
        f"{ev.refine_cells_per_tick} cells a tick and {ev.refine_max_cells} in all (evaluation.refine_max_cells).",
    )
    def refinement_sensor(context: SensorEvaluationContext, storage: Storage) -> SensorResult:
        requested = json.loads(context.cursor) if context.cursor else []
        left = min(ev.refine_max_cells - len(requested), ev.refine_cells_per_tick)
        if left <= 0:
            return SensorResult(skip_reason=f"the cap of {ev.refine_max_cells} refinement cells is reached")
        registered = context.instance.get_dynamic_partitions(CHECKPOINTS.name)
        known = set(registered)
        saved = {
            run: [
                s
                for s in [0] + [r["step"] for r in read_manifest(storage, keys.manifest(run))]
                if checkpoint_key(run, s) in known
            ]
            for run in recipe.runs
        }
        means = headline_means(context.instance, storage, keys, recipe)
        # Cells requested before and still running (or failed) are not asked for again.
        skip = set(requested) | set(materialized_cells(context.instance, recipe))
        cells = [c for c in refinement_cells(recipe, means, saved) if cell_id(*c) not in skip][:left]
        if not cells:
            return SensorResult(skip_reason="every dip and recovery is bracketed to adjacent checkpoints")
        due: dict[str, list[str]] = {}
        for checkpoint, benchmark in cells:
            due.setdefault(checkpoint, []).append(benchmark)
        reason = {c: f"refinement of {', '.join(bs)}" for c, bs in due.items()}
        return SensorResult(
            run_requests=cell_requests(recipe, registered, due, reason=reason, run_key_suffix="refine"),
            cursor=json.dumps(requested + [cell_id(*c) for c in cells]),
        )

    return refinement_sensor
