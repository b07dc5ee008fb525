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
