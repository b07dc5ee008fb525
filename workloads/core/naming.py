"""The names that join the study's parts. Each format is written and parsed here and nowhere else.

- a training run: ``<student>__<dataset>``
- a checkpoint: ``<run>@step-NNNNN`` (step 0 is the untrained student)
- a run's checkpoint manifest: one JSON record per line, in the order the checkpoints were saved
- a content hash: the first characters of the SHA-256 of a value's canonical JSON
"""

from __future__ import annotations

import hashlib
import json

RUN_SEPARATOR = "__"
STEP_MARKER = "@step-"


def run_name(student: str, dataset: str) -> str:
    return f"{student}{RUN_SEPARATOR}{dataset}"


def split_run(run: str) -> tuple[str, str]:
    """``<student>__<dataset>`` -> (student, dataset)."""
    student, sep, dataset = run.partition(RUN_SEPARATOR)
    if not sep:
        raise ValueError(f"not a run name: {run!r} (expected <student>{RUN_SEPARATOR}<dataset>)")
    return student, dataset


def checkpoint_key(run: str, step: int) -> str:
    return f"{run}{STEP_MARKER}{step:05d}"


def parse_checkpoint_key(key: str) -> tuple[str, int]:
    """``<student>__<dataset>@step-00040`` -> (run, 40)."""
    run, sep, step = key.rpartition(STEP_MARKER)
    if not sep or not step.isdigit():
        raise ValueError(f"not a checkpoint key: {key!r} (expected <run>{STEP_MARKER}NNNNN)")
    return run, int(step)


def parse_manifest(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def format_manifest(records: list[dict]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def content_hash(value, length: int = 12) -> str:
    """Stable across processes and machines (unlike ``hash()``): keys, caches and config ids."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:length]
