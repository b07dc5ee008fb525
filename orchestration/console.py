"""The quiet console of ``study run``: a line per run start and end, the progress of long steps,
warnings, and the final summary on the terminal; everything else in one log file per run.

Three streams carry a run's output, and each is routed:

- Dagster's own log (events at DEBUG, the assets' and workloads' messages) goes through a logger
  this module defines instead of Dagster's console logger: every record to the run's log file,
  progress lines and warnings also to the terminal.
- The workloads are subprocesses that inherit this process's stdout and stderr (vLLM's engine
  dumps, library warnings): file descriptors 1 and 2 point at the run's log file while it runs.
- This process's own prints and libraries write to the same descriptors (and ``sys.stdout`` and
  ``sys.stderr`` point at the file too), so they land there as well.

The terminal keeps a duplicate of the original stdout, opened before the redirection.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from dagster import LoggerDefinition, logger

LOGGER_KEY = "study"
# The shape of workloads.core.progress.Progress lines: "generation: 16/32 queries, ..., about 30 s left".
PROGRESS_LINE = re.compile(r"^[^:\n]+: \d+/\d+ \S+.*, about \S+ \S+ left")
RETRY_EVENT = "STEP_UP_FOR_RETRY"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


def is_progress(message: str) -> bool:
    return bool(PROGRESS_LINE.match(message))


def for_console(record: logging.LogRecord) -> str | None:
    """What a run's log record shows on the terminal, or None: a step's own messages (not Dagster's
    events) that are progress lines or warnings and worse, and a step's retry."""
    meta = getattr(record, "dagster_meta", None) or {}
    message = str(meta.get("orig_message", record.getMessage())).strip()
    event = meta.get("dagster_event")
    if event is not None:
        # A retry explains a long wait; every other event is the log file's (a failure ends the run, said then).
        if getattr(event, "event_type_value", None) != RETRY_EVENT:
            return None
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        why = f" ({error.message.strip().splitlines()[0]})" if error is not None and error.message.strip() else ""
        return f"    retry: {message}{why}"
    if record.levelno >= logging.WARNING:
        return f"    {record.levelname.lower()}: {message}"
    if is_progress(message):
        return f"    {message}"
    return None


class ConsoleHandler(logging.Handler):
    def __init__(self, stream: TextIO):
        super().__init__(logging.DEBUG)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        line = for_console(record)
        if line is not None:
            self.stream.write(line + "\n")
            self.stream.flush()


def safe_name(label: str, limit: int = 80) -> str:
    """A run label as a file name: ``generation_job[shard-0]`` -> ``generation_job-shard-0``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:limit]


@contextmanager
def redirected(path: Path) -> Iterator[None]:
    """File descriptors 1 and 2 (and so every subprocess started meanwhile) and Python's
    ``sys.stdout`` and ``sys.stderr`` (whatever they were) write to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds, saved_streams = [os.dup(1), os.dup(2)], (sys.stdout, sys.stderr)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # closed below, after the run
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = sys.stderr = stream
        yield
    finally:
        stream.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        stream.close()
        for descriptor in (fd, *saved_fds):
            os.close(descriptor)


class QuietConsole:
    """One log file per run under ``log_dir``; the terminal sees what ``for_console`` keeps.
    ``say`` writes a line of the study's own (run start and end, the summary) to the terminal."""

    def __init__(self, log_dir: Path, terminal: TextIO | None = None):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # A duplicate of stdout taken now: it still reaches the terminal while fd 1 is redirected.
        self.terminal = terminal or os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
        self.runs = 0
        self.current: Path | None = None  # the log file of the run in progress
        self.file_handlers: list[logging.Handler] = []

    def say(self, line: str) -> None:
        self.terminal.write(line + "\n")
        self.terminal.flush()

    def log_path(self, label: str) -> Path:
        self.runs += 1
        return self.log_dir / f"{self.runs:02d}-{safe_name(label)}.log"

    @contextmanager
    def run(self, path: Path) -> Iterator[None]:
        self.current = path
        try:
            with redirected(path):
                yield
        finally:
            self.current = None
            for handler in self.file_handlers:
                handler.close()
            self.file_handlers.clear()

    def logger_def(self) -> LoggerDefinition:
        console = self

        @logger(description="Every record to the run's log file, progress lines and warnings to the terminal too.")
        def study_logger(_init_context) -> logging.Logger:
            # A fresh logger per run, as Dagster's own console logger is: not registered globally.
            log = logging.Logger("dagster", logging.DEBUG)
            if console.current is not None:
                # Appends, as the redirected descriptors do, so their lines and these interleave.
                to_file = logging.FileHandler(console.current, mode="a", encoding="utf-8", delay=True)
                to_file.setFormatter(logging.Formatter(FILE_FORMAT))
                log.addHandler(to_file)
                console.file_handlers.append(to_file)
            log.addHandler(ConsoleHandler(console.terminal))
            return log

        return study_logger

    def wrap(self, job) -> tuple[object, dict]:
        """The job with this console's logger, and the run config that turns it on."""
        return job.with_logger_defs({LOGGER_KEY: self.logger_def()}), {"loggers": {LOGGER_KEY: {}}}
