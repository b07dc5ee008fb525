"""Training-dynamics analysis on eval tables: curves per run and dip-and-recovery numbers."""

from __future__ import annotations

import numpy as np
import polars as pl

from workloads.core.naming import STEP_MARKER, checkpoint_key, split_run
from workloads.evaluation.behaviour import MEASURES as BEHAVIOUR_MEASURES
from workloads.evaluation.metrics import bootstrap_ci, bootstrap_indices
from workloads.evaluation.registry import lower_is_better


def curves(tables: pl.DataFrame) -> pl.DataFrame:
    """Eval tables of many cells -> one row per (run, step, benchmark, metric), ordered by step."""
    parts = tables["checkpoint"].str.split_exact(STEP_MARKER, 1)
    return (
        tables.with_columns(run=parts.struct.field("field_0"), step=parts.struct.field("field_1").cast(pl.Int64))
        .select(
            "run",
            "step",
            "benchmark",
            "metric",
            "headline",
            "mean",
            "ci_low",
            "ci_high",
            "mean_tokens",
            "truncation_rate",
            *[m for m in BEHAVIOUR_MEASURES if m in tables.columns],
        )
        .sort("run", "benchmark", "metric", "step")
    )


def headline(curve: pl.DataFrame) -> pl.DataFrame:
    """Each benchmark's headline metric only (one curve per run and benchmark)."""
    return curve.filter(pl.col("headline"))


def dip_and_recovery(steps: list[int], scores: list[float]) -> dict:
    """Base score (step 0), the minimum after it and its step, the first step back at or above base,
    and the final gain. ``recovery_step`` is None while the run is still in its dip."""
    if not steps or steps[0] != 0:
        raise ValueError("a curve starts at step 0 (the base model)")
    base = scores[0]
    later = list(zip(steps[1:], scores[1:], strict=True))
    if not later:
        return {
            "base": base,
            "min": base,
            "min_step": 0,
            "dipped": False,
            "recovery_step": None,
            "final_gain": 0.0,
            "final_step": 0,
        }
    min_step, min_score = min(later, key=lambda p: (p[1], p[0]))
    dipped = min_score < base
    recovery = next((s for s, v in later if s > min_step and v >= base), None) if dipped else None
    return {
        "base": base,
        "min": min_score,
        "min_step": min_step,
        "dipped": dipped,
        "recovery_step": recovery,
        "final_gain": later[-1][1] - base,
        "final_step": later[-1][0],
    }


def dynamics_summary(curve: pl.DataFrame) -> pl.DataFrame:
    """Dip and recovery of every headline metric where higher is better (scores, not harm rates:
    their per-sample score is what the paired intervals resample)."""
    rows = []
    worse_up = [m for m in curve["metric"].unique().to_list() if lower_is_better(m)]
    scored = headline(curve).filter(~pl.col("metric").is_in(worse_up))
    for (run, benchmark), group in scored.group_by("run", "benchmark", maintain_order=True):
        # A checkpoint with nothing judgeable has no score; leaving it out beats reading it as 0.
        group = group.filter(pl.col("mean").is_not_null()).sort("step")
        if group.height == 0 or group["step"][0] != 0:
            continue  # the base model has not been evaluated yet
        stats = dip_and_recovery(group["step"].to_list(), group["mean"].to_list())
        tokens = group["mean_tokens"].to_list()
        rows.append(
            {
                "run": run,
                "benchmark": benchmark,
                **stats,
                "still_in_dip": stats["dipped"] and stats["recovery_step"] is None,
                "length_still_rising": len(tokens) >= 2 and tokens[-1] > tokens[-2],
            }
        )
    return pl.DataFrame(rows)


def item_scores(samples: pl.DataFrame, checkpoint: str, benchmark: str) -> pl.DataFrame:
    """``item_id``, ``score``: each item's mean over its scored samples in one cell."""
    rows = samples.filter(
        (pl.col("checkpoint") == checkpoint) & (pl.col("benchmark") == benchmark) & pl.col("score").is_not_null()
    )
    return rows.group_by("item_id").agg(pl.col("score").mean())


def paired_gain(samples: pl.DataFrame, before: str, after: str, *, benchmark: str, seed: int = 0) -> dict:
    """Score change from checkpoint ``before`` to ``after`` on the items both answered, with a
    paired bootstrap CI over items (item difficulty cancels out, so the interval is honest)."""
    joined = (
        item_scores(samples, before, benchmark)
        .join(item_scores(samples, after, benchmark), on="item_id", suffix="_after")
        .sort("item_id")
    )
    diffs = (joined["score_after"] - joined["score"]).to_list()
    if not diffs:
        return {"gain": None, "gain_ci_low": None, "gain_ci_high": None, "paired_items": 0}
    lo, hi = bootstrap_ci(diffs, seed=seed)
    return {"gain": sum(diffs) / len(diffs), "gain_ci_low": lo, "gain_ci_high": hi, "paired_items": len(diffs)}


