import json

from dagster import DagsterInstance, SensorResult, build_sensor_context

from assets.keys import Keys
from assets.partitions import CHECKPOINTS, cell_key
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
        benchmarks = list(small_recipe.evaluation.benchmarks)
        # Each new checkpoint: one run over all of its cells (first to last benchmark).
        assert [(r.partition_key_range.start, r.partition_key_range.end) for r in first.run_requests] == [
            (str(cell_key(c, benchmarks[0])), str(cell_key(c, benchmarks[-1])))
            for c in (f"{run}@step-00000", f"{run}@step-00002")
        ]
        assert first.dynamic_partitions_requests[0].partition_keys == [f"{run}@step-00000", f"{run}@step-00002"]
        assert first.dynamic_partitions_requests[0].partitions_def_name == CHECKPOINTS.name

        _announce(storage, small_recipe, run, [4])
        second = _evaluate(sensor, instance, storage, cursor=first.cursor)
        assert [r.run_key for r in second.run_requests] == [f"{run}@step-00004"]

        again = _evaluate(sensor, instance, storage, cursor=second.cursor)
        assert not again.run_requests


def _report_cells(instance, cells, version):
    from dagster import AssetKey, AssetMaterialization

    from jobs.study import DATA_VERSION_TAG

    for checkpoint, benchmark in cells:
        instance.report_runless_asset_event(
            AssetMaterialization(
                AssetKey("eval_cells"), partition=str(cell_key(checkpoint, benchmark)), tags={DATA_VERSION_TAG: version}
            )
        )


def _cells_of(recipe, instance, request):
    """The (checkpoint, benchmark) cells a run request's partition range covers."""
    from assets.partitions import eval_cell_partitions

    keys = eval_cell_partitions(recipe).get_partition_keys_in_range(request.partition_key_range, instance)
    return sorted((k.keys_by_dimension["checkpoint"], k.keys_by_dimension["benchmark"]) for k in keys)


def test_refresh_schedule_requests_missing_and_stale_cells_only(small_recipe):
    from dagster import build_schedule_context, instance_for_test

    from assets.evaluation import eval_code_version
    from jobs.study import build_eval_refresh_schedule

    run = small_recipe.runs[0]
    benchmarks = list(small_recipe.evaluation.benchmarks)
    current, stale, missing = (f"{run}@step-0000{i}" for i in (0, 2, 4))
    schedule = build_eval_refresh_schedule(small_recipe)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, [current, stale, missing, "other-run@step-00002"])
        _report_cells(instance, [(current, b) for b in benchmarks], eval_code_version(small_recipe))
        _report_cells(instance, [(stale, b) for b in benchmarks], "an-old-definition")
        # Only the last benchmark of `missing` was ever evaluated, and under the current definition.
        _report_cells(instance, [(missing, benchmarks[-1])], eval_code_version(small_recipe))
        requests = schedule(build_schedule_context(instance=instance))
        covered = {cell for r in requests for cell in _cells_of(small_recipe, instance, r)}
        assert covered == {(stale, b) for b in benchmarks} | {(missing, b) for b in benchmarks[:-1]}
        assert all(c != current for c, _ in covered)
        assert {r.tags["cells"] for r in requests} == {
            f"{stale}: stale (an-old-definition -> {eval_code_version(small_recipe)})",
            f"{missing}: missing",
        }


def test_refresh_schedule_requests_one_run_per_checkpoint_so_the_cluster_evaluates_them_in_parallel(small_recipe):
    from dagster import build_schedule_context, instance_for_test

    from jobs.study import build_eval_refresh_schedule

    run = small_recipe.runs[0]
    checkpoints = [f"{run}@step-0000{i}" for i in (0, 2, 4)]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(
            CHECKPOINTS.name, [checkpoints[0], checkpoints[1], "other@step-00001", checkpoints[2]]
        )
        requests = build_eval_refresh_schedule(small_recipe)(build_schedule_context(instance=instance))
        covered = [sorted({c for c, _ in _cells_of(small_recipe, instance, r)}) for r in requests]
        assert covered == [[c] for c in checkpoints]


def test_eval_definition_change_changes_the_code_version(small_recipe):
    import copy

    from assets.evaluation import eval_code_version

    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["math500"].n = 3
    assert eval_code_version(changed) != eval_code_version(small_recipe)
    assert eval_code_version(copy.deepcopy(small_recipe)) == eval_code_version(small_recipe)
