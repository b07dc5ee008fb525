"""Runs a workload (``workloads/<name>.py``) on the compute and streams its Pipes messages back.

The asset says what to run and with which settings (Pipes extras); the launcher decides where.
The local implementation starts a subprocess of this Python; a Kubernetes one builds a pod.
"""

from __future__ import annotations

import os
import sys

from dagster import ConfigurableResource, PipesSubprocessClient


class ComputeLauncher(ConfigurableResource):
    """Interface: ``run`` returns the Pipes invocation so the asset can collect results."""

    def run(self, context, workload: str, extras: dict, *, gpus: int = 0):
        raise NotImplementedError


class LocalSubprocessLauncher(ComputeLauncher):
    """Workloads as local subprocesses of the same environment, through Dagster Pipes."""

    python: str = sys.executable
    env: dict[str, str] = {}

    def run(self, context, workload: str, extras: dict, *, gpus: int = 0):
        env = {**os.environ, **self.env}
        client = PipesSubprocessClient(env=env)
        command = [self.python, "-m", f"workloads.{workload}"]
        return client.run(context=context, command=command, extras=extras)
