"""The benchmark kinds, and every table about them, derived from their specs.

Adding a kind is one module in ``workloads/evaluation/tasks/`` that defines ``KIND`` (a
:class:`~workloads.evaluation.spec.BenchmarkKind`) and one line in :data:`KINDS` below
(``docs/architecture.md`` walks through it).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from workloads.core.code_version import code_digest
from workloads.evaluation.scoring import Verdict
from workloads.evaluation.spec import BenchmarkKind, Details, Scorer
from workloads.evaluation.tasks import (
    countdown,
    halueval,
    ifeval,
    livecodebench,
    math_problems,
    mmlu_pro,
    multiple_choice,
    refusal,
    safety_judge,
)

KINDS: dict[str, BenchmarkKind] = {
    kind.name: kind
    for kind in (
        math_problems.KIND,
        multiple_choice.KIND,
        halueval.KIND,
        refusal.KIND,
        ifeval.KIND,
        countdown.KIND,
        mmlu_pro.KIND,
        livecodebench.KIND,
        safety_judge.KIND,
    )
}

# The tables other code dispatches on, each derived from the specs.
VERDICTS: dict[str, Verdict] = {name: k.verdict for name, k in KINDS.items() if k.verdict is not None}
SCORERS: dict[str, Scorer] = {name: k.scorer for name, k in KINDS.items() if k.scorer is not None}
DETAILS: dict[str, Details] = {name: k.details for name, k in KINDS.items() if k.details is not None}
LOWER_IS_BETTER: frozenset[str] = frozenset().union(*(k.lower_is_better for k in KINDS.values()))


def kind_of(name: str) -> BenchmarkKind:
    if name not in KINDS:
        raise ValueError(f"unknown benchmark kind {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def metrics_of(kind: str) -> tuple[str, ...]:
    return kind_of(kind).metrics


def lower_is_better(metric: str) -> bool:
    """Whether a rise in a metric is a change for the worse; a per-category metric
    (``<metric>/<category>``) goes the way of its own."""
    return metric.split("/", 1)[0] in LOWER_IS_BETTER


def _library(name: str) -> str:
    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return f"{name}==not-installed"


def verifier_version(kind: str) -> str:
    """The version of a kind's verdicts: a digest of the verdict function and everything of the
    project it reads (helpers, patterns, phrase lists; ``workloads.core.code_version``), plus the
    version of each library that decides them. It moves whenever the verdicts can."""
    if kind not in VERDICTS:
        raise ValueError(f"no verdict for kind {kind!r} (known: {', '.join(VERDICTS)})")
    spec = KINDS[kind]
    libraries = "".join(f"+{_library(library)}" for library in spec.libraries)
    return f"{spec.verifier or kind}@{code_digest(spec.verdict, spec.details)}{libraries}"
