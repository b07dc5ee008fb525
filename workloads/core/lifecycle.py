"""How a workload ends: its failure told to the orchestrator, its processes gone with it.

``workload_pipes()`` is ``open_dagster_pipes()`` plus two rules:

- A failure is reported with whether a retry can fix it: as a Pipes custom message
  ``{"failure": {...}}``, and in a Kubernetes pod also as its termination message, which reaches
  the orchestrator in the pod's status (``PipesK8sClient`` does not hand the Pipes messages of a
  failed pod back). Bad input (a ``ValueError``: an invalid recipe value, bad data, an invalid
  request) and errors marked ``retryable = False`` (an endpoint's 401) cannot be fixed by running
  again: the orchestrator then fails the step at once, showing the message, instead of retrying it.
- SIGTERM (sent by the launcher when the step is interrupted, or by the kernel when the launching
  process dies: see ``resources/launchers/compute.py``) ends the workload's whole process group at once:
  vLLM's engine processes and the verifier pool die with it, so no orphan keeps generating.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import signal
from contextlib import contextmanager
from pathlib import Path

from dagster_pipes import open_dagster_pipes

MESSAGE_LIMIT = 2000  # characters of an error message sent to the orchestrator
TERMINATION_LOG = Path("/dev/termination-log")  # a container's default terminationMessagePath
TERMINATION_LIMIT = 4096  # bytes of a termination message Kubernetes keeps
TERMINATION_PREFIX = "study-failure:"


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


def termination_message(report: dict) -> str:
    """The report as one token that survives being quoted inside another error's text: base64 of
    its JSON, the message shortened until it fits Kubernetes' limit."""
    message = report["message"]
    while True:
        data = json.dumps({**report, "message": message}).encode()
        token = TERMINATION_PREFIX + base64.b64encode(data).decode()
        if len(token) <= TERMINATION_LIMIT:
            return token
        message = message[: len(message) // 2]


def report_in(text: str) -> dict | None:
    """The failure report a termination message carried into ``text``, if any."""
    match = re.search(re.escape(TERMINATION_PREFIX) + r"([A-Za-z0-9+/=]+)", text)
    if match is None:
        return None
    try:
        report = json.loads(base64.b64decode(match.group(1)))
    except (binascii.Error, ValueError):
        return None
    return report if isinstance(report, dict) and {"retryable", "type", "message"} <= report.keys() else None


def _end_process_group(signum, frame) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(128 + signum)  # reached only where SIGKILL can't end this process (a container's PID 1)


@contextmanager
def die_with_process_group():
    """Meanwhile, SIGTERM kills this process's group (itself and every process it started) when it
    leads its own group, as the local launcher and a container start it; a process inside someone
    else's group (a torchrun worker) keeps the default."""
    if os.getpgrp() != os.getpid():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _end_process_group)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def workload_pipes():
    with die_with_process_group(), open_dagster_pipes() as pipes:
        try:
            yield pipes
        except Exception as error:
            report = failure_report(error)
            pipes.report_custom_message({"failure": report})
            if TERMINATION_LOG.exists():  # in a container: Kubernetes puts it in the pod's status
                TERMINATION_LOG.write_text(termination_message(report))
            raise
