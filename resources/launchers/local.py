"""Workloads as local subprocesses of the orchestrator's own environment."""

from __future__ import annotations

import os
import sys

from dagster import (
    PipesClientCompletedInvocation,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)

from resources.launchers.compute import ComputeLauncher, workload_module
from resources.launchers.processes import run_process_group, workload_failure


class LocalSubprocessLauncher(ComputeLauncher):
    """Workloads as local subprocesses of the same environment, through Dagster Pipes (the
    session ``PipesSubprocessClient`` opens, around a process group that dies with the step and
    fails it without retry when interrupted or when the workload says a retry can't help: see
    ``resources/launchers/processes.py``).

    ``gpus`` is ignored: the subprocess sees whatever devices this machine has.
    """

    python: str = sys.executable
    env: dict[str, str] = {}

    def run(self, context, workload: str, extras: dict, *, gpus: int | None = None):
        command = [self.python, "-m", workload_module(workload)]
        with open_pipes_session(
            context=context,
            context_injector=PipesTempFileContextInjector(),
            message_reader=PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            env = {**os.environ, **self.env, **session.get_bootstrap_env_vars()}
            returncode = run_process_group(command, env, context.log)
            if returncode != 0:
                raise workload_failure(context, workload, returncode, session.get_custom_messages())
        return PipesClientCompletedInvocation(session)
