"""Adaptive refinement: which checkpoints to evaluate between coarse points, and the sensor that
requests them within the recipe's cap."""

import json

import polars as pl
import pytest
from dagster import AssetMaterialization, build_sensor_context, instance_for_test

from assets.evaluation import eval_asset_key
from assets.keys import Keys
from assets.partitions import CHECKPOINTS, cell_id, split_cell_id
from recipe_schema.recipe import load_recipe
from resources.storage import LocalStorage
from workloads.analysis.dynamics import dip_and_recovery
from workloads.planning.refine import Point, next_steps

STEPS = list(range(0, 170, 10))


def _curve(means: dict[int, float]) -> list[Point]:
    return [Point(s, m) for s, m in means.items()]


@pytest.mark.parametrize(
    ("means", "expected"),
    [
        # No dip: nothing to locate.
        ({0: 0.5, 80: 0.6, 160: 0.7}, []),
        # Minimum at 80, never back to base: both gaps next to it.
        ({0: 0.5, 80: 0.3, 160: 0.4}, [40, 120]),
        # Minimum at 40, back above base at 120 (after 80 below): min gaps and the recovery gap.
        ({0: 0.5, 40: 0.3, 80: 0.4, 120: 0.6, 160: 0.7}, [20, 60, 100]),
        # Everything adjacent already: done.
        ({0: 0.5, 10: 0.3, 20: 0.6}, []),
        # The recovery right after the minimum: its gap is shared with the minimum's.
        ({0: 0.5, 40: 0.3, 80: 0.6}, [20, 60]),
        # No base model evaluated: no reference to dip from.
        ({40: 0.3, 80: 0.6}, []),
    ],
)
def test_next_steps_bisect_the_gaps_around_the_minimum_and_the_recovery(means, expected):
    assert next_steps(_curve(means), STEPS) == expected


def test_rounds_converge_on_the_dense_grids_minimum_and_recovery_with_fewer_cells():
    truth = {s: 0.5 - 0.2 * (s / 50) * 2.718 ** (1 - s / 50) + 0.25 * (1 - 2.718 ** (-s / 120)) for s in STEPS}
    evaluated = {0, 80, 160}
    while wanted := next_steps(_curve({s: truth[s] for s in evaluated}), STEPS):
        evaluated |= set(wanted)
    dense = dip_and_recovery(STEPS, [truth[s] for s in STEPS])
    ours = dip_and_recovery(sorted(evaluated), [truth[s] for s in sorted(evaluated)])
    assert (ours["min_step"], ours["recovery_step"]) == (dense["min_step"], dense["recovery_step"])
    assert len(evaluated) < len(STEPS)


def test_a_cell_id_names_the_benchmark_first_and_splits_back():
    # The format of the old two-dimensional partition keys, so stored cursors and tables still read.
    assert cell_id("r@step-00002", "math500") == "math500|r@step-00002"
    assert split_cell_id("math500|r@step-00002") == ("r@step-00002", "math500")


def _table(mean: float) -> pl.DataFrame:
    return pl.DataFrame({"metric": ["pass@1"], "headline": [True], "mean": [mean]})


def test_the_refinement_sensor_requests_cells_between_coarse_points_within_its_cap(write_recipe, tmp_path):
    from jobs.refinement import build_refinement_sensor

    recipe = load_recipe(write_recipe({"evaluation": {"refine_max_cells": 3, "refine_cells_per_tick": 2}}))
    storage, keys = LocalStorage(root=str(tmp_path)), Keys(recipe)
    run = recipe.runs[0]
    saved = list(range(0, 18, 2))  # 0..16, a save every 2 steps
    storage.write_bytes(
        keys.manifest(run),
        b"".join(json.dumps({"run": run, "step": s, "uri": f"/c/{s}"}).encode() + b"\n" for s in saved[1:]),
    )
    coarse = {0: 0.5, 8: 0.3, 16: 0.6}  # math500 dips at 8 and is back by 16
    sensor = build_refinement_sensor(recipe)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, [f"{run}@step-{s:05d}" for s in saved])
        for step, mean in coarse.items():
            checkpoint = f"{run}@step-{step:05d}"
            storage.write_table(keys.eval_table(checkpoint, "math500"), _table(mean))
            instance.report_runless_asset_event(AssetMaterialization(eval_asset_key("math500"), partition=checkpoint))
        first = sensor(build_sensor_context(instance=instance, resources={"storage": storage}))
        asked = json.loads(first.cursor)
        # Wanted: 4 (left of the minimum), 12 (right of it and the recovery gap): 2 a tick.
        assert asked == [cell_id(f"{run}@step-{s:05d}", "math500") for s in (4, 12)]
        assert len(first.run_requests) == 2 and all(
            r.tags["cells"].endswith("refinement of math500") for r in first.run_requests
        )
        # Evaluated: step 4 lower still, step 12 back above base.
        for step, mean in {4: 0.2, 12: 0.55}.items():
            checkpoint = f"{run}@step-{step:05d}"
            storage.write_table(keys.eval_table(checkpoint, "math500"), _table(mean))
            instance.report_runless_asset_event(AssetMaterialization(eval_asset_key("math500"), partition=checkpoint))
        second = sensor(build_sensor_context(instance=instance, cursor=first.cursor, resources={"storage": storage}))
        # Wanted now: 2, 6 (around the minimum at 4) and 10 (recovery between 8 and 12); the cap leaves one.
        assert json.loads(second.cursor)[2:] == [cell_id(f"{run}@step-00002", "math500")]
        third = sensor(build_sensor_context(instance=instance, cursor=second.cursor, resources={"storage": storage}))
        assert not third.run_requests and "cap of 3" in third.skip_reason.skip_message
