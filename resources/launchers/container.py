"""Each workload in a container of the workloads image (docker/workloads.Dockerfile), on this machine.

What a Kubernetes pod gets, a container gets here: the command ``python -m workloads.<name>``
(``torchrun`` for multi-GPU training), the Pipes bootstrap variables (``DAGSTER_PIPES_CONTEXT``,
``DAGSTER_PIPES_MESSAGES``), plain ``env`` and the named variables of this process
(``forward_env``: credentials stay in the environment), and the storage passed in: the local
storage root and the data folder are bind-mounted at the paths they have here, so the locations in
the Pipes extras mean the same inside (an S3 storage needs no mount, only its credentials).

Runtimes (``runtime``):

- ``docker-api``: dagster-docker's ``PipesDockerClient`` against a Docker Engine API (the
  ecosystem's client: it creates the container, reads Pipes messages from its logs, removes it).
- ``docker`` / ``podman``: ``<runtime> run --rm`` from the command line; Pipes context and
  messages through files in a bind-mounted folder.
- ``buildah``: ``buildah from`` (a working container of the image), ``buildah run --isolation
  chroot`` (no cgroups or user namespaces needed, so it works inside VMs and containers where
  ``podman run`` does not), ``buildah rm``. The host's network is shared, as with the others'
  ``--network host``: servers the orchestrator starts (a judge) are reached at 127.0.0.1.

GPUs (``gpu_devices``): ``all`` or a list such as ``0,1``. Docker passes ``--gpus all`` /
``--gpus "device=0,1"`` (NVIDIA container toolkit; the API client a ``DeviceRequest``), podman
``--device nvidia.com/gpu=all`` / ``nvidia.com/gpu=0`` per device (CDI, from ``nvidia-ctk cdi
generate``); both add ``--ipc host`` (NCCL and vLLM's workers share tensors through /dev/shm).
buildah has no GPU support of its own, so it refuses ``gpu_devices``.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Literal

from dagster import (
    DagsterExecutionInterruptedError,
    PipesClientCompletedInvocation,
    PipesFileContextInjector,
    PipesFileMessageReader,
    open_pipes_session,
)
from pydantic import ConfigDict, Field, field_validator, model_validator

from resources.launchers.compute import (
    DISTRIBUTED_WORKLOADS,
    WORKLOAD_BASE_ENV,
    ComputeLauncher,
    without_pipes_env,
    workload_module,
)
from resources.launchers.processes import interrupted, run_process_group, workload_failure

Runtime = Literal["buildah", "podman", "docker", "docker-api"]
PIPES_CONTEXT_FILE = "context.json"
PIPES_MESSAGES_FILE = "messages.jsonl"
# Names of this process's variables a workload may need; forwarded only when set.
DEFAULT_FORWARD_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "HF_TOKEN",
    "OPENAI_API_KEY",
    "ONEDNN_MAX_CPU_ISA",
    "VLLM_CPU_KVCACHE_SPACE",
    "VLLM_CPU_NUM_OF_RESERVED_CPU",
)


def bind_mounts(paths: dict[str, bool]) -> list[tuple[str, str, bool]]:
    """(host, container, read-only) for each folder, at the same path inside as outside, so every
    location in the Pipes extras is valid in both; a folder under another one already mounted with
    the same access is left out."""
    relative = [p for p in paths if not os.path.isabs(p)]
    if relative:
        raise ValueError(f"mounts {relative}: not absolute paths")
    mounts: list[tuple[str, str, bool]] = []
    for path, read_only in sorted((str(Path(p).resolve()), ro) for p, ro in paths.items()):
        if any(path.startswith(m.rstrip("/") + "/") and read_only == m_ro for m, _, m_ro in mounts):
            continue
        mounts.append((path, path, read_only))
    return mounts


def workload_command(workload: str, gpus: int, python: str = "python") -> list[str]:
    """The command inside the container, as in a pod: ``torchrun`` for training on several GPUs."""
    module = workload_module(workload)
    if workload in DISTRIBUTED_WORKLOADS and gpus > 1:
        return ["torchrun", "--nproc-per-node", str(gpus), "-m", module]
    return [python, "-m", module]


def device_count(gpu_devices: str | None) -> int:
    """GPUs a container sees: 0 without devices, the list's length, or -1 for ``all`` (unknown here)."""
    if not gpu_devices:
        return 0
    return -1 if gpu_devices == "all" else len(gpu_devices.split(","))


