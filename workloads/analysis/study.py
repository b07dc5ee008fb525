"""What the findings read: which runs, students, training sets, benchmarks and checkpoints a study
evaluated, and each run's paired change on a set of benchmarks with its bootstrap interval."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from workloads.analysis.dynamics import curves, headline
from workloads.analysis.resampling import LEVEL, Estimate, ItemTable, mean_of, paired
from workloads.core.naming import RUN_SEPARATOR, checkpoint_key, split_run
from workloads.evaluation.registry import lower_is_better

DATASET_LABELS = {
    "math-cot": "Math-CoT",
    "math-nocot": "Math-NoCoT",
    "reference": "NuminaMath (reference)",
    "countdown-cot": "Countdown-CoT",
}
# The categories whose headline scores are gains (higher is better); safety has its own finding.
SCORE_CATEGORIES = ("reasoning", "out-of-domain")
# The paper follows its training dynamics and capability on Math-CoT; others stand in when it is absent.
PRIMARY_DATASETS = ("math-cot", "math-nocot", "reference", "countdown-cot")
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([mb])(?![a-z])", re.IGNORECASE)


def student_size(name: str) -> float | None:
    """Parameters in billions read from a model name (``qwen3-1.7b-base`` -> 1.7, ``smollm2-135m`` -> 0.135)."""
    found = _SIZE.search(name)
    if not found:
        return None
    number, unit = float(found.group(1)), found.group(2).lower()
    return number / 1000 if unit == "m" else number


def by_size(students: list[str]) -> list[str]:
    """Smallest first where every name carries its size; the given order otherwise."""
    sizes = [student_size(s) for s in students]
    if None in sizes:
        return list(students)
    return [s for _, s in sorted(zip(sizes, students, strict=True), key=lambda p: p[0])]


def label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def student_label(student: str) -> str:
    size = student_size(student)
    return student if size is None else f"{student} ({size:g}B)"


def fmt(estimate: Estimate, digits: int = 2, signed: bool = True) -> str:
    """``+0.12 [-0.05, +0.30]``: the estimate and its interval."""
    if estimate.value is None:
        return "n/a"
    spec = f"{'+' if signed else ''}.{digits}f"
    lo, hi = estimate.ci()
    interval = "" if lo is None else f" [{lo:{spec}}, {hi:{spec}}]"
    return f"{estimate.value:{spec}}{interval}"


def verdict(estimate: Estimate) -> str:
    if estimate.above_zero():
        return "above zero"
    if estimate.below_zero():
        return "below zero"
    return "not distinguishable from zero"


@dataclass
class Study:
    """The evaluated study: runs present in the data, students smallest first, training sets in the
    recipe's order, each benchmark's category and headline metric, and each cell's evaluated steps."""

    items: ItemTable
    curve: pl.DataFrame
    categories: dict[str, str]
    students: list[str]
    datasets: list[str]
    runs: list[str] = field(default_factory=list)
    metric: dict[str, str] = field(default_factory=dict)
    _steps: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, eval_tables: pl.DataFrame, samples: pl.DataFrame, categories: dict[str, str], **kw) -> Study:
        seed = kw.pop("seed", 0)
        curve = headline(curves(eval_tables))
        study = cls(ItemTable(samples, seed=seed), curve, categories, **kw)
        known = set(curve["run"].unique().to_list())
        study.students = by_size([s for s in study.students if any(split_run(r)[0] == s for r in known)])
        study.datasets = [d for d in study.datasets if any(split_run(r)[1] == d for r in known)]
        study.runs = [f"{s}__{d}" for s in study.students for d in study.datasets if f"{s}__{d}" in known]
        study.metric = dict(curve.select("benchmark", "metric").unique().iter_rows())
        scored = curve.filter(pl.col("mean").is_not_null())
        for (run, benchmark), group in scored.group_by("run", "benchmark"):
            study._steps[run, benchmark] = sorted(group["step"].to_list())
        return study

    def steps(self, run: str, benchmark: str) -> list[int]:
        return self._steps.get((run, benchmark), [])

    def primary_dataset(self) -> str | None:
        return next((d for d in PRIMARY_DATASETS if d in self.datasets), self.datasets[0] if self.datasets else None)

    def run(self, student: str, dataset: str) -> str | None:
        name = f"{student}__{dataset}"
        return name if name in self.runs else None

    def benchmarks(self, category: str, *, higher_is_better: bool | None = True) -> list[str]:
        return sorted(
            b
            for b, c in self.categories.items()
            if c == category
            and b in self.metric
            and (higher_is_better is None or lower_is_better(self.metric[b]) != higher_is_better)
        )

    def column(self, benchmark: str) -> str:
        """The per-item value behind a benchmark's headline metric."""
        return "harmful" if self.metric[benchmark] == "harmfulness_rate" else "score"

    def change(self, run: str, benchmarks: list[str], column: str | None = None) -> Estimate:
        """Mean over ``benchmarks`` of each one's paired change from the base model to the run's
        last evaluated checkpoint; ``column`` (tokens, backtracking) instead of the headline value."""
        parts = []
        for b in benchmarks:
            steps = self.steps(run, b)
            if len(steps) < 2 or steps[0] != 0:
                continue
            what = column or self.column(b)
            before = self.items.values(checkpoint_key(run, 0), b, what)
            after = self.items.values(checkpoint_key(run, steps[-1]), b, what)
            parts.append(self.items.estimate(b, paired(before, after)))
        return mean_of(parts)

    def interval_note(self) -> str:
        return (
            f"{LEVEL:.0%} percentile bootstrap over items ({self.items.resamples} resamples, the same resamples "
            "for every checkpoint and run, so changes and differences are paired on the items); one training "
            "seed per run, so the intervals cover item sampling, not the spread between training runs"
        )


