"""What a local machine chooses from its GPUs (mocked: 8 × H100 80 GB, 1 × A10G 24 GB, CPU only),
and a training run refused, with the plan's numbers, where the student cannot fit the GPUs."""

import dataclasses
import json
import os

import pytest
from dagster import DagsterInstance, asset, materialize

from orchestration.environments import local_resources
from recipe_schema.errors import FieldProblem
from recipe_schema.student_plans import local_training_layout
from resources.launchers.compute import ComputeLauncher
from resources.launchers.devices import Machine, restrict
from resources.launchers.machine_settings import choose_settings
from workloads.core.hardware import Gpu, parse_gpu_list
from workloads.planning.memory_plan import KNOWN_SHAPES

# As nvidia-smi lists them (MiB).
H100X8 = parse_gpu_list("\n".join(f"{i}, NVIDIA H100 80GB HBM3, 81559" for i in range(8)))
A10G = parse_gpu_list("0, NVIDIA A10G, 23028")
ENV = ("STUDY_JUDGE_BASE_URL", "STUDY_GPUS", "STUDY_TRAIN_GPUS", "STUDY_EVAL_TENSOR_PARALLEL")


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch):
    for name in ENV + ("STUDY_TEACHER_TENSOR_PARALLEL",):
        monkeypatch.delenv(name, raising=False)


def test_eight_h100s_run_graph_engines_on_devices_of_their_own():
    resources = local_resources(Machine(tuple(H100X8)))
    launcher, engine, judge = resources["launcher"], resources["eval_endpoint"], resources["judge_endpoint"]
    assert launcher.devices == list(range(8)) and launcher.gpu_memory_gib == 79.6
    assert launcher.gpus_for("train", 1) == 8  # training takes every GPU, one torchrun rank each
    assert launcher.gpus_for("evaluate", 1) == 1 and launcher.gpus_for("verify", 0) == 0
    settings = engine.settings(model="m", max_model_len=4096)
    assert settings["enforce_eager"] is False and settings["gpu_memory_utilization"] == 0.9
    assert settings["tensor_parallel_size"] == 1
    assert resources["teacher_endpoint"].enforce_eager is False
    # The judge's server gets a device of its own, leased with its engine's, and fills it.
    assert (judge.devices, judge.share_device, judge.engine_gpus) == (list(range(8)), False, 1)
    assert judge.enforce_eager is False and judge.memory_utilization == 0.9
    chosen = choose_settings(Machine(tuple(H100X8)), external_judge=False)
    assert chosen.pools == {"inference": 8, "training": 1}
    assert "8 × NVIDIA H100 80GB HBM3 (79.6 GiB)" in chosen.describe()[0]


def test_tensor_parallel_groups_and_training_runs_side_by_side(monkeypatch):
    monkeypatch.setenv("STUDY_EVAL_TENSOR_PARALLEL", "2")
    monkeypatch.setenv("STUDY_TRAIN_GPUS", "4")
    resources = local_resources(Machine(tuple(H100X8)))
    assert resources["eval_endpoint"].tensor_parallel_size == 2
    assert resources["launcher"].gpus_for("train", 8) == 4
    assert resources["judge_endpoint"].engine_gpus == 2
    chosen = choose_settings(Machine(tuple(H100X8)), external_judge=False, eval_tp=2, train_gpus=4)
    assert chosen.pools == {"inference": 4, "training": 2}
    with pytest.raises(ValueError, match="STUDY_EVAL_TENSOR_PARALLEL=3"):
        choose_settings(Machine(tuple(H100X8)), external_judge=False, eval_tp=3)


