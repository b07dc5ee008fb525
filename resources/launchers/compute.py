"""The compute launcher's interface: run a workload (one of ``workloads.programs``) somewhere and
stream its Pipes messages back.

The asset says what to run and with which settings (Pipes extras); the launcher decides where.
``LocalSubprocessLauncher`` (resources.launchers.local, the default) starts a subprocess of this
Python; ``KubernetesLauncher`` (resources.launchers.kubernetes_pod) runs a pod, or a PyTorchJob
over several nodes (resources.launchers.pytorchjob).
"""

from __future__ import annotations

from dagster import ConfigurableResource

from workloads.programs import PACKAGE, PROGRAMS

# Workloads that run one process per GPU under torchrun when given more than one GPU.
DISTRIBUTED_WORKLOADS = frozenset({"train"})
# Every workload in a container or pod: progress lines must reach the log as they are printed.
WORKLOAD_BASE_ENV = {"PYTHONUNBUFFERED": "1"}


def without_pipes_env(env: dict[str, str], setter: str) -> dict[str, str]:
    """A launcher's ``env`` setting, refused where it names one of Pipes' own variables: the Pipes
    session (``setter``) sets those per launch, and a fixed value would cross two runs' messages."""
    reserved = [k for k in env if k.startswith("DAGSTER_PIPES_")]
    if reserved:
        raise ValueError(f"env: {reserved} are set by {setter}, not by settings")
    return env


def workload_module(workload: str) -> str:
    """The module a launcher starts for a workload: one of the programs, nothing else."""
    if workload not in PROGRAMS:
        raise ValueError(f"workload {workload!r} is not a program (one of: {', '.join(PROGRAMS)})")
    return f"{PACKAGE}.{workload}"


class ComputeLauncher(ConfigurableResource):
    """Interface: ``run`` returns the Pipes invocation so the asset can collect results.

    ``gpus``: how many GPUs the workload wants; ``None`` when the asset does not say (the
    launcher's default applies), 0 for a CPU-only workload.
    """

    def run(self, context, workload: str, extras: dict, *, gpus: int | None = None):
        raise NotImplementedError

    def gpus_for(self, workload: str, gpus: int | None = None) -> int | None:
        """The GPUs a launch of ``workload`` gets when the asset asks for ``gpus``."""
        return gpus
