"""The container launcher's command lines, mounts, environment and Pipes bootstrap (pure functions),
and one launch through its Pipes session with the container replaced by a local process."""

import os
import sys
import textwrap
from pathlib import Path

import pytest
from dagster import asset, materialize
from dagster_pipes import decode_param
from pydantic import ValidationError

from resources.launchers import container
from resources.launchers.container import (
    ContainerLauncher,
    bind_mounts,
    docker_api_kwargs,
    gpu_flags,
    run_commands,
    workload_command,
)

MOUNTS = [("/data/storage", "/data/storage", False), ("/data/sets", "/data/sets", True)]
ENV = {"PYTHONUNBUFFERED": "1", "DAGSTER_PIPES_CONTEXT": "abc"}


def test_folders_are_mounted_at_their_own_paths_and_nested_ones_once():
    mounts = bind_mounts({"/srv/study/storage": False, "/srv/study/storage/models": False, "/srv/data": True})
    assert mounts == [("/srv/data", "/srv/data", True), ("/srv/study/storage", "/srv/study/storage", False)]
    # A read-only folder inside a writable one keeps its own mount.
    assert len(bind_mounts({"/srv/a": False, "/srv/a/b": True})) == 2
    with pytest.raises(ValueError, match="not absolute"):
        bind_mounts({"relative/dir": False})


def test_the_command_is_the_pods():
    assert workload_command("generate", 0) == ["python", "-m", "workloads.programs.generate"]
    assert workload_command("train", 1, "python3") == ["python3", "-m", "workloads.programs.train"]
    assert workload_command("train", 2) == ["torchrun", "--nproc-per-node", "2", "-m", "workloads.programs.train"]
    with pytest.raises(ValueError, match="not a program"):
        workload_command("../evil", 0)


def test_buildah_makes_runs_and_removes_a_working_container():
    prepare, run, cleanup = run_commands(
        "buildah", "img:cpu", "study-x", ["python", "-m", "workloads.programs.verify"], ENV, MOUNTS
    )
    assert prepare == ["buildah", "from", "--pull-never", "--quiet", "--name", "study-x", "img:cpu"]
    assert run == [
        "buildah", "run", "--isolation", "chroot",
        "--env", "PYTHONUNBUFFERED=1", "--env", "DAGSTER_PIPES_CONTEXT=abc",
        "--volume", "/data/storage:/data/storage:rw", "--volume", "/data/sets:/data/sets:ro",
        "study-x", "--", "python", "-m", "workloads.programs.verify",
    ]  # fmt: skip
    assert cleanup == ["buildah", "rm", "study-x"]


def test_docker_and_podman_run_once_on_the_host_network():
    prepare, run, cleanup = run_commands("podman", "img:cpu", "n", ["python"], {}, MOUNTS[:1], shm_size="8g")
    assert prepare is None and cleanup is None
    assert run == [
        "podman", "run", "--rm", "--name", "n", "--network", "host", "--shm-size", "8g",
        "--volume", "/data/storage:/data/storage:rw", "img:cpu", "python",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "runtime, devices, flags",
    [
        ("docker", "all", ["--gpus", "all", "--ipc", "host"]),
        ("docker", "0,1", ["--gpus", '"device=0,1"', "--ipc", "host"]),
        ("podman", "all", ["--device", "nvidia.com/gpu=all", "--ipc", "host"]),
        ("podman", "0,1", ["--device", "nvidia.com/gpu=0", "--device", "nvidia.com/gpu=1", "--ipc", "host"]),
        ("docker", None, []),
    ],
)
def test_gpu_flags(runtime, devices, flags):
    assert gpu_flags(runtime, devices) == flags


def test_gpus_replace_the_shm_size_with_the_hosts_ipc():
    _, run, _ = run_commands("docker", "img:gpu", "n", ["python"], {}, [], gpu_devices="0", shm_size="8g")
    assert "--shm-size" not in run and run[run.index("--gpus") + 1] == '"device=0"'


def test_buildah_refuses_gpus():
    with pytest.raises(ValueError, match="cannot pass GPUs"):
        gpu_flags("buildah", "all")
    with pytest.raises(ValidationError, match="buildah cannot pass GPUs"):
        ContainerLauncher(image="i", runtime="buildah", gpu_devices="all")
    with pytest.raises(ValidationError, match="device ids"):
        ContainerLauncher(image="i", runtime="docker", gpu_devices="gpu0")


def test_docker_api_kwargs():
    kwargs = docker_api_kwargs(MOUNTS, "0,1", None)
    assert kwargs["volumes"]["/data/sets"] == {"bind": "/data/sets", "mode": "ro"}
    assert kwargs["device_requests"] == [{"Driver": "nvidia", "Capabilities": [["gpu"]], "DeviceIDs": ["0", "1"]}]
    assert kwargs["network_mode"] == "host" and kwargs["ipc_mode"] == "host"
    assert docker_api_kwargs([], "all", None)["device_requests"][0]["Count"] == -1
    assert docker_api_kwargs([], None, "8g")["shm_size"] == "8g"


