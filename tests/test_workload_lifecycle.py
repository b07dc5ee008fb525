"""A launched workload lives and dies with its step: an interrupt or the launching process's death
ends it and everything it started, and neither an interrupt nor an error that a retry cannot fix
is retried; the failure's message is the step's."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterEventType, DagsterExecutionInterruptedError, Failure, RetryPolicy, asset, materialize

from resources.launchers.compute import ComputeLauncher, KubernetesLauncher, LocalSubprocessLauncher
from tests.fake_openai import FakeServer
from workloads.core import lifecycle
from workloads.core.lifecycle import TERMINATION_LIMIT, report_in, termination_message

ROOT = Path(__file__).resolve().parents[1]


def stand_in_python(tmp_path: Path) -> str:
    """An executable the launcher runs as its ``python``: it runs tests/lifecycle_workload.py."""
    path = tmp_path / "python"
    path.write_text(
        f"#!{sys.executable}\nimport runpy, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "runpy.run_module('tests.lifecycle_workload', run_name='__main__')\n"
    )
    path.chmod(0o755)
    return str(path)


@asset(retry_policy=RetryPolicy(max_retries=2))
def launched(context, launcher: ComputeLauncher) -> None:
    launcher.run(context, "generate", {})


def materialize_launched(python: str, env: dict):
    result = materialize(
        [launched], resources={"launcher": LocalSubprocessLauncher(python=python, env=env)}, raise_on_error=False
    )
    types = [e.event_type for e in result.all_events]
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    return result, types, failures


# -- errors a retry cannot fix, against a fake OpenAI-compatible server ------------------------


@pytest.mark.parametrize("status, retried", [(401, False), (403, False), (400, False), (503, True)])
def test_only_errors_a_retry_can_fix_are_retried_and_the_message_is_the_steps(tmp_path, status, retried):
    with FakeServer(statuses=[status] * 10) as server:
        env = {"STUDY_TEST_MODE": "endpoint", "STUDY_TEST_URL": server.base_url}
        result, types, failures = materialize_launched(stand_in_python(tmp_path), env)
    assert not result.success
    assert server.requests == (3 if retried else 1)
    assert (DagsterEventType.STEP_UP_FOR_RETRY in types) is retried
    assert f"HTTP {status}" in failures[-1] and "EndpointError" in failures[-1]


def test_bad_data_fails_at_once_naming_the_row(tmp_path):
    record = tmp_path / "record"
    result, types, failures = materialize_launched(
        stand_in_python(tmp_path), {"STUDY_TEST_MODE": "bad-data", "STUDY_TEST_RECORD": str(record)}
    )
    assert not result.success and DagsterEventType.STEP_UP_FOR_RETRY not in types
    assert "queries.parquet, row 3, field 'answer'" in failures[-1]
    assert record.read_text().count("start") == 1


# -- interrupts and the death of the launching process -----------------------------------------

DRIVER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from tests.test_workload_lifecycle import materialize_launched
    result, types, failures = materialize_launched({python!r}, {env!r})
    print(json.dumps({{"success": result.success, "types": [t.value for t in types], "failures": failures}}))
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _start_driver(tmp_path: Path) -> tuple[subprocess.Popen, Path, list[int]]:
    """A process materializing the sleeping workload; returns once the workload and its grandchild run."""
    record = tmp_path / "record"
    env = {"STUDY_TEST_MODE": "sleep", "STUDY_TEST_RECORD": str(record)}
    script = DRIVER.format(root=str(ROOT), python=stand_in_python(tmp_path), env=env)
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while "grandchild" not in (record.read_text() if record.exists() else ""):
        assert driver.poll() is None and time.monotonic() < deadline, "the workload never started"
        time.sleep(0.2)
    pids = [int(line.split()[1]) for line in record.read_text().splitlines()]
    return driver, record, pids


def _gone(pids: list[int], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not any(_alive(p) for p in pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc: Linux")
def test_an_interrupt_stops_the_workload_and_its_children_and_is_not_retried(tmp_path):
    driver, record, pids = _start_driver(tmp_path)
    try:
        driver.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert _gone(pids), "the workload or its child outlived the interrupted step"
    report = json.loads(out.strip().splitlines()[-1])
    assert not report["success"]
    assert "STEP_UP_FOR_RETRY" not in report["types"]
    assert "interrupted" in report["failures"][-1]
    assert record.read_text().count("start") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG: Linux")
def test_the_workload_dies_with_the_process_that_launched_it(tmp_path):
    driver, _, pids = _start_driver(tmp_path)
    os.kill(driver.pid, signal.SIGKILL)  # no handler runs: only the kernel can tell the workload
    driver.wait()
    assert _gone(pids), "an orphaned workload kept running"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, DagsterExecutionInterruptedError])
def test_an_interrupted_pod_launch_is_not_retried(monkeypatch, interrupt):
    class InterruptedClient:
        def run(self, **kwargs):
            raise interrupt()

    launcher = KubernetesLauncher(image="registry.example/study-workloads:0.1.0")
    monkeypatch.setattr(KubernetesLauncher, "client", lambda self: InterruptedClient())
    context = SimpleNamespace(run_id="run-1", log=SimpleNamespace(info=print))
    with pytest.raises(Failure) as raised:
        launcher.run(context, "generate", {})
    assert raised.value.allow_retries is False and "interrupted" in raised.value.description


# -- the same rule for a pod, through its termination message ----------------------------------


@pytest.mark.parametrize(
    "message",
    ['HTTP 401: {"error": "bad key"}', 'line one\nline two "quoted"', "données ✓", "x" * 50_000],
    ids=["json", "quotes-newlines", "unicode", "too-long"],
)
def test_a_pod_termination_message_carries_the_failure_report_through_k8s_error_text(message):
    report = {"retryable": False, "type": "EndpointError", "message": message}
    token = termination_message(report)
    wrapped = (
        f'Pod study-generate-1 terminated but some containers exited with errors:\nContainer "workload" '
        f'failed with message: "{token}". Last 100 log lines: "Traceback ... {{"a": 1}}"'
    )
    carried = report_in(wrapped)
    assert len(token.encode()) <= TERMINATION_LIMIT
    assert carried["retryable"] is False and carried["type"] == "EndpointError"
    assert message.startswith(carried["message"]) and (carried["message"] == message or len(message) > 2000)


def test_a_failing_workload_writes_its_termination_message(tmp_path, monkeypatch):
    log = tmp_path / "termination-log"
    log.write_text("")
    monkeypatch.setattr(lifecycle, "TERMINATION_LOG", log)
    with pytest.warns(Warning), pytest.raises(ValueError):  # dagster-pipes warns: no orchestrator here
        with lifecycle.workload_pipes():
            raise ValueError("queries.parquet, row 3: null answer")
    assert report_in(log.read_text()) == {
        "retryable": False,
        "type": "ValueError",
        "message": "queries.parquet, row 3: null answer",
    }


@pytest.mark.parametrize("retryable", [False, True])
def test_a_failed_pod_fails_the_step_as_its_workload_said(monkeypatch, retryable):
    token = termination_message({"retryable": retryable, "type": "EndpointError", "message": "HTTP 401: denied"})

    class FailedPodClient:
        def run(self, **kwargs):
            raise RuntimeError(f'Container "workload" failed with message: "{token}". Last 100 log lines: ""')

    monkeypatch.setattr(KubernetesLauncher, "client", lambda self: FailedPodClient())
    context = SimpleNamespace(
        run_id="run-1",
        log=SimpleNamespace(info=print),
        retry_number=0,
        op_def=SimpleNamespace(retry_policy=RetryPolicy(max_retries=2)),
    )
    with pytest.raises(Failure) as raised:
        KubernetesLauncher(image="registry.example/study-workloads:0.1.0").run(context, "generate", {})
    assert raised.value.allow_retries is retryable
    assert "HTTP 401: denied" in raised.value.description


def test_a_pod_failure_without_a_report_is_raised_as_it_was(monkeypatch):
    class LostNodeClient:
        def run(self, **kwargs):
            raise RuntimeError("Pod study-generate-1 was unexpectedly killed")

    monkeypatch.setattr(KubernetesLauncher, "client", lambda self: LostNodeClient())
    context = SimpleNamespace(run_id="run-1", log=SimpleNamespace(info=print))
    with pytest.raises(RuntimeError, match="unexpectedly killed"):
        KubernetesLauncher(image="registry.example/study-workloads:0.1.0").run(context, "generate", {})
