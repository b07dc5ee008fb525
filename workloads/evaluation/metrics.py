"""Summaries of scored samples: the metrics of each eval cell with bootstrap confidence
intervals, mean response length, truncation and unclosed-thinking rates.

An eval table has one row per (checkpoint, benchmark, metric). Which metrics a cell reports
depends on its benchmark kind (``BenchmarkKind.metrics``); the first is the cell's headline metric,
the one the training-dynamics curves follow.
"""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl

from workloads.evaluation.behaviour import MEASURES, behaviour
from workloads.evaluation.registry import kind_of, metrics_of

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
    "details": pl.String,  # JSON: what a score alone can't hold (IFEval's four results, the judge's reply)
}


def _categories(samples: pl.DataFrame) -> list[str]:
    """The item categories in the samples' details, numbers in their names in numeric order
    (category_2 before category_10), so every checkpoint's table lists them alike."""
    found = samples.select(pl.col("details").str.json_path_match("$.category")).to_series()
    return sorted(
        found.drop_nulls().unique().to_list(),
        key=lambda c: [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", c)],
    )


def bootstrap_ci(
    values: list[float],
    *,
    weights: list[float] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap over items (not samples: samples of one item are not independent).
    With ``weights`` the statistic is the weighted mean (a ratio of sums, e.g. instructions
    followed over instructions given, resampled by item)."""

    if not values:
        return float("nan"), float("nan")
    picks = bootstrap_indices(len(values), resamples=resamples, seed=seed)
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    totals = w[picks].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.sort(np.where(totals > 0, (v * w)[picks].sum(axis=1) / totals, np.nan))
    lo = means[int((1 - level) / 2 * resamples)]
    hi = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return float(lo), float(hi)


def bootstrap_indices(n: int, *, resamples: int = 1000, seed: int = 0):
    """Item indices of each bootstrap resample (``resamples`` x ``n``): the one resampling scheme
    behind every interval of the study, per cell and over whole curves."""

    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _per_item(judged: pl.DataFrame, metric: str) -> tuple[list[float], list[float] | None]:
    """Each item's value of ``metric`` (mean over its samples), in item order, and the item
    weights for metrics pooled over instructions (None for a plain mean over items)."""
    judged = judged.sort("item_id", "sample_idx")
    metric, _, category = metric.partition("/")
    if category:
        judged = judged.filter(pl.col("details").str.json_path_match("$.category") == category)
    if metric in ("pass@1", "prompt_level_strict_acc", "judge_score"):
        by_item = judged.group_by("item_id", maintain_order=True).agg(pl.col("score").mean())
        return by_item["score"].to_list(), None
    if metric == "harmfulness_rate":
        by_item = judged.group_by("item_id", maintain_order=True).agg((pl.col("score") == 5).cast(pl.Float64).mean())
        return by_item["score"].to_list(), None
    # The rest come from each sample's details, where the metric applies to it (a list value:
    # one per instruction, pooled).
    values: dict[str, list[float]] = {}
    for item, details in judged.select("item_id", "details").iter_rows():
        result = json.loads(details or "{}").get(metric)
        if result is not None:
            values.setdefault(item, []).extend(
                [float(x) for x in result] if isinstance(result, list) else [float(result)]
            )
    per_item = [sum(v) / len(v) for v in values.values()]
    weights = [float(len(v)) for v in values.values()] if metric.startswith("inst_level") else None
    return per_item, weights


def _mean_behaviour(group: pl.DataFrame) -> dict[str, float]:
    per_response = [behaviour(r or "", t) for r, t in group.select("response", "truncated").iter_rows()]
    return {m: sum(p[m] for p in per_response) / len(per_response) if per_response else 0.0 for m in MEASURES}


def summarize(samples: pl.DataFrame, kinds: dict[str, str], *, seed: int = 0) -> pl.DataFrame:
    """One row per (checkpoint, benchmark, metric); ``kinds`` maps benchmark -> kind. Samples
    without a score (reference or judge reply unparsable) are counted as unjudgeable, never 0."""
    rows = []
    for (checkpoint, benchmark), group in samples.group_by("checkpoint", "benchmark", maintain_order=True):
        judged = group.filter(pl.col("score").is_not_null())
        common = {
            "items": judged["item_id"].n_unique(),
            "samples": group.height,
            "unjudgeable": group.height - judged.height,
            "mean_tokens": float(group["tokens"].mean()),
            "truncation_rate": float(group["truncated"].mean()),
            "unclosed_thinking_rate": float((~group["think_closed"]).mean()),
            **_mean_behaviour(group),
        }
        kind = kinds[benchmark]
        by_category = [f"{m}/{c}" for m in kind_of(kind).category_metrics for c in _categories(group)]
        for rank, metric in enumerate((*metrics_of(kind), *by_category)):
            values, weights = _per_item(judged, metric) if judged.height else ([], None)
            lo, hi = bootstrap_ci(values, weights=weights, seed=seed)
            w = weights or [1.0] * len(values)
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "benchmark": benchmark,
                    "metric": metric,
                    "headline": rank == 0,
                    "mean": sum(v * x for v, x in zip(values, w, strict=True)) / sum(w) if values else None,
                    "ci_low": lo if values else None,
                    "ci_high": hi if values else None,
                    **common,
                }
            )
    return pl.DataFrame(rows, schema=EVAL_TABLE_SCHEMA)


EVAL_TABLE_SCHEMA = {
    "checkpoint": pl.String,
    "benchmark": pl.String,
    "metric": pl.String,
    "headline": pl.Boolean,
    "mean": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "items": pl.Int64,
    "samples": pl.Int64,
    "unjudgeable": pl.Int64,
    "mean_tokens": pl.Float64,
    "truncation_rate": pl.Float64,
    "unclosed_thinking_rate": pl.Float64,
    # Means over the cell's responses of workloads.evaluation.behaviour's measures (a lexicon proxy).
    **{measure: pl.Float64 for measure in MEASURES},
}
