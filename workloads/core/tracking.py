"""Evaluation metrics in the experiment trackers the training run reports to, so a user sees the eval
curves next to the training loss, at the checkpoint's step: TensorBoard (the default; an event file
in the training run's own log folder), MLflow and W&B where the recipe's ``training.report_to``
names them (each logs into the training run's own run there).

The training workload names its MLflow run after the study's run (``<student>__<dataset>``), and
both sides read the store and experiment from the same environment (``MLFLOW_TRACKING_URI``,
``MLFLOW_EXPERIMENT_NAME``), which the launcher gives every workload alike. A resumed training run
starts a new MLflow run of the same name; evaluation logs into the newest.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
import time
from pathlib import Path

import polars as pl

from workloads.core.artifacts import write_bytes
from workloads.core.naming import parse_checkpoint_key

DEFAULT_EXPERIMENT_ID = "0"  # MLflow's "Default" experiment, where runs go when none is named
WANDB_DEFAULT_PROJECT = "huggingface"  # where transformers' W&B callback puts runs when WANDB_PROJECT is unset


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


EVAL_TENSORBOARD_RUN = "evaluation"  # the eval curves' TensorBoard run, beside the training's under <run folder>/runs


def report_names(report_to: str | list[str] | None) -> list[str]:
    """The trackers ``report_to`` names; unset is TensorBoard, the training workload's default
    (``workloads.training.config``)."""
    if report_to is None:
        return ["tensorboard"]
    return [report_to] if isinstance(report_to, str) else list(report_to)


def reports_to(report_to: str | list[str] | None, tracker: str) -> bool:
    """Whether training reports to ``tracker`` (``all``: every integration that is installed)."""
    names = report_names(report_to)
    if "all" in names:
        return importlib.util.find_spec(tracker) is not None
    return tracker in names


def log_tensorboard(table: pl.DataFrame, checkpoint: str, logdir: str) -> str:
    """Writes a cell's metrics (:func:`cell_metrics`) as TensorBoard scalars at the checkpoint's step,
    in an event file of its own under ``logdir/evaluation``: ``tensorboard --logdir <run folder>/runs``
    shows them beside the training loss, on the same step axis. Returns the event file's location."""
    # tensorboard comes with the workloads extra; the orchestrator imports this module without it.
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    _, step = parse_checkpoint_key(checkpoint)
    values = [Summary.Value(tag=name, simple_value=value) for name, value in cell_metrics(table).items()]
    with tempfile.TemporaryDirectory(prefix="tensorboard-") as scratch:
        # Written locally, then copied whole: a run folder in object storage takes no appends.
        writer = EventFileWriter(scratch, filename_suffix=f".{step}")
        writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))
        writer.close()
        (written,) = Path(scratch).iterdir()
        location = f"{logdir.rstrip('/')}/{EVAL_TENSORBOARD_RUN}/{written.name}"
        write_bytes(location, written.read_bytes())
    return location


def log_wandb(table: pl.DataFrame, checkpoint: str, *, warn) -> str | None:
    """Logs a cell's metrics into the newest W&B run named after the checkpoint's training run (as
    transformers' callback names it), at the checkpoint's step on the training step axis
    (``train/global_step``), and returns the run's page; a missing run or a failing service costs a
    ``warn`` line and None. Project and entity come from ``WANDB_PROJECT`` and ``WANDB_ENTITY``, as
    for training."""
    import wandb  # optional: only a recipe whose training reports to W&B installs it

    run, step = parse_checkpoint_key(checkpoint)
    project = os.environ.get("WANDB_PROJECT", WANDB_DEFAULT_PROJECT)
    entity = os.environ.get("WANDB_ENTITY")
    try:
        found = wandb.Api().runs(f"{entity}/{project}" if entity else project, filters={"display_name": run})
        found = sorted(found, key=lambda r: r.created_at)
        if not found:
            warn(f"{checkpoint}: no W&B run named {run!r} in project {project!r} to log eval metrics into")
            return None
        target = found[-1]
        live = wandb.init(id=target.id, project=project, entity=entity, resume="must")
        try:
            live.define_metric("eval/*", step_metric="train/global_step")
            live.log({"train/global_step": step, **cell_metrics(table)})
        finally:
            live.finish()
    except wandb.Error as err:
        warn(f"{checkpoint}: eval metrics not logged to W&B: {err}")
        return None
    return target.url


def log_curves(
    table: pl.DataFrame, checkpoint: str, report_to: str | list[str] | None, tensorboard_dir: str | None, *, warn
) -> dict[str, str]:
    """A finished cell's metrics in the trackers training reports to besides MLflow (:func:`log_cell`):
    TensorBoard (the default) into the training run's log folder ``tensorboard_dir``, and W&B where
    ``report_to`` names it. Returns where each went. A tracker that fails costs a ``warn`` line, never
    the evaluation: the cell's table is written first."""
    found = {}
    if tensorboard_dir and reports_to(report_to, "tensorboard"):
        try:
            found["tensorboard"] = log_tensorboard(table, checkpoint, tensorboard_dir)
        except OSError as err:
            warn(f"{checkpoint}: eval metrics not written to TensorBoard under {tensorboard_dir}: {err}")
    if reports_to(report_to, "wandb"):
        page = log_wandb(table, checkpoint, warn=warn)
        if page:
            found["wandb"] = page
    return found
