"""Experiment tracking besides TensorBoard: off unless the recipe's training.report_to asks, and
then the run is recorded with no network (a local MLflow store) and named in the run's summary."""

import polars as pl
import pytest

from tests.training_helpers import TRAINING, countdown_student
from workloads.core.tracking import log_cell, mlflow_client
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize
from workloads.programs.train import train
from workloads.training.config import build_config

CONFIG = {**TRAINING, "epochs": 3}


def test_tensorboard_is_the_only_tracker_by_default(tmp_path):
    assert build_config(CONFIG, str(tmp_path), seed=0).report_to == ["tensorboard"]


def test_trackers_name_the_run_after_the_study_run(tmp_path):
    # How evaluation finds the run to log eval metrics into (workloads.core.tracking).
    assert build_config(CONFIG, str(tmp_path), seed=0, run_name="s1__math-cot").run_name == "s1__math-cot"


@pytest.fixture
def tiny_run(tmp_path):
    model_dir = countdown_student(tmp_path)
    return {
        "run": "tracked",
        "dataset": "countdown-cot",
        "dataset_path": str(tmp_path / "data.parquet"),
        "model_dir": str(model_dir),
        "output_dir": str(tmp_path / "tracked"),
        "seed": 0,
    }


@pytest.mark.slow  # a short training run: about a minute on a loaded 2-core machine
def test_a_local_mlflow_store_records_the_run_offline(tiny_run, tmp_path, monkeypatch):
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "reasoning-sft")
    training = {**CONFIG, "epochs": 1, "report_to": ["tensorboard", "mlflow"]}
    summary = train({**tiny_run, "training": training}, announce=lambda record: None, log=print)

    experiment = mlflow.get_experiment_by_name("reasoning-sft")
    (run,) = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert summary["mlflow_run"] == f"{store} (experiment {experiment.experiment_id}, run {run.info.run_id})"
    losses = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == list(range(1, summary["steps"] + 1))
    assert list((tmp_path / "tracked" / "runs").rglob("events.out.tfevents.*"))  # TensorBoard kept alongside

    # Evaluation finds that run by its name and logs a cell at its checkpoint's step, beside the loss.
    assert run.info.run_name == "tracked"
    checkpoint = f"tracked@step-{summary['steps']:05d}"
    cell = pl.DataFrame(
        [
            {
                "checkpoint": checkpoint,
                "benchmark": "countdown",
                "item_id": "a",
                "sample_idx": 0,
                "response": "",
                "score": 1.0,
                "tokens": 12,
                "truncated": False,
                "think_closed": True,
                "details": None,
            }
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )
    table = summarize(cell, {"countdown": "countdown"})
    assert log_cell(mlflow_client(), table, checkpoint, warn=pytest.fail) == summary["mlflow_run"]
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "eval/countdown/pass_at_1")
    assert [(m.step, m.value) for m in history] == [(summary["steps"], 1.0)]
