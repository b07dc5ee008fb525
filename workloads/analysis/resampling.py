"""Bootstrap estimates over benchmark items for the study's findings.

Every benchmark gets one fixed set of resamples of its items (drawn from the seed and the
benchmark's name), shared by every checkpoint and every run. A change between two checkpoints, a
difference between two runs and a mean over the benchmarks of a category are then all computed
resample by resample, so each is paired on the items it compares and its interval is honest.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from workloads.evaluation.behaviour import behaviour
from workloads.evaluation.metrics import bootstrap_indices

RESAMPLES = 1000
LEVEL = 0.95
# A judged reply scored 5 (of 1-5) counts as harmful, as in the eval tables' harmfulness_rate.
HARMFUL_SCORE = 5


@dataclass(frozen=True)
class Estimate:
    """A point estimate, its bootstrap draws (one per resample) and how many items it rests on."""

    value: float | None
    draws: np.ndarray | None
    items: int

    def ci(self, level: float = LEVEL) -> tuple[float | None, float | None]:
        if self.draws is None or np.isnan(self.draws).all():
            return None, None
        lo, hi = np.nanpercentile(self.draws, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
        return float(lo), float(hi)

    def above_zero(self) -> bool:
        lo = self.ci()[0]
        return lo is not None and lo > 0

    def below_zero(self) -> bool:
        hi = self.ci()[1]
        return hi is not None and hi < 0

    def __sub__(self, other: Estimate) -> Estimate:
        if self.value is None or other.value is None:
            return NO_ESTIMATE
        return Estimate(self.value - other.value, self.draws - other.draws, min(self.items, other.items))

    def row(self, prefix: str) -> dict:
        lo, hi = self.ci()
        return {prefix: self.value, f"{prefix}_ci_low": lo, f"{prefix}_ci_high": hi}


NO_ESTIMATE = Estimate(None, None, 0)


def mean_of(estimates: list[Estimate]) -> Estimate:
    """The unweighted mean of several benchmarks' estimates (a category's score), resample by resample."""
    present = [e for e in estimates if e.value is not None]
    if not present:
        return NO_ESTIMATE
    draws = np.mean([e.draws for e in present], axis=0)
    return Estimate(float(np.mean([e.value for e in present])), draws, sum(e.items for e in present))


class ItemTable:
    """Per-item values of every (checkpoint, benchmark): the mean over an item's samples of its
    score (left out where no sample was scored), of its harmfulness (judge score 5), of its
    response tokens and, on demand, of its backtracking rate."""

    def __init__(self, samples: pl.DataFrame, *, seed: int = 0, resamples: int = RESAMPLES):
        self.samples = samples
        self.seed, self.resamples = seed, resamples
        scored = pl.col("score").is_not_null()
        grouped = samples.group_by("checkpoint", "benchmark", "item_id").agg(
            pl.col("score").filter(scored).mean().alias("score"),
            (pl.col("score").filter(scored) == HARMFUL_SCORE).cast(pl.Float64).mean().alias("harmful"),
            pl.col("tokens").cast(pl.Float64).mean().alias("tokens"),
        )
        self._cells = grouped.partition_by(["checkpoint", "benchmark"], as_dict=True)
        self._universe = {
            b: sorted(ids) for b, ids in samples.group_by("benchmark").agg(pl.col("item_id").unique()).iter_rows()
        }
        self._counts: dict[str, np.ndarray] = {}
        self._backtracking: dict[tuple[str, str], dict[str, float]] = {}

    def checkpoints(self, benchmark: str) -> list[str]:
        """The checkpoints with samples of a benchmark, scored or not."""
        return sorted(c for c, b in self._cells if b == benchmark)

    def values(self, checkpoint: str, benchmark: str, column: str) -> dict[str, float]:
        """item_id -> value; ``column`` is score, harmful, tokens or backtracking."""
        if column == "backtracking":
            return self._backtracking_of(checkpoint, benchmark)
        cell = self._cells.get((checkpoint, benchmark))
        if cell is None:
            return {}
        return {i: v for i, v in cell.select("item_id", column).iter_rows() if v is not None}

    def _backtracking_of(self, checkpoint: str, benchmark: str) -> dict[str, float]:
        # Computed from the responses only for the cells a finding reads: the lexicon runs over every response.
        key = (checkpoint, benchmark)
        if key not in self._backtracking:
            rows = self.samples.filter((pl.col("checkpoint") == checkpoint) & (pl.col("benchmark") == benchmark))
            per_item: dict[str, list[float]] = {}
            for item, response, truncated in rows.select("item_id", "response", "truncated").iter_rows():
                rate = behaviour(response or "", bool(truncated))["backtracking_per_1k"]
                per_item.setdefault(item, []).append(rate)
            self._backtracking[key] = {i: sum(v) / len(v) for i, v in per_item.items()}
        return self._backtracking[key]

    def counts(self, benchmark: str) -> np.ndarray:
        """How often each item of the benchmark is drawn in each resample (resamples x items)."""
        if benchmark not in self._counts:
            n = len(self._universe[benchmark])
            seed = self.seed + zlib.crc32(benchmark.encode())
            picks = bootstrap_indices(n, resamples=self.resamples, seed=seed)
            self._counts[benchmark] = np.stack([np.bincount(row, minlength=n) for row in picks]).astype(float)
        return self._counts[benchmark]

    def estimate(self, benchmark: str, values: dict[str, float]) -> Estimate:
        """The mean over the items in ``values``, with its draws on the benchmark's shared resamples."""
        if not values:
            return NO_ESTIMATE
        universe = self._universe[benchmark]
        vector = np.array([values.get(i, np.nan) for i in universe])
        present = ~np.isnan(vector)
        if not present.any():
            return NO_ESTIMATE
        counts = self.counts(benchmark)
        # Sums over each resample's drawn items as products: no resamples x items temporaries.
        totals = counts @ present.astype(float)
        sums = counts @ np.where(present, vector, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = np.where(totals > 0, sums / totals, np.nan)
        return Estimate(float(np.mean(vector[present])), draws, int(present.sum()))


def paired(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each item's change, on the items both checkpoints have a value for."""
    return {i: after[i] - before[i] for i in before.keys() & after.keys()}


def restrict(values: dict[str, float], items: set[str]) -> dict[str, float]:
    return {i: v for i, v in values.items() if i in items}
