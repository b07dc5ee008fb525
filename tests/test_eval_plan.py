"""The evaluation plan: which checkpoints each benchmark is evaluated on, and that the sensor, the
refresh schedule and run_study never request a cell outside it."""

import json

import pytest
from dagster import build_schedule_context, build_sensor_context, instance_for_test
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.keys import Keys
from assets.partitions import CHECKPOINTS, planned_benchmarks
from recipe_schema.recipe import RecipeError, load_recipe
from resources.storage import LocalStorage
from workloads.planning.eval_plan import CheckpointPlan, in_plan, planned_steps, saved_steps, training_steps

STEPS = saved_steps(64, 4)  # 0, 4, ..., 64


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (CheckpointPlan(), STEPS),
        (CheckpointPlan(every=4), [0, 16, 32, 48, 64]),
        (CheckpointPlan(every=4, dense_until=12), [0, 4, 8, 12, 16, 32, 48, 64]),
        (CheckpointPlan(every=8, dense_until=8), [0, 4, 8, 32, 64]),
        (CheckpointPlan(steps=(8, 40)), [0, 8, 40]),
        (CheckpointPlan(steps=()), [0]),
    ],
)
def test_a_plan_chooses_checkpoints_always_keeping_the_base_model(plan, expected):
    assert planned_steps(plan, STEPS, 4) == expected


def test_the_last_checkpoint_of_a_run_between_two_saves_is_always_in_the_plan():
    steps = saved_steps(66, 4)
    assert steps[-2:] == [64, 66]
    assert planned_steps(CheckpointPlan(every=16), steps, 4) == [0, 64, 66]
    assert in_plan(CheckpointPlan(steps=(4,)), 66, 4)


@pytest.mark.parametrize(
    ("examples", "epochs", "batch", "steps"),
    [(20480, 8, 256, 640), (20000, 8, 256, 632), (16, 2, 8, 4), (17, 2, 8, 6), (100, 0.5, 10, 5)],
)
def test_training_steps_count_the_last_partial_batch(examples, epochs, batch, steps):
    assert training_steps(examples, epochs, batch) == steps


def test_benchmarks_take_the_evaluation_plan_unless_they_have_their_own(write_recipe):
    recipe = load_recipe(
        write_recipe(
            {
                "evaluation": {
                    "checkpoints": {"every": 2},
                    "benchmarks": {"ifeval": {"checkpoints": {"steps": [2]}}},
                }
            }
        )
    )
    run = recipe.runs[0]
    order = list(recipe.evaluation.benchmarks)
    assert planned_benchmarks(recipe, f"{run}@step-00000") == order
    assert planned_benchmarks(recipe, f"{run}@step-00002") == ["ifeval"]
    assert planned_benchmarks(recipe, f"{run}@step-00004") == [b for b in order if b != "ifeval"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"every": 0}, "evaluation.checkpoints.every"),
        ({"dense_until": -1}, "evaluation.checkpoints.dense_until"),
        ({"steps": [4], "every": 2}, "evaluation.checkpoints.steps: an explicit list replaces every/dense_until"),
        ({"evry": 2}, "did you mean 'every'"),
    ],
)
def test_a_bad_plan_is_rejected_naming_the_field(write_recipe, plan, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(")):
        load_recipe(write_recipe({"evaluation": {"checkpoints": plan}}))


def test_the_plan_does_not_change_what_a_cell_is(write_recipe, small_recipe):
    from assets.evaluation import cell_definition

    planned = load_recipe(
        write_recipe(
            {"evaluation": {"checkpoints": {"every": 3}, "benchmarks": {"math500": {"checkpoints": {"every": 2}}}}}
        )
    )
    benchmarks = small_recipe.evaluation.benchmarks
    assert all(cell_definition(planned, b) == cell_definition(small_recipe, b) for b in benchmarks)


@pytest.fixture
def sparse_recipe(write_recipe):
    """ifeval (4th of 5 benchmarks) only at step 4: at step 2 the plan splits the benchmarks."""
    return load_recipe(write_recipe({"evaluation": {"benchmarks": {"ifeval": {"checkpoints": {"steps": [4]}}}}}))


def _cells(requests):
    return sorted((r.partition_key, key.path[-1]) for r in requests for key in r.asset_selection)


def test_the_sensor_requests_only_planned_cells_of_a_new_checkpoint(sparse_recipe, tmp_path):
    from jobs.study import build_checkpoint_sensor

    storage = LocalStorage(root=str(tmp_path))
    run = sparse_recipe.runs[0]
    storage.write_bytes(
        Keys(sparse_recipe).manifest(run),
        b"".join(json.dumps({"run": run, "step": s, "uri": f"/ckpt/{s}"}).encode() + b"\n" for s in (2, 4)),
    )
    order = list(sparse_recipe.evaluation.benchmarks)
    with instance_for_test() as instance:
        result = build_checkpoint_sensor(sparse_recipe)(
            build_sensor_context(instance=instance, resources={"storage": storage})
        )
        instance.add_dynamic_partitions(CHECKPOINTS.name, result.dynamic_partitions_requests[0].partition_keys)
        cells = _cells(result.run_requests)
    expected = {0: order, 2: [b for b in order if b != "ifeval"], 4: order}
    assert cells == sorted((f"{run}@step-{s:05d}", b) for s, bs in expected.items() for b in bs)
    # One run per checkpoint, selecting exactly its planned benchmarks.
    assert len(result.run_requests) == 3


def test_the_refresh_schedule_leaves_cells_outside_the_plan_alone(sparse_recipe):
    from jobs.study import build_eval_refresh_schedule

    run = sparse_recipe.runs[0]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, [f"{run}@step-00002"])
        requests = build_eval_refresh_schedule(sparse_recipe)(build_schedule_context(instance=instance))
        cells = _cells(requests)
    assert cells == sorted((f"{run}@step-00002", b) for b in sparse_recipe.evaluation.benchmarks if b != "ifeval")


def test_run_study_evaluates_the_planned_cells_with_neighbours_sharing_a_run(sparse_recipe):
    from orchestration.run_study import runs_for

    run = sparse_recipe.runs[0]
    # Registered 0, 4, 2 (as a sensor may find them): 0 and 4 plan every benchmark and are
    # neighbours; 2 plans all but ifeval.
    checkpoints = [f"{run}@step-0000{i}" for i in (0, 4, 2)]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, checkpoints)
        runs = runs_for("evaluation_job", sparse_recipe, instance)
        registered = instance.get_dynamic_partitions(CHECKPOINTS.name)

    def checkpoints_in(tags):  # a range covers the checkpoints between its ends in registration order
        first, last = tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
        return registered[registered.index(first) : registered.index(last) + 1]

    cells = sorted(
        (c, key.path[-1]) for _, _, tags, selection in runs for c in checkpoints_in(tags) for key in selection
    )
    order = list(sparse_recipe.evaluation.benchmarks)
    assert cells == sorted({(c, b) for c in checkpoints for b in order} - {(checkpoints[2], "ifeval")})
    assert [(checkpoints_in(tags), [k.path[-1] for k in selection]) for _, _, tags, selection in runs] == [
        (checkpoints[:2], order),
        (checkpoints[2:], [b for b in order if b != "ifeval"]),
    ]
