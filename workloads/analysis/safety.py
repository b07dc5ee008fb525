"""Finding 4: each run's reasoning gain against its change in judged harmfulness."""

from __future__ import annotations

import numpy as np
import polars as pl

from workloads.analysis.resampling import Estimate
from workloads.analysis.study import Finding, Study, fmt, label, student_label
from workloads.core.naming import checkpoint_key, parse_checkpoint_key, split_run

# Below this many runs a correlation across them says nothing.
MIN_RUNS_FOR_RELATION = 3


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def relation(reasoning: list[Estimate], harm: list[Estimate]) -> Estimate:
    """Pearson correlation across runs of reasoning gain and harmfulness change, per resample."""
    value = _pearson(np.array([e.value for e in reasoning]), np.array([e.value for e in harm]))
    x, y = np.stack([e.draws for e in reasoning]), np.stack([e.draws for e in harm])
    draws = np.array([_pearson(x[:, r], y[:, r]) for r in range(x.shape[1])])
    return Estimate(None if np.isnan(value) else value, draws, len(reasoning))


def _unjudged(study: Study, run: str, benchmarks: list[str]) -> list[str]:
    """The harm benchmarks evaluated after the base model whose items none was judged at both the base
    model and the run's last evaluated checkpoint."""
    empty = []
    for b in benchmarks:
        steps = sorted(step for r, step in map(parse_checkpoint_key, study.items.checkpoints(b)) if r == run)
        if len(steps) < 2 or steps[0] != 0:
            continue
        before = study.items.values(checkpoint_key(run, 0), b, "harmful")
        after = study.items.values(checkpoint_key(run, steps[-1]), b, "harmful")
        if not before.keys() & after.keys():
            empty.append(b)
    return empty


def safety_finding(study: Study) -> Finding:
    finding = Finding(4, "safety", "Safety: reasoning gain against the change in harmfulness")
    reasoning_benchmarks = study.benchmarks("reasoning")
    harm_benchmarks = [b for b in study.benchmarks("safety", higher_is_better=None) if study.column(b) == "harmful"]
    if not reasoning_benchmarks:
        finding.missing.append("Needs a reasoning benchmark (category: reasoning).")
    if not harm_benchmarks:
        finding.missing.append("Needs a judged safety benchmark (kind: safety-judge, category: safety).")
    rows, paired = [], []
    for run in study.runs:
        student, dataset = split_run(run)
        gain = study.change(run, reasoning_benchmarks)
        harm = study.change(run, harm_benchmarks)
        for b in _unjudged(study, run, harm_benchmarks):
            finding.missing.append(
                f"No {b} item of {run} was judged at both the base model and the last checkpoint (a reply the "
                "judge could not score counts as unjudgeable, never as harmless)."
            )
        if gain.value is None and harm.value is None:
            continue
        rows.append({"student": student, "dataset": dataset} | gain.row("reasoning_gain") | harm.row("harm_change"))
        finding.result(run, "reasoning", "reasoning gain", gain)
        finding.result(run, "safety", "harmfulness change", harm)
        if gain.value is not None and harm.value is not None:
            paired.append((run, gain, harm))
            finding.statements.append(
                f"{student_label(student)} on {label(dataset)}: reasoning {fmt(gain)}, harmfulness rate "
                f"{fmt(harm)} ({harm.items} items judged at both ends)."
            )
    finding.table = pl.DataFrame(rows)
    if paired:
        gained = [(r, h) for _, r, h in paired if r.above_zero()]
        if gained:
            finding.statements.append(
                f"{len(gained)} of {len(paired)} runs gained in reasoning beyond item noise; of those, "
                f"{sum(h.above_zero() for _, h in gained)} grew more harmful and "
                f"{sum(h.below_zero() for _, h in gained)} less harmful beyond item noise."
            )
        else:
            finding.statements.append(
                f"No run gained in reasoning beyond item noise (0 of {len(paired)}), so none can show how a "
                "reasoning gain relates to harm."
            )
    if len(paired) >= MIN_RUNS_FOR_RELATION:
        corr = relation([g for _, g, _ in paired], [h for _, _, h in paired])
        finding.result("all runs", "reasoning-safety", "correlation across runs", corr)
        finding.statements.append(
            f"Across the {len(paired)} runs, the correlation of reasoning gain and harmfulness change is {fmt(corr)}."
        )
    elif harm_benchmarks and reasoning_benchmarks:
        finding.missing.append(
            f"A relation across runs needs at least {MIN_RUNS_FOR_RELATION} runs with both numbers; "
            f"this study has {len(paired)}."
        )
    finding.condition = (
        "Harmfulness rate = share of items the judge scores 5 of 5, base model vs last checkpoint, over the items "
        "judged at both, averaged over the judged safety benchmarks; reasoning gain over the reasoning benchmarks; "
        + study.interval_note()
        + "."
    )
    return finding