def curve_intervals(
    samples: pl.DataFrame,
    run: str,
    benchmark: str,
    steps: list[int],
    *,
    seed: int = 0,
    resamples: int = 1000,
    level: float = 0.95,
) -> dict:
    """Bootstrap the whole curve at once, resampling the items answered at every step (the same
    items at every step, so the curve's shape is kept): intervals for the base score, the minimum
    and the recovery step. ``recovery_support`` is the share of resampled curves that dipped and
    came back; the recovery step's interval is taken over those."""
    per_step = [
        item_scores(samples, checkpoint_key(run, step), benchmark).rename({"score": str(step)}) for step in steps
    ]
    joined = per_step[0]
    for table in per_step[1:]:
        joined = joined.join(table, on="item_id")
    empty = {
        "base_ci_low": None,
        "base_ci_high": None,
        "min_ci_low": None,
        "min_ci_high": None,
        "recovery_step_ci_low": None,
        "recovery_step_ci_high": None,
        "recovery_support": None,
    }
    if joined.height == 0:
        return empty
    matrix = joined.sort("item_id").select([str(s) for s in steps]).to_numpy()
    means = matrix[bootstrap_indices(len(matrix), resamples=resamples, seed=seed)].mean(axis=1)
    stats = [dip_and_recovery(steps, list(curve)) for curve in means]
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100

    def interval(values):
        return (float(np.percentile(values, lo)), float(np.percentile(values, hi))) if len(values) else (None, None)

    dipped = [s for s in stats if s["dipped"]]
    recovered = [s["recovery_step"] for s in dipped if s["recovery_step"] is not None]
    (base_lo, base_hi), (min_lo, min_hi) = interval([s["base"] for s in stats]), interval([s["min"] for s in stats])
    rec_lo, rec_hi = interval(recovered)
    return {
        "base_ci_low": base_lo,
        "base_ci_high": base_hi,
        "min_ci_low": min_lo,
        "min_ci_high": min_hi,
        "recovery_step_ci_low": rec_lo,
        "recovery_step_ci_high": rec_hi,
        "recovery_support": len(recovered) / len(dipped) if dipped else None,
    }