def gpu_flags(runtime: Runtime, gpu_devices: str | None) -> list[str]:
    """The command-line flags that hand ``gpu_devices`` (``all`` or ``0,1``) to a container."""
    if not gpu_devices:
        return []
    if runtime == "docker":
        return ["--gpus", "all" if gpu_devices == "all" else f'"device={gpu_devices}"', "--ipc", "host"]
    if runtime == "podman":
        ids = ["all"] if gpu_devices == "all" else gpu_devices.split(",")
        return [f for i in ids for f in ("--device", f"nvidia.com/gpu={i}")] + ["--ipc", "host"]
    raise ValueError(f"runtime {runtime!r} cannot pass GPUs to a container: use docker or podman for gpu_devices")


def env_flags(env: dict[str, str]) -> list[str]:
    return [f for name, value in env.items() for f in ("--env", f"{name}={value}")]


def volume_flags(mounts: list[tuple[str, str, bool]]) -> list[str]:
    return [f for host, inside, ro in mounts for f in ("--volume", f"{host}:{inside}:{'ro' if ro else 'rw'}")]


def run_commands(
    runtime: Runtime,
    image: str,
    name: str,
    command: list[str],
    env: dict[str, str],
    mounts: list[tuple[str, str, bool]],
    gpu_devices: str | None = None,
    shm_size: str | None = None,
    user: str | None = None,
) -> tuple[list[str] | None, list[str], list[str] | None]:
    """(prepare, run, clean up) command lines of one workload's container; prepare and clean up are
    None where ``run`` creates and removes the container itself."""
    as_user = ["--user", user] if user else []
    if runtime == "buildah":
        gpu_flags(runtime, gpu_devices)  # refuses GPUs
        run = ["buildah", "run", "--isolation", "chroot", *as_user, *env_flags(env), *volume_flags(mounts), name]
        prepare = ["buildah", "from", "--pull-never", "--quiet", "--name", name, image]
        return prepare, [*run, "--", *command], ["buildah", "rm", name]
    if runtime in ("docker", "podman"):
        shm = ["--shm-size", shm_size] if shm_size and not gpu_devices else []
        run = [runtime, "run", "--rm", "--name", name, "--network", "host", *as_user, *shm]
        return (
            None,
            [*run, *gpu_flags(runtime, gpu_devices), *env_flags(env), *volume_flags(mounts), image, *command],
            None,
        )
    raise ValueError(f"runtime {runtime!r} has no command line here (docker-api talks to the Docker API)")


def docker_api_kwargs(
    mounts: list[tuple[str, str, bool]], gpu_devices: str | None, shm_size: str | None, user: str | None = None
) -> dict:
    """``container_kwargs`` of ``PipesDockerClient.run`` (docker-py's ``containers.create``)."""
    kwargs: dict = {
        "network_mode": "host",
        **({"user": user} if user else {}),
        "volumes": {host: {"bind": inside, "mode": "ro" if ro else "rw"} for host, inside, ro in mounts},
    }
    if gpu_devices:
        request = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
        if gpu_devices == "all":
            request["Count"] = -1
        else:
            request["DeviceIDs"] = gpu_devices.split(",")
        kwargs["device_requests"] = [request]
        kwargs["ipc_mode"] = "host"
    elif shm_size:
        kwargs["shm_size"] = shm_size
    return kwargs


