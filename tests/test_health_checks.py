"""WARN checks beside the assets: an eval cell with truncated, unclosed or unjudgeable responses above
its limit, and a training run whose loss is not finite or not falling. Each fires on planted data
and passes on clean data; the training run's through Dagster, with a launcher that leaves what the
training workload would (its manifest and loss history)."""

import json
import math
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetCheckSeverity, AssetKey, Definitions, MultiPartitionKey

from assets.evaluation import HEALTH, eval_asset_key, health_checks
from assets.keys import Keys
from assets.training import loss_checks
from orchestration.definitions import build_definitions
from resources.launchers.compute import ComputeLauncher
from resources.storage import LocalStorage
from workloads.evaluation.metrics import EVAL_TABLE_SCHEMA

RUN = "s1__math-cot"


def _cell(step: int, *, truncation=0.0, unclosed=0.0, unjudgeable=0, samples=10) -> dict:
    return {
        "checkpoint": f"{RUN}@step-{step:05d}",
        "benchmark": "math500",
        "metric": "pass@1",
        "headline": True,
        "mean": 0.5,
        "ci_low": 0.1,
        "ci_high": 0.9,
        "items": samples,
        "samples": samples,
        "unjudgeable": unjudgeable,
        "mean_tokens": 100.0,
        "truncation_rate": truncation,
        "unclosed_thinking_rate": unclosed,
    }


def _results(rows) -> dict:
    table = pl.DataFrame(rows, schema=EVAL_TABLE_SCHEMA)
    results = health_checks("math500", table)
    assert all(r.severity == AssetCheckSeverity.WARN and r.asset_key == eval_asset_key("math500") for r in results)
    return {r.check_name: r for r in results}


def test_clean_cells_pass_every_health_check():
    results = _results([_cell(0), _cell(10, truncation=0.2, unclosed=0.1, unjudgeable=1)])
    assert set(results) == set(HEALTH) and all(r.passed for r in results.values())


@pytest.mark.parametrize(
    "planted, failing, rate",
    [
        ({"truncation": 0.95}, "truncation", 0.95),
        ({"unclosed": 0.5}, "unclosed_thinking", 0.5),
        ({"unjudgeable": 6}, "unjudgeable_replies", 0.6),  # 6 of 10 judge replies unparsable
    ],
)
def test_a_planted_problem_fires_its_check_naming_the_cell(planted, failing, rate):
    results = _results([_cell(0), _cell(10, **planted), _cell(20)])
    assert {name for name, r in results.items() if not r.passed} == {failing}
    fired = results[failing]
    assert fired.metadata["above"].value == {f"{RUN}@step-00010": rate}
    assert "1 of 3 cells" in fired.description


def test_a_finite_falling_loss_passes():
    history = [{"step": s, "loss": 2.0 / s} for s in range(1, 10)] + [{"step": 9, "train_loss": 0.8}]
    assert [(r.check_name, r.passed) for r in loss_checks(history)] == [("finite_loss", True), ("loss_falling", True)]


def test_a_nan_loss_fires_the_finite_loss_check():
    history = [{"step": s, "loss": 2.0 / s} for s in range(1, 10)]
    history[5]["loss"] = math.nan
    history[7]["loss"] = math.inf
    finite, falling = loss_checks(history)
    assert not finite.passed and finite.severity == AssetCheckSeverity.WARN
    assert "steps [6, 8]" in finite.description
    assert falling.passed  # judged on the finite losses


def test_a_loss_that_does_not_fall_fires_its_check():
    flat = [{"step": s, "loss": 1.0 + 0.01 * (s % 2)} for s in range(1, 13)]
    _, falling = loss_checks(flat)
    assert not falling.passed and falling.severity == AssetCheckSeverity.WARN
    # Too few steps to tell is not a warning.
    assert loss_checks([{"step": 1, "loss": 1.0}, {"step": 2, "loss": 3.0}])[1].passed


LOSSES: list = []  # module-level: Dagster hands the asset a copy of the resource


class TrainingStandIn(ComputeLauncher):
    """Leaves what the training workload leaves: a checkpoint announced, the loss history."""

    def run(self, context, workload, extras, *, gpus=None):
        output = Path(extras["output_dir"])
        output.mkdir(parents=True, exist_ok=True)
        record = {"run": extras["run"], "step": len(LOSSES), "uri": f"{output}/checkpoint-{len(LOSSES)}"}
        (output / "checkpoints.jsonl").write_text(json.dumps(record) + "\n")
        history = [{"step": s + 1, "loss": loss} for s, loss in enumerate(LOSSES)]
        (output / "log_history.json").write_text(json.dumps(history))
        return Finished()


class Finished:
    def get_materialize_result(self):
        return type("Result", (), {"metadata": {"steps": len(LOSSES)}})()


@pytest.mark.parametrize(
    "losses, passed",
    [
        ([2.0, 1.8, 1.5, 1.2, 1.0, 0.9], {"finite_loss": True, "loss_falling": True}),
        ([2.0, 1.8, math.nan, 1.2, 1.0, 0.9], {"finite_loss": False, "loss_falling": True}),
    ],
)
def test_the_training_runs_checks_run_with_it(small_recipe, tmp_path, losses, passed):
    LOSSES[:] = losses
    storage = LocalStorage(root=str(tmp_path))
    keys = Keys(small_recipe)
    student, dataset = small_recipe.training.students[0], small_recipe.training.datasets[0]
    run = f"{student}__{dataset}"
    assert keys.manifest(run) == f"{keys.run_dir(run)}/checkpoints.jsonl"  # where the stand-in announces
    local = build_definitions(small_recipe, "local")
    defs = Definitions(
        assets=local.assets, resources={**local.resources, "storage": storage, "launcher": TrainingStandIn()}
    )
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        asset_selection=[AssetKey("sft_run")],
        partition_key=MultiPartitionKey({"student": student, "dataset": dataset}),
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in checks.items()} == passed
    assert all(e.severity == AssetCheckSeverity.WARN for e in checks.values())


def test_a_cell_without_rates_is_not_above_any_limit():
    results = _results([_cell(0, truncation=None, unclosed=None)])
    assert all(r.passed for r in results.values())
