"""Training-dynamics analysis on eval tables: curves per run and dip-and-recovery numbers."""

from __future__ import annotations

import polars as pl


def curves(tables: pl.DataFrame) -> pl.DataFrame:
    """Eval tables of many checkpoints -> one row per (run, step, benchmark), ordered by step."""
    parts = tables["checkpoint"].str.split_exact("@step-", 1)
    return (
        tables.with_columns(run=parts.struct.field("field_0"), step=parts.struct.field("field_1").cast(pl.Int64))
        .select("run", "step", "benchmark", "mean", "ci_low", "ci_high", "mean_tokens", "truncation_rate")
        .sort("run", "benchmark", "step")
    )


def dip_and_recovery(steps: list[int], scores: list[float]) -> dict:
    """Base score (step 0), the minimum after it and its step, the first step back at or above base,
    and the final gain. ``recovery_step`` is None while the run is still in its dip."""
    if not steps or steps[0] != 0:
        raise ValueError("a curve starts at step 0 (the base model)")
    base = scores[0]
    later = list(zip(steps[1:], scores[1:]))
    if not later:
        return {"base": base, "min": base, "min_step": 0, "dipped": False, "recovery_step": None, "final_gain": 0.0}
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
    }


def dynamics_summary(curve: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for (run, benchmark), group in curve.group_by("run", "benchmark", maintain_order=True):
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