class ContainerLauncher(ComputeLauncher):
    """Workloads in containers of the workloads image on this machine (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="the workloads image, e.g. reasoning-sft-study/workloads:cpu")
    runtime: Runtime = Field(default="buildah", description="buildah, podman, docker or docker-api")
    python: str = Field(default="python", description="the Python executable inside the image")
    mounts: dict[str, bool] = Field(
        default={}, description="host folders mounted at the same path inside: path -> read-only"
    )
    env: dict[str, str] = Field(default={}, description="plain environment variables of every workload")
    forward_env: list[str] = Field(
        default=list(DEFAULT_FORWARD_ENV), description="names of this process's variables passed on when set"
    )
    gpu_devices: str | None = Field(default=None, description="'all' or device ids '0,1'; none: no GPUs")
    user: str | None = Field(
        default="host",
        description="uid:gid of the workload: 'host' (default) is this process's, so what it writes to the mounted "
        "storage is this user's; null: the image's user",
    )
    shm_size: str | None = Field(
        default="8g", description="/dev/shm size without GPUs (with GPUs: the host's, through --ipc host)"
    )

    @field_validator("env")
    @classmethod
    def _no_pipes_env(cls, value):
        return without_pipes_env(value, "the Pipes session")

    @model_validator(mode="after")
    def _gpus_supported(self):
        if self.gpu_devices and self.runtime == "buildah":
            raise ValueError("gpu_devices: buildah cannot pass GPUs to a container; use runtime docker or podman")
        if self.gpu_devices and self.gpu_devices != "all" and not all(d.isdigit() for d in self.gpu_devices.split(",")):
            raise ValueError(f"gpu_devices {self.gpu_devices!r}: 'all' or device ids such as '0,1'")
        return self

    def container_env(self, bootstrap: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
        environ = os.environ if environ is None else environ
        forwarded = {name: environ[name] for name in self.forward_env if environ.get(name)}
        # Another uid than the image's cannot write the image user's home: caches go to /tmp.
        home = {"HOME": "/tmp"} if self.user else {}
        return {**WORKLOAD_BASE_ENV, **home, **forwarded, **self.env, **bootstrap}

    def container_user(self) -> str | None:
        return f"{os.getuid()}:{os.getgid()}" if self.user == "host" else self.user

    def gpus_for(self, workload: str, gpus: int | None = None) -> int:
        """The container's GPUs, whatever the asset asks: a one-machine launcher has what it has."""
        return max(device_count(self.gpu_devices), 0)

    def run(self, context, workload: str, extras: dict, *, gpus: int | None = None):
        count = self.gpus_for(workload, gpus)
        command = workload_command(workload, count, self.python)
        if self.runtime == "docker-api":
            return self._run_docker_api(context, workload, extras, command)
        name = f"study-{workload.replace('_', '-')}-{uuid.uuid4().hex[:10]}"
        with tempfile.TemporaryDirectory(prefix="study-pipes-") as pipes_dir:
            with open_pipes_session(
                context=context,
                context_injector=PipesFileContextInjector(os.path.join(pipes_dir, PIPES_CONTEXT_FILE)),
                message_reader=PipesFileMessageReader(os.path.join(pipes_dir, PIPES_MESSAGES_FILE)),
                extras=extras,
            ) as session:
                mounts = bind_mounts({**self.mounts, pipes_dir: False})
                env = self.container_env(session.get_bootstrap_env_vars())
                prepare, run, cleanup = run_commands(
                    self.runtime,
                    self.image,
                    name,
                    command,
                    env,
                    mounts,
                    self.gpu_devices,
                    self.shm_size,
                    self.container_user(),
                )
                context.log.info(f"launching {workload} in {self.runtime} container {name}: {' '.join(command)}")
                returncode = self._run_container(context, prepare, run, cleanup)
                if returncode != 0:
                    raise workload_failure(context, workload, returncode, session.get_custom_messages())
        return PipesClientCompletedInvocation(session)

    def _run_container(self, context, prepare, run, cleanup) -> int:
        # The CLI process leads its own group, so an interrupted step ends it and what it started.
        environ = dict(os.environ)
        try:
            if prepare is not None:
                code = run_process_group(prepare, environ, context.log)
                if code != 0:
                    raise RuntimeError(f"{' '.join(prepare)} failed with exit code {code}")
            return run_process_group(run, environ, context.log)
        finally:
            if cleanup is not None:
                run_process_group(cleanup, environ, context.log)

    def _run_docker_api(self, context, workload: str, extras: dict, command: list[str]):
        # dagster-docker comes with the `container` extra: imported only for this runtime.
        from dagster_docker import PipesDockerClient

        env = self.container_env({})
        try:
            return PipesDockerClient().run(
                context=context,
                image=self.image,
                extras=extras,
                command=command,
                env=env,
                container_kwargs=docker_api_kwargs(
                    bind_mounts(self.mounts), self.gpu_devices, self.shm_size, self.container_user()
                ),
            )
        except (DagsterExecutionInterruptedError, KeyboardInterrupt) as interrupt:
            raise interrupted(interrupt) from None