def test_one_a10g_shares_its_gpu_with_a_local_judge_and_says_so(monkeypatch, tmp_path):
    from resources.launchers.devices import LOCK_DIR_ENV, leased

    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    resources = local_resources(Machine(tuple(A10G)))
    engine, judge = resources["eval_endpoint"], resources["judge_endpoint"]
    assert engine.enforce_eager is False and judge.enforce_eager is False
    assert engine.settings(model="m", max_model_len=4096)["gpu_memory_utilization"] == 0.9  # alone on the GPU
    assert judge.share_device and judge.devices == [0]
    with judge._judge_device() as server_env:
        # While the judge's server runs on the one GPU, both are sized for it: never two engines
        # each sized to fill the device; and the engine runs on the device the judge's step leased.
        shared = engine.settings(model="m", max_model_len=4096)["gpu_memory_utilization"]
        assert server_env == {"CUDA_VISIBLE_DEVICES": "0"}
        assert shared + judge.memory_utilization <= 0.9 and shared == 0.55
        with leased([0], 1, "its engine", timeout_s=0.5) as lease:
            assert lease.devices == [0]
    assert engine.settings(model="m", max_model_len=4096)["gpu_memory_utilization"] == 0.9
    chosen = choose_settings(Machine(tuple(A10G)), external_judge=False)
    assert "judge: shares the GPU" in "\n".join(chosen.describe())
    assert chosen.pools == {"inference": 1, "training": 1}
    monkeypatch.setenv("STUDY_JUDGE_BASE_URL", "http://judge.example/v1")
    external = local_resources(Machine(tuple(A10G)))
    assert not external["judge_endpoint"].share_device and external["judge_endpoint"].base_url


def test_a_judge_on_a_machine_of_several_gpus_leases_its_own_device_with_its_engines(monkeypatch, tmp_path):
    from resources.launchers.devices import LOCK_DIR_ENV, holders, leased

    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    resources = local_resources(Machine(tuple(H100X8[:2])))
    judge, engine = resources["judge_endpoint"], resources["eval_endpoint"]
    with judge._judge_device() as server_env:
        assert server_env == {"CUDA_VISIBLE_DEVICES": "0"}
        assert all(holders([0, 1]).values())  # both leased at once: the judge's and its engine's
        assert engine.settings(model="m", max_model_len=4096)["gpu_memory_utilization"] == 0.9
        with leased([0, 1], 1, "its engine", timeout_s=0.5) as lease:
            assert lease.devices == [1]
    assert not any(holders([0, 1]).values())


def test_a_cpu_machine_keeps_the_settings_the_small_recipe_ran_with():
    resources = local_resources(Machine())
    launcher, engine, judge = resources["launcher"], resources["eval_endpoint"], resources["judge_endpoint"]
    assert launcher.devices == [] and launcher.gpus_for("train", 1) == 1 and launcher.cpu_train_processes == 1
    assert engine.enforce_eager is True and engine.memory_utilization == 0.3 and engine.tensor_parallel_size == 1
    assert judge.devices == [] and judge.enforce_eager is True and judge.memory_utilization == 0.3


def test_study_gpus_restricts_the_machine():
    machine = restrict(H100X8, "4,5,6,7")
    resources = local_resources(machine)
    assert resources["launcher"].devices == [4, 5, 6, 7]
    assert choose_settings(machine, external_judge=True).pools["inference"] == 4


