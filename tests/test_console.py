"""The quiet console of ``study run``: a run's Dagster events, its messages and whatever its
subprocesses print go to the run's log file; the terminal gets progress lines and warnings only."""

import io
import itertools
import logging
import subprocess
import sys
from types import SimpleNamespace

from dagster import job, op

from orchestration.console import QuietConsole, for_console, is_progress, safe_name
from workloads.core.progress import Progress


def test_progress_lines_are_recognized_as_the_progress_helper_writes_them():
    lines = []
    progress = Progress("evaluation of run@step-00002", 4, "cells", lines.append, clock=itertools.count(0, 10).__next__)
    progress.update()
    progress.update(tokens=1200)
    training = Progress("training", 10, "steps", lines.append, clock=itertools.count(0, 5).__next__)
    training.update()
    assert len(lines) == 3
    assert all(is_progress(line) for line in lines), lines
    for other in ("engine: vllm, dtype bfloat16", "checkpoint saved: run@step-00002", "ratio: 1/2 done"):
        assert not is_progress(other)


def test_run_label_becomes_a_file_name():
    assert safe_name("evaluation_job[a|b@step-00000 .. a|b@step-00004: math500, ifeval]") == (
        "evaluation_job-a-b-step-00000-..-a-b-step-00004-math500-ifeval"
    )


@op
def noisy(context):
    context.log.info("engine: vllm, a line only the log file needs")
    context.log.info("generation: 2/4 queries, 120 tokens, 6.0 tokens/s, 20 s so far, about 20 s left")
    context.log.warning("3 of 4 replies were truncated")
    # A workload inherits the descriptors: what it prints must reach the log file, not the terminal.
    subprocess.run(
        [sys.executable, "-c", "import sys; print('engine dump on stdout'); sys.stderr.write('on stderr\\n')"]
    )
    print("the orchestrator's own print")


@job
def noisy_job():
    noisy()


def test_a_run_writes_everything_to_its_log_and_only_progress_and_warnings_to_the_terminal(tmp_path):
    terminal = io.StringIO()
    console = QuietConsole(tmp_path / "logs", terminal=terminal)
    path = console.log_path("noisy_job[shard-000]")
    assert path.name == "01-noisy_job-shard-000.log"
    quiet_job, run_config = console.wrap(noisy_job)
    with console.run(path):
        result = quiet_job.execute_in_process(run_config=run_config)
    assert result.success
    shown = terminal.getvalue().splitlines()
    assert shown == [
        "    generation: 2/4 queries, 120 tokens, 6.0 tokens/s, 20 s so far, about 20 s left",
        "    warning: 3 of 4 replies were truncated",
    ]
    log = path.read_text()
    for expected in (
        "STEP_START",
        "engine: vllm, a line only the log file needs",
        "about 20 s left",
        "3 of 4 replies were truncated",
        "engine dump on stdout",
        "on stderr",
        "the orchestrator's own print",
    ):
        assert expected in log, expected
    assert console.current is None and not console.file_handlers


def test_dagster_events_stay_off_the_terminal_even_as_errors_but_a_retry_is_said():
    record = logging.LogRecord("dagster", logging.ERROR, __file__, 1, "step failed", None, None)
    record.dagster_meta = {"dagster_event": SimpleNamespace(event_type_value="STEP_FAILURE"), "orig_message": "x"}
    assert for_console(record) is None
    retry = SimpleNamespace(event_type_value="STEP_UP_FOR_RETRY")
    record.dagster_meta = {"dagster_event": retry, "orig_message": 'step "sft_run" failed; a retry in 10 seconds'}
    assert for_console(record) == '    retry: step "sft_run" failed; a retry in 10 seconds'
    retry.event_specific_data = SimpleNamespace(error=SimpleNamespace(message="train failed: exit: code -9\nmore"))
    assert for_console(record).endswith("a retry in 10 seconds (train failed: exit: code -9)")
    record.dagster_meta = {"dagster_event": None, "orig_message": "judge unreachable"}
    assert for_console(record) == "    error: judge unreachable"
