"""The version of what a benchmark kind measures, derived from the code that measures it."""

from __future__ import annotations

from workloads.core.code_version import code_digest
from workloads.core.prompts import safety_judge_prompt
from workloads.evaluation.cells import evaluate_cell, score_cell
from workloads.evaluation.judging import EMPTY_REPLY_SCORE
from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.metrics import summarize
from workloads.evaluation.registry import DETAILS, KINDS, SCORERS, VERDICTS, kind_of, verifier_version


def benchmark_version(kind: str) -> str:
    """The version of what a benchmark kind measures: its verdicts' version (``verifier_version``),
    and a digest of its loader (prompt templates, reference extraction) and of the evaluation code
    every kind shares (the thinking split, scoring, metrics). Derived from the code
    (``workloads.core.code_version``), so it moves whenever they can."""
    spec = kind_of(kind)
    judged = (safety_judge_prompt, EMPTY_REPLY_SCORE) if spec.needs_judge else ()
    scorer = verifier_version(kind) if spec.verdict is not None else kind
    # The registries are dispatch: this kind's entries are roots, the other kinds' are not its code.
    registries = {"KINDS": KINDS, "SCORERS": SCORERS, "DETAILS": DETAILS, "VERDICTS": VERDICTS}
    own = tuple(code for code in (spec.batch_scorer, *spec.version_roots) if code is not None)
    roots = (spec.load, load_benchmark, evaluate_cell, score_cell, summarize, *own, *judged)
    return f"{scorer}/{code_digest(*roots, opaque=registries)}"
