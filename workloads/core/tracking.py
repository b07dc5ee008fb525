"""Evaluation metrics in the experiment tracker the training run reports to, so a user sees the eval
curves next to the training loss: each eval cell's metrics are logged into the training run's
MLflow run at the checkpoint's step. Off unless the recipe's ``training.report_to`` names MLflow.

The training workload names its MLflow run after the study's run (``<student>__<dataset>``), and
both sides read the store and experiment from the same environment (``MLFLOW_TRACKING_URI``,
``MLFLOW_EXPERIMENT_NAME``), which the launcher gives every workload alike. A resumed training run
starts a new MLflow run of the same name; evaluation logs into the newest.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time

import polars as pl

from workloads.core.naming import parse_checkpoint_key

DEFAULT_EXPERIMENT_ID = "0"  # MLflow's "Default" experiment, where runs go when none is named


def reports_to_mlflow(report_to: str | list[str] | None) -> bool:
    """Whether a training section's ``report_to`` (as ``transformers`` reads it: one name, a list,
    ``all`` for every installed integration, ``none``) includes MLflow."""
    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "all" in names:
        return importlib.util.find_spec("mlflow") is not None
    return "mlflow" in names


def mlflow_client(tracking_uri: str | None = None):
    """A client of the store ``tracking_uri`` names (default: ``MLFLOW_TRACKING_URI``, else
    MLflow's own default)."""
    try:
        import mlflow
    except ImportError as err:
        raise ImportError(
            "training.report_to includes mlflow, but mlflow is not installed where evaluation runs: "
            "add the `tracking` extra to the workload image"
        ) from err
    return mlflow.MlflowClient(tracking_uri or mlflow.get_tracking_uri())


def metric_name(benchmark: str, metric: str) -> str:
    """``eval/<benchmark>/<metric>`` in the characters MLflow accepts (``pass@1`` -> ``pass_at_1``)."""
    return re.sub(r"[^\w.\- :/]", "_", f"eval/{benchmark}/{metric}".replace("@", "_at_"))


def cell_metrics(table: pl.DataFrame) -> dict[str, float]:
    """A cell's eval table (``workloads.evaluation.metrics.summarize``) as tracker metrics: every metric with a
    value, and the cell's mean response length (length curves read beside score curves)."""
    found = {}
    for row in table.iter_rows(named=True):
        if row["mean"] is not None:
            found[metric_name(row["benchmark"], row["metric"])] = float(row["mean"])
        found[metric_name(row["benchmark"], "mean_tokens")] = float(row["mean_tokens"])
    return found


def training_run(client, run: str, experiment: str | None = None):
    """The newest MLflow run named ``run`` in ``experiment`` (a name; default: ``MLFLOW_EXPERIMENT_NAME``,
    else ``MLFLOW_EXPERIMENT_ID``, else MLflow's default experiment); None when there is none."""
    if "'" in run:
        raise ValueError(f"run name {run!r}: a quote cannot be searched for")
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return None
        experiment_id = found.experiment_id
    else:
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID", DEFAULT_EXPERIMENT_ID)
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.run_name = '{run}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def run_location(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Where a user finds a run: its page on a tracking server, or the local store and its ids
    (which ``mlflow ui --backend-store-uri <store>`` opens)."""
    uri = tracking_uri.rstrip("/")
    if uri.startswith(("http://", "https://")):
        return f"{uri}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{uri} (experiment {experiment_id}, run {run_id})"


def log_cell(client, table: pl.DataFrame, checkpoint: str, *, warn, experiment: str | None = None) -> str | None:
    """Logs a cell's metrics (:func:`cell_metrics`) into the MLflow run of the checkpoint's training
    run, at the checkpoint's step (0 for the untrained student), and returns that run's location.
    A training run without an MLflow run, or a tracker that fails, costs a ``warn`` line and None,
    never the evaluation: the cell's table is written first."""
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    run, step = parse_checkpoint_key(checkpoint)
    try:
        target = training_run(client, run, experiment)
        if target is None:
            warn(
                f"{checkpoint}: no MLflow run named {run!r} to log eval metrics into (did its training "
                "report to MLflow, in the same store and experiment?)"
            )
            return None
        now = int(time.time() * 1000)
        client.log_batch(
            target.info.run_id, metrics=[Metric(name, value, now, step) for name, value in cell_metrics(table).items()]
        )
    except MlflowException as err:
        warn(f"{checkpoint}: eval metrics not logged to MLflow: {err}")
        return None
    return run_location(client.tracking_uri, target.info.experiment_id, target.info.run_id)