def _student(tmp_path, name: str):
    folder = tmp_path / name.replace("/", "_")
    folder.mkdir()
    config = {**dataclasses.asdict(KNOWN_SHAPES[name]), "model_type": "qwen3"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _extras(folder, parallelism="auto", max_length=16384) -> dict:
    training = {"parallelism": parallelism, "max_length": max_length, "per_device_batch_size": 1}
    return {"run": "student-on-data", "model_dir": str(folder), "training": training}


def test_the_local_plan_picks_the_parallelism_that_fits_these_gpus(tmp_path):
    small, large = _student(tmp_path, "Qwen/Qwen3-1.7B-Base"), _student(tmp_path, "Qwen/Qwen3-8B-Base")
    assert local_training_layout(_extras(small), 8, 79.6) == "ddp"
    assert local_training_layout(_extras(large), 8, 79.6) == "fsdp"  # a whole 8B replica's states: 120 GiB
    assert local_training_layout(_extras(tmp_path), 8, 79.6) is None  # no config.json: nothing to plan


def test_a_student_that_cannot_fit_the_local_gpus_is_refused_with_the_numbers(tmp_path):
    large = _student(tmp_path, "Qwen/Qwen3-8B-Base")
    with pytest.raises(FieldProblem) as refused:
        local_training_layout(_extras(large), 1, A10G[0].memory_gib)
    message = str(refused.value)
    assert "student-on-data" in message and "on 1 × 22.5 GiB" in message
    assert (
        "GiB per GPU with fsdp" in message
        and "about 140 GiB per GPU" in message
        and "fsdp over 32 GPUs needs about 22 GiB" in message
    )

    @asset
    def sft(context, launcher: ComputeLauncher) -> None:
        launcher.run(context, "train", _extras(large))

    # The launcher refuses before leasing or starting anything, and the refusal is not retried.
    launcher = local_resources(Machine(tuple(A10G)))["launcher"]
    result = materialize([sft], resources={"launcher": launcher}, raise_on_error=False)
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1 and "train cannot run on this machine" in failures[0]
    assert "on 1 × 22.5 GiB" in failures[0]


def test_a_gpu_is_described_by_the_driver_name_and_memory():
    assert Machine((Gpu(0, "NVIDIA A10G", 22.5),)).describe() == "1 × NVIDIA A10G (22.5 GiB), devices [0]"
    assert Machine().describe() == "CPU only"


STAND_IN = """#!{python}
import os, sys
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    pipes.report_asset_materialization(metadata={{"visible": visible, "argv": " ".join(sys.argv[1:])}})
"""


def test_each_workload_sees_the_devices_it_leased_and_the_run_records_them(tmp_path):
    import sys

    from resources.launchers.devices import release, try_acquire
    from resources.launchers.local import DEVICES_TAG, LocalSubprocessLauncher

    python = tmp_path / "python"
    python.write_text(STAND_IN.format(python=sys.executable))
    python.chmod(0o755)
    seen = []

    @asset
    def launched(context, launcher: ComputeLauncher):
        for workload, gpus in (("evaluate", 1), ("generate", 2), ("verify", 0), ("train", None)):
            extras = {"model_dir": str(tmp_path), "training": {}} if workload == "train" else {}
            result = launcher.run(context, workload, extras, gpus=gpus).get_materialize_result()
            seen.append((workload, result.metadata["visible"].value, result.metadata["argv"].value))
        return result

    launcher = LocalSubprocessLauncher(
        python=str(python), devices=[0, 1], gpu_memory_gib=79.6, lease_folder=str(tmp_path), lease_timeout_s=30
    )
    instance = DagsterInstance.ephemeral()
    result = materialize([launched], resources={"launcher": launcher}, instance=instance)
    assert seen == [
        ("evaluate", "0", "-m workloads.programs.evaluate"),
        ("generate", "0,1", "-m workloads.programs.generate"),
        ("verify", "", "-m workloads.programs.verify"),  # a CPU workload sees no GPU at all
        ("train", "0,1", "-m torch.distributed.run --standalone --nproc-per-node 2 -m workloads.programs.train"),
    ]
    assert instance.get_run_by_id(result.run_id).tags[DEVICES_TAG] == "0,1"

    @asset
    def evaluated(context, launcher: ComputeLauncher):
        result = launcher.run(context, "evaluate", {}, gpus=1).get_materialize_result()
        seen.append(result.metadata["visible"].value)
        return result

    busy = try_acquire([0], 1, "another run", folder=str(tmp_path))  # device 0 is another run's
    try:
        result = materialize([evaluated], resources={"launcher": launcher}, instance=instance)
    finally:
        release(busy)
    assert seen[-1] == "1" and instance.get_run_by_id(result.run_id).tags[DEVICES_TAG] == "1"


def test_the_instance_pools_follow_the_device_count(tmp_path, monkeypatch):
    from orchestration.machine import apply_pools, report
    from resources.launchers.devices import LOCK_DIR_ENV, release, try_acquire

    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    instance = DagsterInstance.ephemeral()
    chosen = choose_settings(Machine(tuple(H100X8)), external_judge=False, eval_tp=2)
    assert apply_pools(instance, chosen) == {"inference": 4, "training": 1}
    assert instance.event_log_storage.get_concurrency_info("inference").slot_count == 4
    assert instance.event_log_storage.get_concurrency_info("training").slot_count == 1
    held = try_acquire([3], 1, "run abc evaluate")
    try:
        lines = report(chosen)
    finally:
        release(held)
    assert f"GPU 3: held by {os.getpid()} run abc evaluate" in lines and "GPU 2: free" in lines
