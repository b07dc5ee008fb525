"""The paper's four findings, each computed from the eval cells with its bootstrap intervals, the
condition it holds under and, where the study cannot answer it, what is missing:

1. optimization dynamics: a dip in score and its recovery over training, per student size;
2. data: the final gain of each training set, by benchmark category;
3. capability: the gain and the change in backtracking carried out of domain, per student size;
4. safety: each run's reasoning gain against its change in harmfulness.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from workloads.analysis.dynamics import dip_and_recovery
from workloads.analysis.resampling import Estimate, mean_of, restrict
from workloads.analysis.safety import safety_finding
from workloads.analysis.study import (
    SCORE_CATEGORIES,
    Finding,
    Study,
    fmt,
    label,
    one_student_note,
    scope_note,
    size_contrast,
    student_label,
    student_size,
)
from workloads.core.naming import checkpoint_key, split_run

# (name, first set, second set, what the difference says)
CONTRASTS = (
    ("structure", "math-cot", "math-nocot", "reasoning traces vs the same answers without them"),
    ("source", "math-cot", "reference", "teacher traces vs the reference solutions"),
    ("domain", "countdown-cot", "math-cot", "Countdown traces vs math traces"),
)


def category_curve(study: Study, run: str, benchmarks: list[str]) -> tuple[list[int], dict, dict]:
    """Steps every benchmark was evaluated at, and the category's score and response length at each
    (estimates over the items answered at every one of those steps)."""
    common = set.intersection(*(set(study.steps(run, b)) for b in benchmarks))
    steps = sorted(common)
    scores: dict[int, list[Estimate]] = {s: [] for s in steps}
    tokens: dict[int, list[Estimate]] = {s: [] for s in steps}
    for b in benchmarks:
        per_step = {s: study.items.values(checkpoint_key(run, s), b, "score") for s in steps}
        complete = set.intersection(*(set(v) for v in per_step.values())) if per_step else set()
        for s in steps:
            scores[s].append(study.items.estimate(b, restrict(per_step[s], complete)))
            lengths = study.items.values(checkpoint_key(run, s), b, "tokens")
            tokens[s].append(study.items.estimate(b, restrict(lengths, complete)))
    return steps, {s: mean_of(v) for s, v in scores.items()}, {s: mean_of(v) for s, v in tokens.items()}


def resampled_dips(steps: list[int], score: dict[int, Estimate]) -> tuple[float | None, float | None]:
    """Of the resampled curves, the share that dip below their base, and of those the share that come back."""
    matrix = np.stack([score[s].draws for s in steps], axis=1)
    stats = [dip_and_recovery(steps, list(row)) for row in matrix if not np.isnan(row).any()]
    dipped = [s for s in stats if s["dipped"]]
    if not stats:
        return None, None
    back = sum(s["recovery_step"] is not None for s in dipped) / len(dipped) if dipped else None
    return len(dipped) / len(stats), back


def dynamics_finding(study: Study) -> Finding:
    finding = Finding(1, "dynamics", "Optimization dynamics: a dip, then recovery")
    dataset = study.primary_dataset()
    curve_rows, rows, all_steps = [], [], set()
    kept: dict[str, dict] = {"dip": {}, "final gain": {}}
    for student in study.students:
        run = study.run(student, dataset)
        for category in SCORE_CATEGORIES:
            benchmarks = [b for b in study.benchmarks(category) if 0 in study.steps(run, b)]
            if not benchmarks:
                continue
            steps, score, tokens = category_curve(study, run, benchmarks)
            all_steps.update(steps)
            for s in steps:
                curve_rows.append(
                    {"student": student, "dataset": dataset, "category": category, "step": s}
                    | score[s].row("score")
                    | tokens[s].row("tokens")
                )
            if len(steps) < 3:
                finding.missing.append(
                    f"A dip and its recovery need at least three evaluated checkpoints (base, a low point, a later "
                    f"one); {run} has {len(steps)} on {category}."
                )
            if len(steps) < 2 or score[0].value is None:
                continue
            stats = dip_and_recovery(steps, [score[s].value for s in steps])
            dip, gain = score[stats["min_step"]] - score[0], score[steps[-1]] - score[0]
            length = tokens[steps[-1]] - tokens[0]
            dip_share, support = resampled_dips(steps, score)
            kept["dip"][student, category], kept["final gain"][student, category] = dip, gain
            rows.append(
                {"student": student, "dataset": dataset, "category": category, "benchmarks": len(benchmarks)}
                | {k: stats[k] for k in ("base", "min", "min_step", "recovery_step", "final_step")}
                | dip.row("dip")
                | {"dip_significant": dip.below_zero(), "dip_share": dip_share, "recovery_support": support}
                | gain.row("final_gain")
                | length.row("length_change")
            )
            for quantity, estimate in (("dip", dip), ("final gain", gain), ("length change (tokens)", length)):
                finding.result(run, category, quantity, estimate)
            share = "" if support is None else f" (of the resampled curves that dip, {support:.0%} come back)"
            if stats["dipped"]:
                back = (
                    f"back at base by step {stats['recovery_step']}"
                    if stats["recovery_step"] is not None
                    else "still below base at the last step"
                )
                low = (
                    f"lowest {stats['min']:.2f} at step {stats['min_step']} (dip {fmt(dip)}, "
                    f"{'significant' if dip.below_zero() else 'within item noise'}), {back}{share}"
                )
            else:
                low = "no step below base" + (
                    "" if dip_share is None else f" ({dip_share:.0%} of resampled curves dip)"
                )
            finding.statements.append(
                f"{student_label(student)}, {category}: {score[0].value:.2f} at base, {low}; final gain {fmt(gain)} "
                f"at step {steps[-1]}; response length {tokens[0].value:.0f} -> {tokens[steps[-1]].value:.0f} tokens "
                f"({fmt(length, 0)})."
            )
    finding.table, finding.curves = pl.DataFrame(rows), pl.DataFrame(curve_rows)
    for category in SCORE_CATEGORIES:
        for quantity in ("dip", "final gain"):
            size_contrast(study, finding, kept[quantity], category, quantity)
    if dataset != "math-cot" and dataset is not None:
        finding.missing.append(
            f"The paper follows Math-CoT training; no math-cot run here, so this is {label(dataset)}."
        )
    if not study.benchmarks("reasoning") and not study.benchmarks("out-of-domain"):
        finding.missing.append("Needs a reasoning or out-of-domain benchmark with a score.")
    finding.missing = [m for m in [one_student_note(study, "How the dip changes with size"), *finding.missing] if m]
    finding.condition = (
        f"Training set {label(dataset) if dataset else 'none'}; checkpoints at steps {sorted(all_steps)}; a category's "
        "score is the mean of its benchmarks' headline scores over the items answered at every step; "
        + study.interval_note()
        + "."
    )
    return finding


def data_finding(study: Study) -> Finding:
    finding = Finding(2, "data", "Data: the final gain of each training set")
    rows, gains = [], {}
    for run in study.runs:
        student, dataset = split_run(run)
        for category in SCORE_CATEGORIES:
            gain = study.change(run, study.benchmarks(category))
            if gain.value is None:
                continue
            gains[student, dataset, category] = gain
            rows.append({"student": student, "dataset": dataset, "category": category} | gain.row("gain"))
            finding.result(run, category, "final gain", gain)
    finding.table = pl.DataFrame(rows)
    for student in study.students:
        parts = [f"{label(d)} {c} {fmt(g)}" for (s, d, c), g in gains.items() if s == student]
        if parts:
            finding.statements.append(
                f"{student_label(student)}, gain base -> last checkpoint: " + "; ".join(parts) + "."
            )
    for name, first, second, meaning in CONTRASTS:
        absent = [d for d in (first, second) if d not in study.datasets]
        if absent:
            finding.missing.append(
                f"The {name} contrast ({label(first)} minus {label(second)}: {meaning}) needs "
                + " and ".join(f"a {label(d)} run (training.datasets: {d})" for d in absent)
                + "."
            )
            continue
        for category in SCORE_CATEGORIES:
            diffs = {
                s: gains[s, first, category] - gains[s, second, category]
                for s in study.students
                if (s, first, category) in gains and (s, second, category) in gains
            }
            if not diffs:
                continue
            ahead, behind = sum(d.above_zero() for d in diffs.values()), sum(d.below_zero() for d in diffs.values())
            for s, d in diffs.items():
                finding.result(f"{s}__{first} minus {second}", category, f"{name}: gain difference", d)
            finding.statements.append(
                f"{name.capitalize()} ({label(first)} minus {label(second)}), {category}: "
                + "; ".join(f"{s} {fmt(d)}" for s, d in diffs.items())
                + f". {label(first)} ahead beyond item noise for {ahead} of {len(diffs)} students, behind for {behind}."
            )
    if len(study.datasets) < 2:
        only = label(study.datasets[0]) if study.datasets else "nothing"
        finding.missing.insert(0, f"Comparing training sets needs at least two; this study trains on {only} only.")
    finding.condition = (
        "Gain = last evaluated checkpoint minus the base model, paired on the items both answered, averaged over "
        "the category's benchmarks (safety is finding 4); " + study.interval_note() + "."
    )
    return finding


def capability_finding(study: Study) -> Finding:
    finding = Finding(3, "capability", "Capability: gain and backtracking carried out of domain, per student size")
    rows, kept = [], {"gain": {}, "backtracking change": {}}
    primary = study.primary_dataset()
    for run in study.runs:
        student, dataset = split_run(run)
        for category in SCORE_CATEGORIES:
            benchmarks = study.benchmarks(category)
            gain = study.change(run, benchmarks)
            if gain.value is None:
                continue
            backtracking = study.change(run, benchmarks, "backtracking")
            length = study.change(run, benchmarks, "tokens")
            rows.append(
                {"student": student, "size_b": student_size(student), "dataset": dataset, "category": category}
                | gain.row("gain")
                | backtracking.row("backtracking_change")
                | length.row("length_change")
            )
            for quantity, est in (("gain", gain), ("backtracking change (per 1k words)", backtracking)):
                finding.result(run, category, quantity, est)
            if dataset == primary:
                kept["gain"][student, category], kept["backtracking change"][student, category] = gain, backtracking
            if category == "out-of-domain" and dataset == primary:
                finding.statements.append(
                    f"{student_label(student)} on {label(dataset)}, out of domain: gain {fmt(gain)}; backtracking "
                    f"{fmt(backtracking, 1)} moves per 1k words; length {fmt(length, 0)} tokens: "
                    + _reading(gain, backtracking, length)
                    + "."
                )
    finding.table = pl.DataFrame(rows)
    for quantity, estimates in kept.items():
        size_contrast(study, finding, estimates, "out-of-domain", quantity)
    if not study.benchmarks("out-of-domain"):
        finding.missing.append("Needs an out-of-domain benchmark (category: out-of-domain).")
    note = one_student_note(study, "How transfer changes with size")
    finding.missing = [m for m in [note, *finding.missing] if m]
    finding.condition = (
        "Base model vs last checkpoint, paired on items; backtracking is the behaviour lexicon's rate "
        "(workloads/evaluation/behaviour.py: a proxy that counts phrases, not moves); " + study.interval_note() + "."
    )
    return finding


def _reading(gain: Estimate, backtracking: Estimate, length: Estimate) -> str:
    if backtracking.above_zero():
        return "more backtracking out of domain" + (
            ", with a gain (a procedure carried over)" if gain.above_zero() else ""
        )
    if length.above_zero():
        return "longer answers without more backtracking (length imitated, not the procedure)"
    return "no change beyond item noise in backtracking or length"


def study_findings(
    eval_tables: pl.DataFrame,
    samples: pl.DataFrame,
    categories: dict[str, str],
    *,
    students: list[str],
    datasets: list[str],
    seed: int = 0,
) -> list[Finding]:
    """The four findings from the eval tables and per-sample scores of a study's cells; ``students``
    and ``datasets`` as the recipe lists them, ``categories`` maps each benchmark to its category."""
    study = Study.of(eval_tables, samples, categories, students=students, datasets=datasets, seed=seed)
    if not study.runs:
        raise ValueError("no evaluated run of the recipe's students and datasets: nothing to find")
    findings = [dynamics_finding(study), data_finding(study), capability_finding(study), safety_finding(study)]
    for finding in findings:
        finding.scope = scope_note(study, finding)
    return findings
