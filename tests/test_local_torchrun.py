"""Training under torchrun, started by the local launcher: two CPU ranks (gloo) train the tiny
student, save checkpoints, and a second launch resumes from the last one.

On CPU the HF Trainer runs both parallelisms as plain data parallel (accelerate has no FSDP on
CPU), so the ``fsdp`` launch here proves the launcher, torchrun, the program's ranks and the
checkpoint/resume path with that setting; FSDP2's sharding itself on two gloo ranks launched by
the same torchrun command is ``test_fsdp_cpu.py``'s.
"""

import json

import pytest
from dagster import asset, materialize

from resources.launchers.compute import ComputeLauncher
from resources.launchers.local import LocalSubprocessLauncher, local_command
from tests.training_helpers import TRAINING, countdown_student

pytestmark = pytest.mark.slow  # two ranks importing transformers and TRL, twice per parallelism


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchrun")
    return root, countdown_student(root)


def _train(root, model_dir, parallelism: str, epochs: int) -> dict:
    extras = {
        "training": {**TRAINING, "epochs": epochs, "parallelism": parallelism},
        "run": f"tiny-{parallelism}",
        "dataset": "countdown-cot",
        "dataset_path": str(root / "data.parquet"),
        "model_dir": str(model_dir),
        "output_dir": str(root / parallelism),
        "seed": 0,
        "parallelism": parallelism,
    }
    reported = {}

    @asset
    def sft(context, launcher: ComputeLauncher):
        result = launcher.run(context, "train", extras).get_materialize_result()
        reported.update(result.metadata)
        return result

    result = materialize([sft], resources={"launcher": LocalSubprocessLauncher(cpu_train_processes=2)})
    assert result.success
    return {k: v.value for k, v in reported.items()}


def test_the_launcher_runs_training_as_torchrun_ranks():
    assert local_command("py", "workloads.programs.train", 1) == ["py", "-m", "workloads.programs.train"]
    assert local_command("py", "workloads.programs.train", 8) == [
        *("py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "8"),
        *("-m", "workloads.programs.train"),
    ]


@pytest.mark.parametrize("parallelism", ["ddp", "fsdp"])
def test_two_cpu_ranks_train_checkpoint_and_resume(student, parallelism):
    root, model_dir = student
    first = _train(root, model_dir, parallelism, epochs=1)
    # 8 examples, 4 a step: two steps, a checkpoint after each; each rank saved its own RNG state.
    assert first["steps"] == 2 and first["resumed_from"] is None
    run = root / parallelism
    assert {p.name for p in run.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    assert {p.name for p in (run / "checkpoint-2").glob("rng_state*")} == {"rng_state_0.pth", "rng_state_1.pth"}

    resumed = _train(root, model_dir, parallelism, epochs=2)
    assert resumed["resumed_from"] == "checkpoint-2" and resumed["steps"] == 4
    manifest = [json.loads(line) for line in (run / "checkpoints.jsonl").read_text().splitlines()]
    assert [r["step"] for r in manifest] == [1, 2, 3, 4]  # rank 0 alone announced each checkpoint once
