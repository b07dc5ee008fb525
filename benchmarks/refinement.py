"""Adaptive refinement (workloads/planning/refine.py) on simulated curves with known dips, against the dense
grid (every checkpoint) on the same noisy observations.

Each curve is a run of 640 steps with a checkpoint every 10 (65 points): the true score dips
below the base model's and recovers, ``p(s) = base - depth * (s/t) * exp(1 - s/t) + gain * (1 -
exp(-s/tau))``. At every checkpoint each item is answered ``samples`` times with that probability
(items of a real benchmark's count); the cell's mean is what the refinement sees. Both
strategies read the same observations, so differences are the strategy's.

    python -m benchmarks.refinement [--curves 300] [--seed 0]

Printed per benchmark size and starting plan: cells used (mean) against the dense grid's 65; how
far the found minimum and recovery steps are from the dense grid's (mean absolute steps, share
exact), the same for the coarse plan without refinement, and the minimum's distance from the
truth for the dense grid and for the refinement.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from workloads.analysis.dynamics import dip_and_recovery
from workloads.planning.eval_plan import CheckpointPlan, planned_steps, saved_steps
from workloads.planning.refine import Point, next_steps

STEPS = saved_steps(640, 10)
# (name, items, samples per item): MATH-500 x3, GPQA-Diamond x3, AIME24 x10, a 1,000-item HaluEval subset.
BENCHMARKS = [("math500", 500, 3), ("gpqa-diamond", 198, 3), ("aime24", 30, 10), ("halueval-1k", 1000, 1)]
PLANS = {
    "every 8th": CheckpointPlan(every=8),
    "full.yaml (to 100, then every 4th)": CheckpointPlan(every=4, dense_until=100),
}


def true_curve(rng) -> np.ndarray:
    base, depth = rng.uniform(0.3, 0.6), rng.uniform(0.06, 0.2)
    t, gain, tau = rng.uniform(30, 150), rng.uniform(0.05, 0.25), rng.uniform(150, 400)
    s = np.array(STEPS, dtype=float)
    return np.clip(base - depth * (s / t) * np.exp(1 - s / t) + gain * (1 - np.exp(-s / tau)), 0.01, 0.99)


def observe(rng, p: np.ndarray, items: int, samples: int) -> dict[int, Point]:
    """Per checkpoint: the mean over items of each item's share of correct samples. Items differ
    in difficulty (a logit offset each), as a real benchmark's do."""
    difficulty = rng.normal(0, 1.0, size=items)
    points = {}
    for step, prob in zip(STEPS, p, strict=True):
        logit = math.log(prob / (1 - prob)) + difficulty
        per_item = rng.binomial(samples, 1 / (1 + np.exp(-logit))) / samples
        points[step] = Point(step, float(per_item.mean()))
    return points


def found(points: dict[int, Point], steps: list[int]) -> tuple[int, int | None]:
    stats = dip_and_recovery(steps, [points[s].mean for s in steps])
    return stats["min_step"], stats["recovery_step"]


def refine(points: dict[int, Point], start: list[int]) -> list[int]:
    evaluated = set(start)
    while True:
        wanted = next_steps([points[s] for s in evaluated], STEPS)
        if not wanted:
            return sorted(evaluated)
        evaluated.update(wanted)


def distance(a: int | None, b: int | None) -> float:
    """Steps between two findings; a missed or spurious recovery counts as the whole run."""
    if a is None and b is None:
        return 0.0
    if a is None or b is None:
        return float(STEPS[-1])
    return float(abs(a - b))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{args.curves} simulated runs per row, {len(STEPS)} checkpoints each (dense grid = {len(STEPS)} cells)")
    header = (
        f"{'benchmark':<13} {'start plan':<36} {'cells':>6} {'saved':>6} {'|dmin| vs dense':>16} "
        f"{'exact':>6} {'|drec| vs dense':>16} {'exact':>6} {'coarse only |dmin|,|drec|':>26} "
        f"{'|dmin| vs true: dense, ours':>28}"
    )
    print(header)
    for name, items, samples in BENCHMARKS:
        for plan_name, plan in PLANS.items():
            rng = np.random.default_rng(args.seed)
            start = planned_steps(plan, STEPS, 10)
            cells, d_min, d_rec, exact_min, exact_rec, dense_true, ours_true = [], [], [], 0, 0, [], []
            coarse_min, coarse_rec = [], []
            for _ in range(args.curves):
                p = true_curve(rng)
                points = observe(rng, p, items, samples)
                dense = found(points, STEPS)
                chosen = refine(points, start)
                ours = found(points, chosen)
                coarse = found(points, start)
                coarse_min.append(distance(coarse[0], dense[0]))
                coarse_rec.append(distance(coarse[1], dense[1]))
                truth = STEPS[1 + int(np.argmin(p[1:]))]
                cells.append(len(chosen))
                d_min.append(distance(ours[0], dense[0]))
                d_rec.append(distance(ours[1], dense[1]))
                exact_min += ours[0] == dense[0]
                exact_rec += ours[1] == dense[1]
                dense_true.append(abs(dense[0] - truth))
                ours_true.append(abs(ours[0] - truth))
            n = args.curves
            print(
                f"{name:<13} {plan_name:<36} {np.mean(cells):6.1f} {1 - np.mean(cells) / len(STEPS):6.0%} "
                f"{np.mean(d_min):16.1f} {exact_min / n:6.0%} {np.mean(d_rec):16.1f} {exact_rec / n:6.0%} "
                f"{np.mean(coarse_min):13.1f},{np.mean(coarse_rec):12.1f} "
                f"{np.mean(dense_true):14.1f},{np.mean(ours_true):13.1f}"
            )


if __name__ == "__main__":
    main()
