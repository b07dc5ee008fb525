"""Workloads as local subprocesses of the orchestrator's own environment, on this machine's GPUs
through the device lease (``resources/launchers/devices.py``), or on its CPU."""

from __future__ import annotations

import os
import sys

from dagster import (
    Failure,
    PipesClientCompletedInvocation,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)
from pydantic import Field

from recipe_schema.errors import FieldProblem
from recipe_schema.student_plans import local_training_layout
from resources.launchers.compute import DISTRIBUTED_WORKLOADS, ComputeLauncher, workload_module
from resources.launchers.devices import DeviceLeaseError, leased
from resources.launchers.processes import run_process_group, workload_failure

DEVICES_TAG = "study/devices"  # the run's tag listing the GPUs its workloads used


def local_command(python: str, module: str, processes: int) -> list[str]:
    """The command line of a workload: one process, or ``processes`` ranks under torchrun on this
    node (``--standalone``: a rendezvous on a free port, so runs side by side never collide)."""
    if processes <= 1:
        return [python, "-m", module]
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes), "-m", module]


class LocalSubprocessLauncher(ComputeLauncher):
    """Workloads as local subprocesses of the same environment, through Dagster Pipes (the
    session ``PipesSubprocessClient`` opens, around a process group that dies with the step and
    fails it without retry when interrupted or when the workload says a retry can't help: see
    ``resources/launchers/processes.py``).

    With ``devices`` (a GPU machine), a workload that asks for GPUs leases that many of them and
    sees only those (``CUDA_VISIBLE_DEVICES``); training runs one process per leased GPU under
    torchrun, after its memory plan is checked against ``gpu_memory_gib``. Without devices,
    ``gpus`` is ignored: the workload runs on the CPU, training as ``cpu_train_processes`` ranks.
    """

    python: str = sys.executable
    env: dict[str, str] = {}
    devices: list[int] = Field(default=[], description="GPU ids this launcher may lease (none: CPU only)")
    gpu_memory_gib: float = Field(default=0.0, ge=0, description="memory of the smallest of those GPUs")
    train_gpus: int | None = Field(default=None, ge=1, description="GPUs per training run (default: all devices)")
    cpu_train_processes: int = Field(
        default=1, ge=1, description="training ranks on a CPU-only machine (gloo): more than one runs torchrun"
    )
    lease_folder: str | None = Field(default=None, description="folder of the lock files (default: the instance's)")
    lease_timeout_s: float | None = Field(default=None, gt=0, description="give up waiting for devices after this")

    def gpus_for(self, workload: str, gpus: int | None = None) -> int | None:
        if not self.devices:
            return gpus
        if workload in DISTRIBUTED_WORKLOADS:
            return min(self.train_gpus or len(self.devices), len(self.devices))
        return gpus if gpus is not None else 0

    def run(self, context, workload: str, extras: dict, *, gpus: int | None = None):
        module = workload_module(workload)
        count = (self.gpus_for(workload, gpus) or 0) if self.devices else 0
        if count and workload in DISTRIBUTED_WORKLOADS:
            extras = self._checked_training(workload, extras, count)
        try:
            with leased(
                self.devices,
                count,
                f"run {context.run_id[:8]} {workload}",
                folder=self.lease_folder,
                log=context.log,
                timeout_s=self.lease_timeout_s,
            ) as lease:
                env = {"CUDA_VISIBLE_DEVICES": lease.visible_devices} if self.devices else {}
                if count:
                    self._record_devices(context, lease.devices)
                processes = count if self.devices else self.cpu_train_processes
                processes = processes if workload in DISTRIBUTED_WORKLOADS else 1
                return self._launch(
                    context, workload, local_command(self.python, module, processes), extras, env, lease.fds
                )
        except DeviceLeaseError as err:
            raise Failure(description=str(err), allow_retries=False) from None

    def _checked_training(self, workload: str, extras: dict, count: int) -> dict:
        """The run's extras with the parallelism that fits this machine's GPUs; refused with the
        plan's numbers when nothing does."""
        try:
            parallelism = local_training_layout(extras, count, self.gpu_memory_gib)
        except FieldProblem as err:
            raise Failure(description=f"{workload} cannot run on this machine: {err}", allow_retries=False) from None
        return {**extras, "parallelism": parallelism} if parallelism else extras

    def _record_devices(self, context, devices: list[int]) -> None:
        """The devices a run used, as a run tag (the UI's run page; ``run_study``'s summary)."""
        run = context.instance.get_run_by_id(context.run_id)
        used = set((run.tags.get(DEVICES_TAG) or "").split(",")) - {""} if run else set()
        used.update(str(d) for d in devices)
        context.instance.add_run_tags(context.run_id, {DEVICES_TAG: ",".join(sorted(used, key=int))})
        context.log.info(f"GPUs {devices} leased for this workload (CUDA_VISIBLE_DEVICES)")

    def _launch(self, context, workload: str, command: list[str], extras: dict, env: dict, fds: list[int]):
        with open_pipes_session(
            context=context,
            context_injector=PipesTempFileContextInjector(),
            message_reader=PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            env = {**os.environ, **self.env, **env, **session.get_bootstrap_env_vars()}
            # The workload inherits the lease's lock files: its devices stay held until it is gone too.
            returncode = run_process_group(command, env, context.log, pass_fds=tuple(fds))
            if returncode != 0:
                raise workload_failure(context, workload, returncode, session.get_custom_messages())
        return PipesClientCompletedInvocation(session)
