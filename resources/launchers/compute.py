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
