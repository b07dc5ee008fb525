"""The local Dagster instance: set up once, whoever starts first, and cleared of runs whose
process died.

Two study runs started together on a fresh $DAGSTER_HOME would each create the SQLite storages and
stamp their schema versions, and a database stamped twice refuses every later start. So the
instance is opened under an exclusive lock in its own folder: the first opener creates the
storages, the others wait and then find them made.

A run executed in this process is tagged with the process's host and pid. A run left STARTED by a
process that no longer exists (killed with SIGKILL, or its machine restarted) is marked failed the
next time the instance is opened here, as Dagster's run monitoring does for the daemon's runs.
"""

from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

LOCK_FILE = ".study-instance.lock"
HOST_TAG = "study/host"
PID_TAG = "study/pid"
# Written into a fresh instance folder: the daemon (`dagster dev`) then fails runs whose worker died.
INSTANCE_SETTINGS = "run_monitoring:\n  enabled: true\n  poll_interval_seconds: 30\n"


def owner_tags() -> dict[str, str]:
    """The tags that say which process executes a run."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


@contextmanager
def _locked(home: Path):
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Marks failed every STARTED run that a process on this host executed and that process is
    gone; returns their run ids."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        pid = run.tags.get(PID_TAG)
        if run.tags.get(HOST_TAG) != host or not (pid or "").isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, f"its process (pid {pid} on {host}) ended without finishing the run")
        failed.append(run.run_id)
    return failed


def prepared_instance() -> DagsterInstance:
    """The instance at $DAGSTER_HOME, its storages created once under the folder's lock, with the
    runs of dead processes marked failed."""
    home = Path(os.environ["DAGSTER_HOME"])
    with _locked(home):
        settings = home / "dagster.yaml"
        if not settings.exists():
            settings.write_text(INSTANCE_SETTINGS)
        instance = DagsterInstance.get()
        # Each storage is created on first use: use them all while the lock is held.
        instance.get_runs_count()
        instance.all_instigator_state()
        instance.event_log_storage.get_asset_records()
        fail_orphaned_runs(instance)
    return instance
