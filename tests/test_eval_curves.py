"""Eval curves beside the loss in TensorBoard (the default tracker) and W&B: each finished cell's
metrics land in the training run's own TensorBoard folder at the checkpoint's step, read back here
from the event files as TensorBoard reads them; W&B through a stand-in module (it is not installed)."""

import json
import sys
import types

import polars as pl
import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from workloads.core.tracking import EVAL_TENSORBOARD_RUN, log_curves, reports_to
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize

RUN = "s1__math-cot"
KINDS = {"math500": "math", "harm": "safety-judge"}


def _cell(checkpoint: str, benchmark: str, scores: list[float]) -> pl.DataFrame:
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
                "details": json.dumps({"category": "fraud"}),
            }
            for i, s in enumerate(scores)
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )
    return summarize(samples, KINDS)


def _training_logs(logdir, steps):
    """The training loss as transformers' TensorBoard callback leaves it: a run folder of its own."""
    writer = EventFileWriter(str(logdir / "Dec06_03-00-00_trainer"))
    for step in steps:
        loss = Summary(value=[Summary.Value(tag="train/loss", simple_value=2.0 / (step + 1))])
        writer.add_event(Event(wall_time=1.0, step=step, summary=loss))
    writer.close()


def _scalars(logdir) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Every run's scalars under ``logdir``, read as `tensorboard --logdir` reads them."""
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return {
        run: {
            tag: [(e.step, round(e.value, 6)) for e in multiplexer.Scalars(run, tag)]
            for tag in multiplexer.GetAccumulator(run).Tags()["scalars"]
        }
        for run in multiplexer.Runs()
    }


@pytest.mark.parametrize(
    "report_to, tensorboard, wandb",
    [
        (None, True, False),  # unset: the training workload's default, TensorBoard
        ("none", False, False),
        ("mlflow", False, False),
        (["tensorboard", "mlflow"], True, False),
        ("wandb", False, True),
        ("all", True, False),  # tensorboard is installed here, wandb is not
    ],
)
def test_the_trackers_training_reports_to(report_to, tensorboard, wandb):
    assert reports_to(report_to, "tensorboard") is tensorboard
    assert reports_to(report_to, "wandb") is wandb


def test_eval_scalars_land_in_the_training_runs_tensorboard_folder_at_checkpoint_steps(tmp_path):
    logdir = tmp_path / "runs" / RUN / "runs"
    _training_logs(logdir, range(1, 21))
    warnings = []
    for step, score in ((0, 0.0), (10, 1.0), (20, 0.5)):
        checkpoint = f"{RUN}@step-{step:05d}"
        for benchmark, scores in (("math500", [score, 1.0]), ("harm", [5.0, 1.0])):
            table = _cell(checkpoint, benchmark, scores)
            found = log_curves(table, checkpoint, None, str(logdir), warn=warnings.append)
            assert found["tensorboard"].startswith(f"{logdir}/{EVAL_TENSORBOARD_RUN}/events.out.tfevents.")
    assert warnings == []
    scalars = _scalars(logdir)
    assert set(scalars) == {"Dec06_03-00-00_trainer", EVAL_TENSORBOARD_RUN}
    evaluation = scalars[EVAL_TENSORBOARD_RUN]
    assert evaluation["eval/math500/pass_at_1"] == [(0, 0.5), (10, 1.0), (20, 0.75)]
    assert evaluation["eval/math500/mean_tokens"] == [(0, 15.0), (10, 15.0), (20, 15.0)]
    assert [s for s, _ in evaluation["eval/harm/harmfulness_rate"]] == [0, 10, 20]
    assert all(tag.startswith("eval/") for tag in evaluation)
    # The loss stays in the training's own run, on the same step axis.
    assert len(scalars["Dec06_03-00-00_trainer"]["train/loss"]) == 20


def test_nothing_is_written_where_training_does_not_report_to_tensorboard(tmp_path):
    logdir = tmp_path / "runs"
    checkpoint = f"{RUN}@step-00010"
    assert log_curves(_cell(checkpoint, "math500", [1.0]), checkpoint, ["mlflow"], str(logdir), warn=print) == {}
    assert not logdir.exists()


def test_an_unwritable_log_folder_costs_a_warning_not_the_evaluation(tmp_path):
    blocked = tmp_path / "runs"
    blocked.write_text("a file where the folder should be")
    warnings = []
    checkpoint = f"{RUN}@step-00010"
    assert log_curves(_cell(checkpoint, "math500", [1.0]), checkpoint, None, str(blocked), warn=warnings.append) == {}
    assert len(warnings) == 1 and "not written to TensorBoard" in warnings[0]


class FakeWandb(types.ModuleType):
    """The parts of wandb the tracker uses: the public API's run search and resuming a run by id."""

    class Error(Exception):
        pass

    def __init__(self, runs: dict[str, list[str]]):
        super().__init__("wandb")
        self.runs = runs  # display name -> ids, oldest first
        self.searched, self.logged, self.finished = [], [], []
        fake = self

        class Api:
            def runs(self, path, filters):
                fake.searched.append((path, filters))
                ids = fake.runs.get(filters["display_name"], [])
                return [
                    types.SimpleNamespace(id=i, created_at=f"2026-12-0{n + 1}T00:00:00", url=f"https://wandb/{i}")
                    for n, i in reversed(list(enumerate(ids)))
                ]

        self.Api = Api

    def init(self, *, id, project, entity, resume):
        if resume != "must":
            raise AssertionError("the training run is resumed, never a new run started")
        fake = self

        class Live:
            def define_metric(self, name, step_metric):
                fake.logged.append(("define", name, step_metric))

            def log(self, values):
                fake.logged.append((id, values))

            def finish(self):
                fake.finished.append(id)

        return Live()


@pytest.fixture
def fake_wandb(monkeypatch):
    fake = FakeWandb({RUN: ["first", "resumed"]})
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_PROJECT", "reasoning-sft")
    monkeypatch.setenv("WANDB_ENTITY", "lab")
    return fake


def test_wandb_gets_the_cells_metrics_in_the_newest_training_run_on_its_step_axis(fake_wandb, tmp_path):
    checkpoint = f"{RUN}@step-00010"
    found = log_curves(_cell(checkpoint, "math500", [1.0, 0.0]), checkpoint, ["wandb"], str(tmp_path), warn=print)
    assert found == {"wandb": "https://wandb/resumed"}
    assert fake_wandb.searched == [("lab/reasoning-sft", {"display_name": RUN})]
    assert fake_wandb.logged == [
        ("define", "eval/*", "train/global_step"),
        ("resumed", {"train/global_step": 10, "eval/math500/pass_at_1": 0.5, "eval/math500/mean_tokens": 15.0}),
    ]
    assert fake_wandb.finished == ["resumed"]
    assert not (tmp_path / EVAL_TENSORBOARD_RUN).exists()  # wandb alone: no TensorBoard file


def test_a_checkpoint_without_a_wandb_run_is_a_warning(fake_wandb):
    warnings = []
    checkpoint = "s2__math-cot@step-00010"
    assert log_curves(_cell(checkpoint, "math500", [1.0]), checkpoint, "wandb", None, warn=warnings.append) == {}
    assert len(warnings) == 1 and "no W&B run named 's2__math-cot'" in warnings[0]
    assert fake_wandb.logged == []