def test_environment_forwards_only_named_set_variables_and_pipes_wins():
    launcher = ContainerLauncher(image="i", env={"A": "1"}, forward_env=["HF_TOKEN", "UNSET"])
    env = launcher.container_env({"DAGSTER_PIPES_CONTEXT": "ctx"}, {"HF_TOKEN": "t", "SECRET": "s", "UNSET": ""})
    assert env == {"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "HF_TOKEN": "t", "A": "1", "DAGSTER_PIPES_CONTEXT": "ctx"}
    assert "HOME" not in ContainerLauncher(image="i", user=None).container_env({}, {})
    with pytest.raises(ValidationError, match="set by the Pipes session"):
        ContainerLauncher(image="i", env={"DAGSTER_PIPES_MESSAGES": "x"})


def test_the_workload_runs_as_this_user_unless_told_otherwise():
    assert ContainerLauncher(image="i").container_user() == f"{os.getuid()}:{os.getgid()}"
    assert ContainerLauncher(image="i", user="1000:1000").container_user() == "1000:1000"
    assert ContainerLauncher(image="i", user=None).container_user() is None
    _, run, _ = run_commands("buildah", "img", "n", ["python"], {}, [], user="5:6")
    assert run[4:6] == ["--user", "5:6"]


def test_a_one_machine_launcher_has_the_gpus_it_was_given():
    assert ContainerLauncher(image="i").gpus_for("generate", 4) == 0
    assert ContainerLauncher(image="i", runtime="docker", gpu_devices="0,1").gpus_for("train", None) == 2


STAND_IN = textwrap.dedent(
    """
    import json, os, sys
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        if extras.get("fail"):
            sys.exit(3)
        data = open(os.path.join(extras["storage"], "in.txt")).read()
        pipes.report_asset_materialization(metadata={"read": data, "forwarded": os.environ.get("A", "")})
    """
)


def launched_asset(extras: dict):
    @asset(name=f"contained_{int(extras['fail'])}")
    def launched(context, launcher: ContainerLauncher):
        return launcher.run(context, "verify", extras).get_materialize_result()

    return launched


def test_a_launch_bootstraps_pipes_through_the_mounted_folder(tmp_path, monkeypatch):
    """The container is replaced by a local process with the container's environment: the Pipes
    context and messages files are in a folder the launcher mounts, the extras reach the workload."""
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    (tmp_path / "in.txt").write_text("hello")
    seen = {}

    def local_commands(runtime, image, name, command, env, mounts, gpu_devices=None, shm_size=None, user=None):
        seen.update(mounts=mounts, env=env, command=command)
        return None, ["env", *[f"{k}={v}" for k, v in env.items()], sys.executable, str(script)], None

    monkeypatch.setattr(container, "run_commands", local_commands)
    launcher = ContainerLauncher(image="img", mounts={str(tmp_path): False}, env={"A": "1"})
    for fail, expected in ((False, True), (True, False)):
        launched = launched_asset({"storage": str(tmp_path), "fail": fail})
        result = materialize([launched], resources={"launcher": launcher}, raise_on_error=False)
        assert result.success is expected
        if expected:
            metadata = result.get_asset_materialization_events()[0].materialization.metadata
            assert metadata["read"].value == "hello" and metadata["forwarded"].value == "1"
    assert seen["command"] == ["python", "-m", "workloads.programs.verify"]
    messages = decode_param(seen["env"]["DAGSTER_PIPES_MESSAGES"])
    assert (str(Path(messages["path"]).parent), str(Path(messages["path"]).parent), False) in seen["mounts"]


def test_the_local_environment_switches_to_the_container_launcher(tmp_path, monkeypatch):
    from orchestration.environments import resources_for
    from resources.launchers.local import LocalSubprocessLauncher

    (tmp_path / "data").mkdir()
    monkeypatch.setenv("STUDY_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STUDY_LAUNCHER", raising=False)
    assert isinstance(resources_for("local")["launcher"], LocalSubprocessLauncher)
    monkeypatch.setenv("STUDY_LAUNCHER", "container")
    launcher = resources_for("local")["launcher"]
    assert isinstance(launcher, ContainerLauncher) and launcher.runtime == "buildah"
    assert launcher.mounts == {str(tmp_path / "storage"): False, str(tmp_path / "data"): True}
    assert launcher.env == {"STUDY_DATA_DIR": str(tmp_path / "data")}
    monkeypatch.setenv("STUDY_LAUNCHER", "kubernetes")
    with pytest.raises(ValueError, match="one of subprocess, container"):
        resources_for("local")