RESULT_SCHEMA = {
    "finding": pl.String,
    "student": pl.String,
    "dataset": pl.String,
    "category": pl.String,
    "quantity": pl.String,
    "estimate": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "excludes_zero": pl.Boolean,
    "items": pl.Int64,
}


@dataclass
class Finding:
    number: int
    key: str
    title: str
    statements: list[str] = field(default_factory=list)
    scope: str = ""
    condition: str = ""
    missing: list[str] = field(default_factory=list)
    table: pl.DataFrame = field(default_factory=pl.DataFrame)
    results: list[dict] = field(default_factory=list)
    curves: pl.DataFrame = field(default_factory=pl.DataFrame)

    def result(self, run: str, category: str, quantity: str, estimate: Estimate) -> None:
        student, dataset = split_run(run) if RUN_SEPARATOR in run else (run, "")
        lo, hi = estimate.ci()
        self.results.append(
            {
                "finding": self.key,
                "student": student,
                "dataset": dataset,
                "category": category,
                "quantity": quantity,
                "estimate": estimate.value,
                "ci_low": lo,
                "ci_high": hi,
                "excludes_zero": estimate.above_zero() or estimate.below_zero(),
                "items": estimate.items,
            }
        )


def one_student_note(study: Study, what: str) -> str | None:
    if len(study.students) >= 2:
        return None
    only = study.students[0] if study.students else "none"
    return f"{what} needs at least two students; this study trains one ({student_label(only)})."


def size_contrast(study: Study, finding: Finding, estimates: dict, category: str, quantity: str) -> None:
    """Largest minus smallest student on one quantity, paired on the items, where both have it."""
    if len(study.students) < 2:
        return
    small, large = study.students[0], study.students[-1]
    if (large, category) not in estimates or (small, category) not in estimates:
        return
    diff = estimates[large, category] - estimates[small, category]
    finding.result(f"{large} minus {small}", category, f"{quantity}: largest minus smallest", diff)
    finding.statements.append(f"{category}, {quantity}, {large} minus {small}: {fmt(diff)} ({verdict(diff)}).")


# The quantities whose interval widths say how large a change this study can tell from noise.
GAIN_QUANTITIES = ("final gain", "gain", "reasoning gain")


def scope_note(study: Study, finding: Finding) -> str:
    """How much this study can show: its runs, the items behind each comparison, and the smallest
    change its intervals can tell from item noise; with one run, what it cannot show at all."""
    rows = [r for r in finding.results if r["quantity"] in GAIN_QUANTITIES and r["ci_low"] is not None]
    if len(study.runs) <= 3:
        runs = ", ".join(f"{s} on {label(d)}" for s, d in (split_run(r) for r in study.runs))
    else:
        runs = f"{len(study.students)} students x {len(study.datasets)} training sets"
    text = f"Scope: {len(study.runs)} run{'s' if len(study.runs) != 1 else ''} ({runs})"
    if rows:
        items = int(np.median([r["items"] for r in rows]))
        half = float(np.median([(r["ci_high"] - r["ci_low"]) / 2 for r in rows]))
        # An interval of zero width (every item unchanged) says nothing of the noise floor; one item's weight does.
        text += f"; about {items} items per comparison, so one item moves a score by about {1 / items:.2f}"
        if half > 0:
            text += f" and a change must exceed about {half:.2f} either way to show beyond item noise"
    text += "."
    if len(study.students) < 2 and len(study.datasets) < 2:
        text += (
            " One run shows that the measurement works and how this one run moved; it cannot show the paper's "
            "trends across model sizes or training sets, and a small model trained for a few steps need not "
            "behave as the paper's students do."
        )
    return text
