"""The eval assets' bookkeeping (one asset per benchmark, partitioned by checkpoint): which requested
cells a run computes (missing or under another definition) and which it reuses, one workload per
checkpoint, and which cells the UI shows stale when a benchmark changes. The workload itself
(vLLM) runs in the end-to-end test; here a recording launcher stands in for it and writes what it
would."""

import copy
import json
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions

from assets.evaluation import cell_definition, current_table, eval_asset_key
from assets.keys import Keys
from assets.partitions import CHECKPOINTS, checkpoint_range_tags
from orchestration.definitions import build_definitions
from resources.launchers.compute import ComputeLauncher
from resources.storage import LocalStorage
from workloads.evaluation.metrics import EVAL_TABLE_SCHEMA


def _table(checkpoint, benchmark, definition):
    row = {
        "checkpoint": checkpoint,
        "benchmark": benchmark,
        "metric": "pass@1",
        "headline": True,
        "mean": 0.5,
        "ci_low": 0.0,
        "ci_high": 1.0,
        "items": 2,
        "samples": 2,
        "unjudgeable": 0,
        "mean_tokens": 3.0,
        "truncation_rate": 0.0,
        "unclosed_thinking_rate": 0.0,
    }
    return pl.DataFrame([row], schema=EVAL_TABLE_SCHEMA).with_columns(definition=pl.lit(definition))


CALLS: list = []  # module-level: Dagster hands the asset a copy of the resource


class RecordingLauncher(ComputeLauncher):
    """Records each evaluate call's cells and writes their tables as the workload would."""

    def run(self, context, workload, extras, *, gpus=None):
        CALLS.append((extras["checkpoint"], sorted(extras["cells"]), extras["judge"]))
        for name, cell in extras["cells"].items():
            _table(extras["checkpoint"], name, cell["definition"]).write_parquet(cell["table_path"])
        return Reported({"cells": {name: {"items": 2} for name in extras["cells"]}, "engine": "recorded"})


class Reported:
    """A finished workload's invocation: its report message, as the evaluation workload sends it."""

    def __init__(self, report: dict):
        self.report = report

    def get_custom_messages(self):
        return [{"report": self.report}]


@pytest.fixture
def setup(small_recipe, tmp_path):
    CALLS.clear()
    storage = LocalStorage(root=str(tmp_path))
    keys = Keys(small_recipe)
    run = small_recipe.runs[0]
    checkpoints = [f"{run}@step-00000", f"{run}@step-00002"]
    storage.write_bytes(
        keys.manifest(run), json.dumps({"run": run, "step": 2, "uri": "/checkpoints/2"}).encode() + b"\n"
    )
    for checkpoint in checkpoints:
        for benchmark in small_recipe.evaluation.benchmarks:
            storage.write_table(
                keys.eval_table(checkpoint, benchmark),
                _table(checkpoint, benchmark, cell_definition(small_recipe, benchmark)),
            )
    return storage, keys, checkpoints


def _materialize(recipe, storage, launcher, checkpoints, benchmarks=None, instance=None):
    """One run over the range of ``checkpoints`` selecting ``benchmarks`` (default all); returns
    the result, the instance and each benchmark's materialization metadata."""
    local = build_definitions(recipe, "local")
    # The stand-ins replace the local resources in the definitions (a job subset to some assets
    # refuses resources passed at execution that differ from its assets').
    defs = Definitions(
        assets=local.assets, jobs=local.jobs, resources={**local.resources, "storage": storage, "launcher": launcher}
    )
    job = defs.resolve_job_def("evaluation_job")
    instance = instance or DagsterInstance.ephemeral()
    if not instance.get_dynamic_partitions(CHECKPOINTS.name):
        instance.add_dynamic_partitions(CHECKPOINTS.name, checkpoints)
    result = job.execute_in_process(
        instance=instance,
        tags=checkpoint_range_tags(checkpoints[0], checkpoints[-1]),
        asset_selection=[eval_asset_key(b) for b in benchmarks or recipe.evaluation.benchmarks],
    )
    metadata = {}
    for event in result.get_asset_materialization_events():
        metadata.setdefault(event.asset_key.path[-1], event.materialization.metadata)
    return result, instance, metadata


def test_current_cells_are_reported_without_running_anything(small_recipe, setup):
    storage, _, checkpoints = setup
    launcher = RecordingLauncher()
    result, instance, metadata = _materialize(small_recipe, storage, launcher, checkpoints)
    assert result.success and CALLS == []
    assert set(metadata) == set(small_recipe.evaluation.benchmarks)
    assert all(m["cells_reused"].value == 2 and m["cells_computed"].value == 0 for m in metadata.values())
    cells = len(checkpoints) * len(small_recipe.evaluation.benchmarks)
    assert len(result.get_asset_materialization_events()) == cells  # one per cell of the range


def test_only_cells_whose_definition_changed_are_recomputed_one_workload_per_checkpoint(small_recipe, setup):
    storage, keys, checkpoints = setup
    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["truthfulqa-mc1"].limit = 3
    launcher = RecordingLauncher()
    result, _, metadata = _materialize(changed, storage, launcher, checkpoints)
    assert result.success
    # One workload per checkpoint, for the one changed benchmark; no judge needed for it.
    assert CALLS == [(c, ["truthfulqa-mc1"], None) for c in checkpoints]
    assert {b: m["cells_computed"].value for b, m in metadata.items()} == {
        b: 2 if b == "truthfulqa-mc1" else 0 for b in small_recipe.evaluation.benchmarks
    }
    assert (
        current_table(storage, keys, checkpoints[0], "truthfulqa-mc1", cell_definition(changed, "truthfulqa-mc1"))
        is not None
    )


