"""Eval metrics in the training run's tracker: each cell's metrics land in the MLflow run its
training reported to, at the checkpoint's step, beside the training loss; a local SQLite store, no
network."""

import json
import shutil
import socket

import polars as pl
import pytest

from workloads.core.tracking import cell_metrics, log_cell, metric_name, mlflow_client, reports_to_mlflow
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize

RUN = "s1__math-cot"
KINDS = {"math500": "math", "harm": "safety-judge"}


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An empty SQLite store, its tables created once (seconds each time): each test copies it."""
    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    mlflow_client(f"sqlite:///{path}").search_experiments()
    return path


def _client(empty_store, tmp_path):
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    return mlflow_client(f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def store(empty_store, tmp_path, monkeypatch):
    """A store holding a training run as transformers' MLflow callback leaves it: named after the
    study's run, the loss logged per step."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "reasoning-sft")
    client = _client(empty_store, tmp_path)
    experiment = client.create_experiment("reasoning-sft")
    trained = client.create_run(experiment, run_name=RUN)
    for step in range(1, 21):
        client.log_metric(trained.info.run_id, "loss", 2.0 / step, step=step)
    client.set_terminated(trained.info.run_id)
    other = client.create_run(experiment, run_name="s1__reference")
    return {"client": client, "experiment": experiment, "run": trained.info.run_id, "other": other.info.run_id}


def _cell(checkpoint: str, benchmark: str, scores: list[float], categories=None) -> pl.DataFrame:
    samples = pl.DataFrame(
        [
            {
                "checkpoint": checkpoint,
                "benchmark": benchmark,
                "item_id": f"i{i}",
                "sample_idx": 0,
                "response": "",
                "score": s,
                "tokens": 10 * (i + 1),
                "truncated": False,
                "think_closed": True,
                "details": json.dumps({"category": categories[i]}) if categories else None,
            }
            for i, s in enumerate(scores)
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )
    return summarize(samples, KINDS)


def _history(client, run_id, name):
    return [(m.step, m.value) for m in client.get_metric_history(run_id, name)]


@pytest.mark.parametrize(
    "report_to, expected",
    [
        (None, False),
        ("none", False),
        ("tensorboard", False),
        (["tensorboard"], False),
        ([], False),
        ("mlflow", True),
        (["tensorboard", "mlflow"], True),
        ("all", True),
    ],  # mlflow is installed here
)
def test_evaluation_tracks_only_where_training_reports_to_mlflow(report_to, expected):
    assert reports_to_mlflow(report_to) is expected


@pytest.mark.parametrize(
    "benchmark, metric, expected",
    [
        ("math500", "pass@1", "eval/math500/pass_at_1"),
        ("hex-phi", "harmfulness_rate/category_1", "eval/hex-phi/harmfulness_rate/category_1"),
        ("mmlu-pro", "accuracy_computer_science", "eval/mmlu-pro/accuracy_computer_science"),
        ("x", "odd(metric)", "eval/x/odd_metric_"),
    ],
)
def test_metric_names_are_ones_mlflow_accepts(benchmark, metric, expected):
    assert metric_name(benchmark, metric) == expected


def test_a_cell_gives_every_metric_with_a_value_and_its_mean_length():
    table = _cell(f"{RUN}@step-00010", "harm", [5.0, 1.0, None], categories=["fraud", "fraud", "malware"])
    assert cell_metrics(table) == {
        "eval/harm/harmfulness_rate": 0.5,
        "eval/harm/judge_score": 3.0,
        "eval/harm/harmfulness_rate/fraud": 0.5,
        "eval/harm/mean_tokens": 20.0,  # malware: nothing judged, so no rate rather than 0
    }


def test_each_checkpoints_cells_land_in_the_training_run_at_its_step(store):
    client, warnings = store["client"], []
    for step, score in ((0, 0.0), (10, 1.0), (20, 0.5)):
        for benchmark in ("math500", "harm"):
            scores = [score, 1.0] if benchmark == "math500" else [5.0, 1.0]
            location = log_cell(
                client,
                _cell(f"{RUN}@step-{step:05d}", benchmark, scores),
                f"{RUN}@step-{step:05d}",
                warn=warnings.append,
            )
            assert location == f"{client.tracking_uri} (experiment {store['experiment']}, run {store['run']})"
    assert warnings == []
    assert _history(client, store["run"], "eval/math500/pass_at_1") == [(0, 0.5), (10, 1.0), (20, 0.75)]
    assert [s for s, _ in _history(client, store["run"], "eval/harm/harmfulness_rate")] == [0, 10, 20]
    assert len(_history(client, store["run"], "loss")) == 20  # the training curve untouched, beside them
    assert client.get_run(store["other"]).data.metrics == {}  # another training run gets nothing


def test_a_resumed_training_run_gets_its_eval_metrics_in_its_newest_mlflow_run(store):
    client = store["client"]
    resumed = client.create_run(store["experiment"], run_name=RUN)
    log_cell(client, _cell(f"{RUN}@step-00030", "math500", [1.0]), f"{RUN}@step-00030", warn=print)
    assert _history(client, resumed.info.run_id, "eval/math500/pass_at_1") == [(30, 1.0)]
    assert _history(client, store["run"], "eval/math500/pass_at_1") == []


@pytest.mark.parametrize(
    "checkpoint, experiment, warned",
    [
        ("s2__math-cot@step-00010", None, "no MLflow run named 's2__math-cot'"),
        (f"{RUN}@step-00010", "another-experiment", f"no MLflow run named '{RUN}'"),
    ],
)
def test_a_checkpoint_without_a_tracked_training_run_is_a_warning_not_an_error(store, checkpoint, experiment, warned):
    warnings = []
    table = _cell(checkpoint, "math500", [1.0])
    assert log_cell(store["client"], table, checkpoint, warn=warnings.append, experiment=experiment) is None
    assert len(warnings) == 1 and warned in warnings[0]
    assert _history(store["client"], store["run"], "eval/math500/pass_at_1") == []


def test_runs_in_mlflows_default_experiment_are_found_when_none_is_named(empty_store, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    client = _client(empty_store, tmp_path)
    trained = client.create_run("0", run_name=RUN)
    assert log_cell(client, _cell(f"{RUN}@step-00010", "math500", [1.0]), f"{RUN}@step-00010", warn=print)
    assert _history(client, trained.info.run_id, "eval/math500/pass_at_1") == [(10, 1.0)]


def test_an_unreachable_tracking_server_costs_a_warning_not_the_evaluation(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    warnings = []
    client = mlflow_client(f"http://127.0.0.1:{port}")
    assert (
        log_cell(client, _cell(f"{RUN}@step-00010", "math500", [1.0]), f"{RUN}@step-00010", warn=warnings.append)
        is None
    )
    assert len(warnings) == 1 and "not logged to MLflow" in warnings[0]
