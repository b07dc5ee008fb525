"""Training under torchrun, started by the local launcher: two CPU ranks (gloo) train the tiny
student, save checkpoints, and a second launch resumes from the last one.

On CPU the HF Trainer runs both parallelisms as plain data parallel (accelerate has no FSDP on
CPU), so the ``fsdp`` launch here proves the launcher, torchrun, the program's ranks and the
checkpoint/resume path with that setting; FSDP2's sharding itself on two gloo ranks launched by
the same torchrun command is ``test_fsdp_cpu.py``'s.
"""

import json

import polars as pl
import pytest
from dagster import asset, materialize

from resources.launchers.compute import ComputeLauncher
from resources.launchers.local import LocalSubprocessLauncher, local_command
from workloads.training.tiny_model import build_tiny_model
from workloads.verification.countdown_rule import countdown_prompt, solver_response

pytestmark = pytest.mark.slow  # two ranks importing transformers and TRL, twice per parallelism

TASKS = [([3, 5, 7], 22), ([2, 4, 6], 14), ([9, 1, 2], 19), ([8, 3, 4], 44)] * 2
TRAINING = dict(
    learning_rate=1e-3,
    lr_scheduler="cosine",
    warmup_ratio=0.0,
    weight_decay=0.0,
    adam_beta1=0.9,
    adam_beta2=0.999,
    max_grad_norm=1.0,
    global_batch_size=4,
    per_device_batch_size=1,
    max_length=256,
    bf16=False,
    gradient_checkpointing=False,
    save_every=1,
)


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchrun")
    messages = [
        [{"role": "user", "content": countdown_prompt(n, t)}, {"role": "assistant", "content": solver_response(n, t)}]
        for n, t in TASKS
    ]
    pl.DataFrame({"messages": messages}).write_parquet(root / "data.parquet")
    return root, build_tiny_model(root / "model", [m["content"] for conv in messages for m in conv])


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