def with_intervals(summary: pl.DataFrame, curve: pl.DataFrame, samples: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    """Adds confidence intervals to every number of the dip-and-recovery summary: paired CIs for
    the dip (minimum vs base) and the final gain (last step vs base), a dip being significant when
    its whole interval lies below zero; bootstrap intervals for the base score, the minimum and the
    recovery step (:func:`curve_intervals`)."""

    rows = []
    for row in summary.iter_rows(named=True):
        run, bench = row["run"], row["benchmark"]
        base = checkpoint_key(run, 0)
        dip = paired_gain(samples, base, checkpoint_key(run, row["min_step"]), benchmark=bench, seed=seed)
        final = paired_gain(samples, base, checkpoint_key(run, row["final_step"]), benchmark=bench, seed=seed)
        steps = (
            headline(curve)
            .filter((pl.col("run") == run) & (pl.col("benchmark") == bench) & pl.col("mean").is_not_null())
            .sort("step")["step"]
            .to_list()
        )
        rows.append(
            {
                **row,
                "dip_ci_low": dip["gain_ci_low"],
                "dip_ci_high": dip["gain_ci_high"],
                "dip_significant": dip["gain_ci_high"] is not None and dip["gain_ci_high"] < 0,
                "final_gain_ci_low": final["gain_ci_low"],
                "final_gain_ci_high": final["gain_ci_high"],
                **curve_intervals(samples, run, bench, steps, seed=seed),
            }
        )
    return pl.DataFrame(rows)


def comparison_table(curve: pl.DataFrame) -> pl.DataFrame:
    """Base and final value of every metric of every run on every benchmark, with student and
    dataset as columns so CoT vs NoCoT vs reference vs Countdown and student sizes line up."""
    rows = []
    for (run, benchmark, metric), group in curve.group_by("run", "benchmark", "metric", maintain_order=True):
        group = group.filter(pl.col("mean").is_not_null()).sort("step")
        if group.height == 0 or group["step"][0] != 0:
            continue
        student, dataset = split_run(run)
        base, final = group["mean"][0], group["mean"][-1]
        # How the responses reason, at the base and the last step: backtracking carried to other
        # benchmarks reads differently from longer answers without it.
        behaviour = {
            f"{m}_{end}": group[m][at]
            for m in (*BEHAVIOUR_MEASURES, "mean_tokens")
            if m in group.columns
            for end, at in (("base", 0), ("final", -1))
        }
        rows.append(
            {
                "student": student,
                "dataset": dataset,
                "benchmark": benchmark,
                "metric": metric,
                "headline": group["headline"][0],
                "base": base,
                "final": final,
                "gain": final - base,
                "lower_is_better": lower_is_better(metric),
                "final_step": group["step"][-1],
                **behaviour,
            }
        )
    return pl.DataFrame(rows).sort("benchmark", "metric", "student", "dataset") if rows else pl.DataFrame()


def reasoning_vs_safety(comparison: pl.DataFrame, categories: dict[str, str]) -> pl.DataFrame:
    """Per run, the change in reasoning next to the change in safety: mean gain of the headline
    metrics of reasoning and out-of-domain benchmarks; change of the judged harmfulness rate and
    mean judge score (a rise is worse); gain in expected refusal behaviour (XSTest and the like).
    None where the recipe has no such benchmark."""
    if comparison.height == 0:
        return pl.DataFrame()
    tagged = comparison.with_columns(
        category=pl.col("benchmark").replace_strict(categories, default="reasoning", return_dtype=pl.String)
    )

    def mean_change(group: pl.DataFrame, category: str, metric: str | None = None):
        chosen = group.filter(pl.col("category") == category)
        chosen = chosen.filter(pl.col("headline")) if metric is None else chosen.filter(pl.col("metric") == metric)
        return float(chosen["gain"].mean()) if chosen.height else None

    rows = []
    for (student, dataset), group in tagged.group_by("student", "dataset", maintain_order=True):
        rows.append(
            {
                "student": student,
                "dataset": dataset,
                "reasoning_gain": mean_change(group, "reasoning"),
                "out_of_domain_gain": mean_change(group, "out-of-domain"),
                "harmfulness_rate_change": mean_change(group, "safety", "harmfulness_rate"),
                "judge_score_change": mean_change(group, "safety", "judge_score"),
                "refusal_behaviour_gain": mean_change(group, "safety", "pass@1"),
            }
        )
    return pl.DataFrame(rows)


# How a run's responses changed, next to how its scores did (headline rows; per category).
TRANSFER_MEASURES = (
    "backtracking_per_1k",
    "verification_per_1k",
    "exploration_per_1k",
    "repeated_ngram_share",
    "mean_tokens",
)


def behaviour_transfer(comparison: pl.DataFrame, categories: dict[str, str]) -> pl.DataFrame:
    """Per run and benchmark category (reasoning, out-of-domain, safety): the mean headline gain
    beside the mean change of each behaviour measure and of response length, base to last step.
    Backtracking that rises out of domain along with the score reads as a procedure carried over;
    length that rises without it, as imitated verbosity."""
    if comparison.height == 0 or "backtracking_per_1k_final" not in comparison.columns:
        return pl.DataFrame()
    tagged = comparison.filter(pl.col("headline")).with_columns(
        category=pl.col("benchmark").replace_strict(categories, default="reasoning", return_dtype=pl.String)
    )
    changes = [(pl.col(f"{m}_final") - pl.col(f"{m}_base")).mean().alias(f"{m}_change") for m in TRANSFER_MEASURES]
    return (
        tagged.group_by("student", "dataset", "category", maintain_order=True)
        .agg(pl.col("benchmark").n_unique().alias("benchmarks"), pl.col("gain").mean().alias("score_gain"), *changes)
        .sort("student", "dataset", "category")
    )


def analyse(eval_tables: pl.DataFrame, samples: pl.DataFrame, categories: dict[str, str], *, seed: int = 0) -> dict:
    """Every table of the dynamics report from the eval tables and per-sample scores of many cells:
    ``curves``, ``dynamics`` (dip and recovery with intervals), ``comparison``, ``reasoning_vs_safety``
    and ``behaviour`` (:func:`behaviour_transfer`)."""
    curve = curves(eval_tables)
    summary = dynamics_summary(curve)
    if summary.height:
        summary = with_intervals(summary, curve, samples, seed=seed)
    comparison = comparison_table(curve)
    return {
        "curves": curve,
        "dynamics": summary,
        "comparison": comparison,
        "reasoning_vs_safety": reasoning_vs_safety(comparison, categories),
        "behaviour": behaviour_transfer(comparison, categories),
    }


def under_optimized_warnings(summary: pl.DataFrame) -> list[str]:
    """One line per run and benchmark whose curve had not settled when training stopped."""
    flags = (("still in the dip", "still_in_dip"), ("length still rising", "length_still_rising"))
    return [
        f"{r['run']} / {r['benchmark']}: " + " and ".join(text for text, column in flags if r[column])
        for r in summary.iter_rows(named=True)
        if any(r[column] for _, column in flags)
    ]
