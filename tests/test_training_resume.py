"""A run killed midway resumes from its last full checkpoint and ends where an uninterrupted run
ends: same steps, same weights, every checkpoint announced once."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.training_helpers import TRAINING, countdown_student
from workloads.core.artifacts import COMPLETE_MARKER
from workloads.programs.train import train
from workloads.training.checkpoints import RESUME_STATE_FILES, RunFolder

CONFIG = {
    **TRAINING,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "epochs": 3,
    "per_device_batch_size": 2,
    "save_every": 2,
}


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    return root, countdown_student(root)


def _extras(root, model_dir, name):
    return {
        "training": CONFIG,
        "run": name,
        "dataset": "countdown-cot",
        "dataset_path": str(root / "data.parquet"),
        "model_dir": str(model_dir),
        "output_dir": str(root / name),
        "seed": 0,
    }


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_killed_run_resumes_and_matches_an_uninterrupted_run(setup):
    root, model_dir = setup
    reference = train(_extras(root, model_dir, "straight"), announce=lambda r: None, log=print)

    def die_after_step_2(record):
        if record["step"] == 2:
            raise Killed()

    with pytest.raises(Killed):
        train(_extras(root, model_dir, "killed"), announce=die_after_step_2, log=print)
    announced = []
    resumed = train(_extras(root, model_dir, "killed"), announce=announced.append, log=print)

    assert resumed["resumed_from"] == "checkpoint-2"
    assert resumed["steps"] == reference["steps"] == 6
    assert [r["step"] for r in announced] == [4, 6]
    manifest = [json.loads(line) for line in (root / "killed" / "checkpoints.jsonl").read_text().splitlines()]
    assert [r["step"] for r in manifest] == [2, 4, 6]
    straight, killed = _weights(root / "straight" / "checkpoint-6"), _weights(root / "killed" / "checkpoint-6")
    for name, tensor in straight.items():
        torch.testing.assert_close(killed[name], tensor, rtol=1e-4, atol=1e-5, msg=name)


def test_only_the_latest_checkpoint_keeps_optimizer_state(setup):
    root, model_dir = setup
    train(_extras(root, model_dir, "pruned"), announce=lambda r: None, log=print)
    folders = sorted((root / "pruned").glob("checkpoint-*"), key=lambda f: int(f.name.split("-")[1]))
    assert [f.name for f in folders] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    for folder in folders[:-1]:
        assert (folder / "model.safetensors").exists()
        assert not any((folder / name).exists() for name in RESUME_STATE_FILES), folder.name
    assert all((folders[-1] / name).exists() for name in RESUME_STATE_FILES)
    assert list((root / "pruned" / "runs").iterdir()), "TensorBoard logs are written"


def test_a_run_on_object_storage_resumes_from_the_published_checkpoint(setup, s3_server):
    from workloads.core import artifacts

    root, model_dir = setup
    location = f"s3://{s3_server['bucket']}/training/run"
    extras = {**_extras(root, model_dir, "remote"), "output_dir": location}

    def die_after_step_4(record):
        if record["step"] == 4:
            raise Killed()

    with pytest.raises(Killed):
        train(extras, announce=die_after_step_4, log=print)
    summary = train(extras, announce=lambda r: None, log=print)  # a fresh scratch folder, like a new pod

    assert summary["resumed_from"] == "checkpoint-4" and summary["steps"] == 6
    assert artifacts.list_folders(location) == ["checkpoint-2", "checkpoint-4", "checkpoint-6", "runs"]
    for step, full in ((2, False), (4, False), (6, True)):
        names = artifacts.list_names(f"{location}/checkpoint-{step}")
        assert artifacts.COMPLETE_MARKER in names and "model.safetensors" in names
        assert ("optimizer.pt" in names) is full, step
    manifest = [
        json.loads(line) for line in artifacts.read_bytes(f"{location}/checkpoints.jsonl").decode().splitlines()
    ]
    assert [(r["step"], r["uri"]) for r in manifest] == [(s, f"{location}/checkpoint-{s}") for s in (2, 4, 6)]
    assert artifacts.exists(f"{location}/log_history.json")


@pytest.mark.parametrize("kill_point", ["publish_checkpoint", "announce"])
def test_a_checkpoint_saved_but_not_announced_is_announced_on_resume(setup, monkeypatch, kill_point):
    """Killed after the trainer saved step 2 but before the manifest had it (before publishing it,
    or between publishing and the manifest line): the next run finds it and announces it."""
    root, model_dir = setup
    name = f"window-{kill_point}"
    original = getattr(RunFolder, kill_point)

    def killed_at_step_2(self, *args):
        step = args[0] if kill_point == "publish_checkpoint" else args[0]["step"]
        if step == 2:
            raise Killed()
        return original(self, *args)

    monkeypatch.setattr(RunFolder, kill_point, killed_at_step_2)
    with pytest.raises(Killed):
        train(_extras(root, model_dir, name), announce=lambda r: None, log=print)
    monkeypatch.setattr(RunFolder, kill_point, original)
    assert not (root / name / "checkpoints.jsonl").exists()

    announced = []
    summary = train(_extras(root, model_dir, name), announce=announced.append, log=print)

    assert summary["resumed_from"] == "checkpoint-2"
    assert [r["step"] for r in announced] == [2, 4, 6]
    manifest = [json.loads(line) for line in (root / name / "checkpoints.jsonl").read_text().splitlines()]
    assert [r["step"] for r in manifest] == [2, 4, 6]
    assert manifest[0]["train_loss"] is not None and manifest[0]["tokens_seen"] > 0
    assert (root / name / "checkpoint-2" / COMPLETE_MARKER).exists()
