"""Summaries of scored samples: pass@1 with a bootstrap confidence interval, lengths, rates."""

from __future__ import annotations

import random

import polars as pl

EVAL_SAMPLE_SCHEMA = {
    "checkpoint": pl.String,
    "benchmark": pl.String,
    "item_id": pl.String,
    "sample_idx": pl.Int64,
    "response": pl.String,
    "score": pl.Float64,
    "tokens": pl.Int64,
    "truncated": pl.Boolean,
    "think_closed": pl.Boolean,
}


def bootstrap_ci(values: list[float], *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap over items (not samples: samples of one item are not independent)."""
    if not values:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * resamples)]
    hi = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return lo, hi


def summarize(samples: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    """One row per (checkpoint, benchmark): pass@1 averaged over samples per item, then items."""
    rows = []
    for (checkpoint, benchmark), group in samples.group_by("checkpoint", "benchmark", maintain_order=True):
        judged = group.filter(pl.col("score").is_not_null())
        # Ordered by item so the seeded bootstrap sees the same list every time.
        per_item = judged.group_by("item_id").agg(pl.col("score").mean()).sort("item_id")["score"].to_list()
        lo, hi = bootstrap_ci(per_item, seed=seed)
        rows.append(
            {
                "checkpoint": checkpoint,
                "benchmark": benchmark,
                "metric": "pass@1",
                "mean": sum(per_item) / len(per_item) if per_item else None,
                "ci_low": lo if per_item else None,
                "ci_high": hi if per_item else None,
                "items": len(per_item),
                "samples": group.height,
                "unjudgeable": group.height - judged.height,
                "mean_tokens": float(group["tokens"].mean()),
                "truncation_rate": float(group["truncated"].mean()),
                "unclosed_thinking_rate": float((~group["think_closed"]).mean()),
            }
        )
    return pl.DataFrame(rows)
