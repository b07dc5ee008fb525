"""A local workload as a process group that lives and dies with the step that launched it, and
its failure turned into the step's.

- The workload starts in its own process group (a new session), so the step can end it and
  everything it started (vLLM's engine processes, the verifier pool) with one signal, and a
  Ctrl-C in the terminal reaches the orchestrator only, which then stops the workload itself.
- On Linux the kernel sends the workload SIGTERM when the process that launched it dies
  (``PR_SET_PDEATHSIG``), even by SIGKILL; the workload then kills its group
  (``workloads/core/lifecycle.py``), so no orphan keeps sending requests or writing output.
- An interrupt (Ctrl-C, a terminated run) stops the group and fails the step with a ``Failure``
  that does not allow retries: the retry policy is for lost machines, not for a person who asked
  the run to stop. A workload failure that a retry cannot fix (it says so, see
  ``workloads/core/lifecycle.py``) does the same, and its message becomes the step's failure.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

from dagster import Failure

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_S = 10.0  # seconds a stopped workload gets before its group is killed
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent(parent: int):
    def preexec() -> None:
        # Runs in the child between fork and exec: only a system call, no allocation.
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def start_process_group(command: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
    """``command`` leading a new process group, sent SIGTERM (on Linux) when this thread's process dies."""
    preexec = _die_with_parent(os.getpid()) if _LIBC is not None else None
    return subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=preexec, **popen)


def kill_process_group(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the group, then SIGKILL to whatever of it is left after ``grace_s`` (also what a
    finished workload left behind)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            pass


def run_process_group(command: list[str], env: dict[str, str], log, **popen) -> int:
    """Run ``command`` to its end (its exit code); interrupted, stop its group and fail without retry."""
    process = start_process_group(command, env, **popen)
    try:
        returncode = process.wait()
    except BaseException as interrupt:  # KeyboardInterrupt, DagsterExecutionInterruptedError, ...
        log.warning(f"interrupted: stopping the workload's processes (group {process.pid})")
        kill_process_group(process)
        raise interrupted(interrupt) from None
    kill_process_group(process, grace_s=0)
    return returncode


def interrupted(interrupt: BaseException) -> Failure:
    """The step's failure once its workload is stopped: never retried."""
    return Failure(
        description=f"interrupted ({type(interrupt).__name__}): the workload was stopped; not retried",
        metadata={"interrupted": True},
        allow_retries=False,
    )


def retries_left(context) -> bool:
    policy = getattr(context.op_def, "retry_policy", None)
    return policy is not None and context.retry_number < policy.max_retries


def workload_failure(context, workload: str, returncode: int | None, messages) -> Failure:
    """The step's failure for a workload that exited with ``returncode`` (None: unknown), from the
    failure it reported. On the last attempt retries are refused too, so the run's failure shows
    this message rather than only "Exceeded max_retries"."""
    reported = [m["failure"] for m in messages if isinstance(m, dict) and "failure" in m]
    failure = reported[-1] if reported else {"retryable": True, "type": "exit", "message": f"code {returncode}"}
    retry = failure["retryable"] and retries_left(context)
    return Failure(
        description=f"{workload} failed (attempt {context.retry_number + 1}): {failure['type']}: {failure['message']}",
        metadata={"retryable": failure["retryable"], "exit_code": returncode},
        allow_retries=retry,
    )
