"""The refinement sensor: after the plan's coarse pass, requests the checkpoints between coarse
points where a run's curve turns (workloads/planning/refine.py), within the recipe's cap on added cells.

Each curve is a run's headline score per step on one benchmark (scores where higher is better).
The cells' headline means are kept in a small table in storage, so a tick reads only the eval
tables of cells materialized since the last one, not every cell of the study.
"""

from __future__ import annotations

import json

import polars as pl
from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from assets.keys import Keys
from assets.partitions import CHECKPOINTS, cell_id, split_cell_id
from assets.training import read_manifest
from jobs.study import cell_requests, materialized_cells
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.core.naming import checkpoint_key, parse_checkpoint_key
from workloads.evaluation.registry import lower_is_better
from workloads.planning.refine import Point, next_steps

HEADLINE_SCHEMA = {"partition": pl.String, "storage_id": pl.Int64, "mean": pl.Float64}


def headline_means(instance, storage: Storage, keys: Keys, recipe: Recipe) -> dict[tuple[str, str], float]:
    """(checkpoint, benchmark) -> headline mean of every materialized cell of the recipe that has
    one, refreshing the stored table from the cells materialized since it was written."""
    runs = set(recipe.runs)
    latest = materialized_cells(instance, recipe)
    try:
        known = storage.read_table(keys.report("refinement-headlines.parquet"))
    except FileNotFoundError:
        known = pl.DataFrame(schema=HEADLINE_SCHEMA)
    seen = dict(zip(known["partition"].to_list(), known["storage_id"].to_list(), strict=True))
    rows = {r["partition"]: r for r in known.iter_rows(named=True)}
    for cell, storage_id in latest.items():
        if seen.get(cell) == storage_id:
            continue
        checkpoint, benchmark = split_cell_id(cell)
        if parse_checkpoint_key(checkpoint)[0] not in runs:
            continue
        try:
            table = storage.read_table(keys.eval_table(checkpoint, benchmark)).filter(pl.col("headline"))
        except FileNotFoundError:
            continue
        if table.height and not lower_is_better(table["metric"][0]) and table["mean"][0] is not None:
            rows[cell] = {"partition": cell, "storage_id": storage_id, "mean": float(table["mean"][0])}
    if len(rows) != known.height or any(seen.get(p) != r["storage_id"] for p, r in rows.items()):
        storage.write_table(
            keys.report("refinement-headlines.parquet"), pl.DataFrame(list(rows.values()), schema=HEADLINE_SCHEMA)
        )
    return {split_cell_id(p): r["mean"] for p, r in rows.items()}


def refinement_cells(
    recipe: Recipe, means: dict[tuple[str, str], float], saved: dict[str, list[int]]
) -> list[tuple[str, str]]:
    """The cells (checkpoint, benchmark) next_steps asks for, run by run."""
    wanted = []
    for run, steps in saved.items():
        for benchmark in recipe.evaluation.benchmarks:
            curve = [
                Point(s, means[(checkpoint_key(run, s), benchmark)])
                for s in steps
                if (checkpoint_key(run, s), benchmark) in means
            ]
            wanted += [(checkpoint_key(run, s), benchmark) for s in next_steps(curve, steps)]
    return wanted


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
