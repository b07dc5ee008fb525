"""How a workload ends: its failure told to the orchestrator, its processes gone with it.

``workload_pipes()`` is ``open_dagster_pipes()`` plus two rules:

- A failure is reported (a Pipes custom message ``{"failure": {...}}``) with whether a retry can
  fix it. Bad input (a ``ValueError``: an invalid recipe value, bad data, an invalid request) and
  errors marked ``retryable = False`` (an endpoint's 401) cannot be fixed by running again: the
  orchestrator then fails the step at once, showing the message, instead of retrying it.
- SIGTERM (sent by the launcher when the step is interrupted, or by the kernel when the launching
  process dies: see ``resources/launcher.py``) ends the workload's whole process group at once:
  vLLM's engine processes and the verifier pool die with it, so no orphan keeps generating.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

from dagster_pipes import open_dagster_pipes

MESSAGE_LIMIT = 2000  # characters of an error message sent to the orchestrator


def retryable(error: BaseException) -> bool:
    """Whether running the workload again could succeed: not for bad input, nor for an error that
    says so itself (``retryable = False``)."""
    flag = getattr(error, "retryable", None)
    if flag is not None:
        return bool(flag)
    return not isinstance(error, ValueError)


def failure_report(error: BaseException) -> dict:
    return {
        "retryable": retryable(error),
        "type": type(error).__name__,
        "message": str(error)[:MESSAGE_LIMIT],
    }


def _end_process_group(signum, frame) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(128 + signum)  # reached only where SIGKILL can't end this process (a container's PID 1)


def die_with_process_group() -> None:
    """On SIGTERM, kill this process's group (itself and every process it started), when it
    leads its own group, as the local launcher starts it; elsewhere (a pod's entry process, a
    test) SIGTERM keeps its default."""
    if os.getpgrp() == os.getpid():
        signal.signal(signal.SIGTERM, _end_process_group)


@contextmanager
def workload_pipes():
    die_with_process_group()
    with open_dagster_pipes() as pipes:
        try:
            yield pipes
        except Exception as error:
            pipes.report_custom_message({"failure": failure_report(error)})
            raise
