import json

from dagster import DagsterInstance, SensorResult, build_sensor_context

from assets.evaluation import cell_definition, eval_asset_key
from assets.keys import Keys
from assets.partitions import CHECKPOINTS
from jobs.sensors import build_checkpoint_sensor
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
        every_benchmark = [eval_asset_key(b) for b in small_recipe.evaluation.benchmarks]
        # Each new checkpoint: one run over all of its cells (every benchmark's asset).
        assert [(r.partition_key, r.asset_selection) for r in first.run_requests] == [
            (c, every_benchmark) for c in (f"{run}@step-00000", f"{run}@step-00002")
        ]
        assert first.dynamic_partitions_requests[0].partition_keys == [f"{run}@step-00000", f"{run}@step-00002"]
        assert first.dynamic_partitions_requests[0].partitions_def_name == CHECKPOINTS.name

        _announce(storage, small_recipe, run, [4])
        second = _evaluate(sensor, instance, storage, cursor=first.cursor)
        assert [r.partition_key for r in second.run_requests] == [f"{run}@step-00004"]

        again = _evaluate(sensor, instance, storage, cursor=second.cursor)
        assert not again.run_requests


def _report_cells(instance, recipe, cells, version=None):
    """Materializations of (checkpoint, benchmark) cells with the data version ``version`` (default:
    the benchmark's current definition)."""
    from dagster import AssetMaterialization

    from jobs.event_log import DATA_VERSION_TAG

    for checkpoint, benchmark in cells:
        tags = {DATA_VERSION_TAG: version or cell_definition(recipe, benchmark)}
        instance.report_runless_asset_event(
            AssetMaterialization(eval_asset_key(benchmark), partition=checkpoint, tags=tags)
        )


def _cells_of(request):
    """The (checkpoint, benchmark) cells a run request selects."""
    return sorted((request.partition_key, key.path[-1]) for key in request.asset_selection)


def test_refresh_schedule_requests_missing_and_stale_cells_only(small_recipe):
    from dagster import build_schedule_context, instance_for_test

    from jobs.schedules import build_eval_refresh_schedule

    run = small_recipe.runs[0]
    benchmarks = list(small_recipe.evaluation.benchmarks)
    current, stale, missing = (f"{run}@step-0000{i}" for i in (0, 2, 4))
    schedule = build_eval_refresh_schedule(small_recipe)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, [current, stale, missing, "other-run@step-00002"])
        _report_cells(instance, small_recipe, [(current, b) for b in benchmarks])
        # At `stale`, only math500 was computed under another definition of its own.
        _report_cells(instance, small_recipe, [(stale, b) for b in benchmarks if b != "math500"])
        _report_cells(instance, small_recipe, [(stale, "math500")], "an-old-definition")
        # Only the last benchmark of `missing` was ever evaluated, and under the current definition.
        _report_cells(instance, small_recipe, [(missing, benchmarks[-1])])
        requests = schedule(build_schedule_context(instance=instance))
        covered = {cell for r in requests for cell in _cells_of(r)}
        assert covered == {(stale, "math500")} | {(missing, b) for b in benchmarks[:-1]}
        assert {r.tags["cells"] for r in requests} == {
            f"{stale}: stale math500",
            f"{missing}: missing {', '.join(benchmarks[:-1])}",
        }


def test_refresh_schedule_requests_one_run_per_checkpoint_so_the_cluster_evaluates_them_in_parallel(small_recipe):
    from dagster import build_schedule_context, instance_for_test

    from jobs.schedules import build_eval_refresh_schedule

    run = small_recipe.runs[0]
    checkpoints = [f"{run}@step-0000{i}" for i in (0, 2, 4)]
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(
            CHECKPOINTS.name, [checkpoints[0], checkpoints[1], "other@step-00001", checkpoints[2]]
        )
        requests = build_eval_refresh_schedule(small_recipe)(build_schedule_context(instance=instance))
        covered = [sorted({c for c, _ in _cells_of(r)}) for r in requests]
        assert covered == [[c] for c in checkpoints]


def test_a_benchmark_change_changes_only_that_benchmarks_code_version(small_recipe):
    import copy

    from orchestration.definitions import build_definitions

    def versions(recipe):
        graph = build_definitions(recipe, "local").resolve_asset_graph()
        return {b: graph.get(eval_asset_key(b)).code_version for b in recipe.evaluation.benchmarks}

    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["math500"].n = 3
    before, after = versions(small_recipe), versions(changed)
    assert {b for b in before if before[b] != after[b]} == {"math500"}
    assert versions(copy.deepcopy(small_recipe)) == before
