import json

from dagster import DagsterInstance, SensorResult, build_sensor_context

from assets.keys import Keys
from assets.partitions import CHECKPOINTS
from jobs.study import build_checkpoint_sensor
from resources.storage import LocalStorage


def _announce(storage, recipe, run, steps):
    path = storage.uri(Keys(recipe).manifest(run))
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        for step in steps:
            fh.write(json.dumps({"run": run, "step": step, "uri": f"/ckpt/{step}"}) + "\n")


def _evaluate(sensor, instance, storage, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    return sensor(context)


def test_sensor_registers_new_checkpoints_with_the_base_model_and_requests_their_evaluation(small_recipe, tmp_path):
    storage = LocalStorage(root=str(tmp_path))
    sensor = build_checkpoint_sensor(small_recipe)
    run = small_recipe.runs[0]
    with DagsterInstance.ephemeral() as instance:
        empty = _evaluate(sensor, instance, storage)
        assert isinstance(empty, SensorResult) and not empty.run_requests

        _announce(storage, small_recipe, run, [2])
        first = _evaluate(sensor, instance, storage)
        assert [r.partition_key for r in first.run_requests] == [f"{run}@step-00000", f"{run}@step-00002"]
        assert first.dynamic_partitions_requests[0].partition_keys == [f"{run}@step-00000", f"{run}@step-00002"]
        assert first.dynamic_partitions_requests[0].partitions_def_name == CHECKPOINTS.name

        _announce(storage, small_recipe, run, [4])
        second = _evaluate(sensor, instance, storage, cursor=first.cursor)
        assert [r.partition_key for r in second.run_requests] == [f"{run}@step-00004"]

        again = _evaluate(sensor, instance, storage, cursor=second.cursor)
        assert not again.run_requests


def test_refresh_schedule_requests_missing_and_stale_cells_only(small_recipe):
    from dagster import AssetKey, AssetMaterialization, build_schedule_context, instance_for_test

    from assets.evaluation import eval_code_version
    from jobs.study import CODE_VERSION_TAG, build_eval_refresh_schedule

    run = small_recipe.runs[0]
    current, stale, missing = (f"{run}@step-0000{i}" for i in (0, 2, 4))
    schedule = build_eval_refresh_schedule(small_recipe)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, [current, stale, missing, "other-run@step-00002"])
        for key, version in ((current, eval_code_version(small_recipe)), (stale, "an-old-definition")):
            instance.report_runless_asset_event(
                AssetMaterialization(AssetKey("checkpoint_eval"), partition=key, tags={CODE_VERSION_TAG: version})
            )
        requests = schedule(build_schedule_context(instance=instance))
        assert sorted(r.partition_key for r in requests) == [stale, missing]
        assert {r.partition_key: r.tags["refresh"] for r in requests}[missing] == "missing"


def test_eval_definition_change_changes_the_code_version(small_recipe):
    import copy

    from assets.evaluation import eval_code_version

    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["math500"].n = 3
    assert eval_code_version(changed) != eval_code_version(small_recipe)
    assert eval_code_version(copy.deepcopy(small_recipe)) == eval_code_version(small_recipe)