def test_a_missing_cell_is_computed_and_the_rest_of_its_checkpoint_reused(small_recipe, setup):
    storage, keys, checkpoints = setup
    Path(storage.uri(keys.eval_table(checkpoints[1], "math500"))).unlink()
    launcher = RecordingLauncher()
    first_two = list(small_recipe.evaluation.benchmarks)[:2]
    assert first_two[0] == "math500"
    result, _, _ = _materialize(small_recipe, storage, launcher, checkpoints, first_two)
    assert result.success and CALLS == [(checkpoints[1], ["math500"], None)]
    assert len(result.get_asset_materialization_events()) == 4  # 2 checkpoints x the 2 requested benchmarks


def test_each_cell_records_its_benchmarks_definition_as_data_version_which_the_schedule_reads(small_recipe, setup):
    from dagster._core.definitions.data_version import DATA_VERSION_TAG as DAGSTERS_TAG

    from jobs.event_log import DATA_VERSION_TAG, latest_cell_versions

    assert DATA_VERSION_TAG == DAGSTERS_TAG
    storage, _, checkpoints = setup
    _, instance, _ = _materialize(small_recipe, storage, RecordingLauncher(), checkpoints)
    assert latest_cell_versions(instance, small_recipe, set(checkpoints)) == {
        (c, b): cell_definition(small_recipe, b) for c in checkpoints for b in small_recipe.evaluation.benchmarks
    }


def test_changing_one_benchmark_marks_only_its_cells_stale_in_the_ui(small_recipe, setup):
    # The resolver behind the UI's stale badge, built by Dagster's own test helper (not public API).
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    storage, _, checkpoints = setup
    _, instance, _ = _materialize(small_recipe, storage, RecordingLauncher(), checkpoints)
    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["math500"].n = 3

    def statuses(recipe):
        resolver = get_stale_status_resolver(instance, build_definitions(recipe, "local").assets)
        return {
            (b, c): resolver.get_status(eval_asset_key(b), c) for b in recipe.evaluation.benchmarks for c in checkpoints
        }

    assert set(statuses(small_recipe).values()) == {StaleStatus.FRESH}
    assert statuses(changed) == {
        (b, c): StaleStatus.STALE if b == "math500" else StaleStatus.FRESH
        for b in small_recipe.evaluation.benchmarks
        for c in checkpoints
    }


def test_the_training_trackers_setting_reaches_the_workload_and_its_runs_the_metadata(small_recipe, setup):
    from workloads.core.tracking import reports_to_mlflow

    storage, keys, checkpoints = setup
    seen = []

    class TrackingLauncher(RecordingLauncher):
        """The workload as it reports cells logged into their training run's MLflow run."""

        def run(self, context, workload, extras, *, gpus=None):
            seen.append(extras["report_to"])
            # TensorBoard's eval curves go into the checkpoint's training run's own log folder.
            assert extras["tensorboard_dir"] == storage.uri(f"{keys.run_dir(small_recipe.runs[0])}/runs")
            report = super().run(context, workload, extras, gpus=gpus).report
            if reports_to_mlflow(extras["report_to"]):
                report = {**report, "mlflow_run": f"mlflow run of {extras['checkpoint']}"}
            return Reported(report)

    for limit, report_to in ((3, ["tensorboard", "mlflow"]), (2, None)):  # each limit: cells to compute
        recipe = copy.deepcopy(small_recipe)
        recipe.evaluation.benchmarks["truthfulqa-mc1"].limit = limit
        if report_to:
            recipe.training.report_to = report_to
        seen.clear()
        result, _, metadata = _materialize(recipe, storage, TrackingLauncher(), checkpoints)
        assert result.success and seen == [report_to] * len(checkpoints)
        expected = {small_recipe.runs[0]: f"mlflow run of {checkpoints[-1]}"} if report_to else None
        cell = metadata["truthfulqa-mc1"]
        assert (cell["mlflow_runs"].value if "mlflow_runs" in cell else None) == expected


def test_headline_results_are_a_typed_table_with_a_row_per_checkpoint_and_metric(small_recipe, setup):
    from dagster import TableMetadataValue

    storage, _, checkpoints = setup
    _, _, metadata = _materialize(small_recipe, storage, RecordingLauncher(), checkpoints)
    headline = metadata["math500"]["headline_metrics"]
    assert isinstance(headline, TableMetadataValue)
    types = {column.name: column.type for column in headline.schema.columns}
    assert types["checkpoint"] == "string" and types["metric"] == "string"
    assert types["mean"] == types["ci_low"] == types["truncation_rate"] == "float"
    assert types["items"] == types["unjudgeable"] == "int"
    assert [(r.data["checkpoint"], r.data["metric"], r.data["mean"]) for r in headline.records] == [
        (c, "pass@1", 0.5) for c in checkpoints
    ]


def test_a_cell_with_truncated_responses_fires_its_benchmarks_warning_and_no_other(small_recipe, setup):
    from dagster import AssetCheckSeverity

    storage, keys, checkpoints = setup
    planted = _table(checkpoints[1], "math500", cell_definition(small_recipe, "math500"))
    storage.write_table(keys.eval_table(checkpoints[1], "math500"), planted.with_columns(truncation_rate=pl.lit(0.95)))
    result, _, _ = _materialize(small_recipe, storage, RecordingLauncher(), checkpoints)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 3 * len(small_recipe.evaluation.benchmarks)
    failed = [(e.asset_key, e.check_name) for e in evaluations if not e.passed]
    assert failed == [(eval_asset_key("math500"), "truncation")]
    (fired,) = [e for e in evaluations if not e.passed]
    assert fired.severity == AssetCheckSeverity.WARN
    assert fired.metadata["above"].value == {checkpoints[1]: 0.95}
