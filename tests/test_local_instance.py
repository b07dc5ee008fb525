"""The local instance: runs started together on a fresh folder set it up once, and a run whose
process died is marked failed, not left STARTED."""

import multiprocessing
import sqlite3
import subprocess
import sys
import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from orchestration.instance import HOST_TAG, PID_TAG, fail_orphaned_runs, owner_tags, prepared_instance


def _open_together(home: str, barrier) -> None:
    import os

    os.environ["DAGSTER_HOME"] = home
    barrier.wait()
    prepared_instance().get_runs_count()


def test_processes_opening_a_fresh_instance_together_set_it_up_once(tmp_path):
    home = tmp_path / "home"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_open_together, args=(str(home), barrier)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * 4
    with sqlite3.connect(home / "history" / "runs.db") as db:
        assert db.execute("select count(*) from alembic_version").fetchone() == (1,)


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return prepared_instance()


def _started_run(instance, tags) -> str:
    run = DagsterRun(job_name="study", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED, tags=tags)
    instance.add_run(run)
    return run.run_id


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_whose_process_died_is_marked_failed(instance):
    dead = _started_run(instance, {**owner_tags(), PID_TAG: str(_dead_pid())})
    alive = _started_run(instance, owner_tags())
    elsewhere = _started_run(instance, {HOST_TAG: "another-host", PID_TAG: str(_dead_pid())})
    untagged = _started_run(instance, {})
    assert fail_orphaned_runs(instance) == [dead]
    status = {run_id: instance.get_run_by_id(run_id).status for run_id in (dead, alive, elsewhere, untagged)}
    assert status[dead] == DagsterRunStatus.FAILURE
    assert {status[alive], status[elsewhere], status[untagged]} == {DagsterRunStatus.STARTED}


def test_opening_the_instance_clears_dead_runs(instance, tmp_path):
    dead = _started_run(instance, {**owner_tags(), PID_TAG: str(_dead_pid())})
    prepared_instance()
    assert DagsterInstance.get().get_run_by_id(dead).status == DagsterRunStatus.FAILURE


def test_a_fresh_instance_folder_gets_run_monitoring(instance, tmp_path):
    assert "run_monitoring" in (tmp_path / "dagster.yaml").read_text()
