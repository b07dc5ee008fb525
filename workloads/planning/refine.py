"""Adaptive refinement: after a coarse pass over a run's checkpoints, which checkpoints to evaluate
next so that the dip's minimum and the recovery step are located at the dense grid's resolution
with a fraction of its cells.

A curve is a list of evaluated points (step, mean), step 0 (the base model) first. Two brackets
are refined, one midpoint per bracket and round:

- the minimum: both gaps next to the lowest point, bisected until its neighbours are adjacent
  checkpoints (a lower point found in a gap becomes the new minimum);
- the recovery: the gap between the last point below the base score and the first one back at
  or above it (after the minimum), bisected until the two are adjacent checkpoints.

Both stop at adjacent checkpoints, not when bootstrap intervals separate: measured on simulated
curves (benchmarks/refinement.py), stopping once the minimum's interval separates from its
neighbours', or refining only dips whose interval separates from the base model's, saved a few
cells but halved how often the dense grid's minimum was found.

Repeating rounds until nothing is requested converges; the caller caps the cells per round.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    step: int
    mean: float


def _between(candidates: list[int], low: int, high: int) -> list[int]:
    return [s for s in candidates if low < s < high]


def _midpoint(candidates: list[int], low: int, high: int) -> int | None:
    inside = _between(candidates, low, high)
    return inside[len(inside) // 2] if inside else None


def next_steps(curve: list[Point], candidates: list[int]) -> list[int]:
    """Steps (from ``candidates``, the run's saved checkpoints) to evaluate next; [] when the
    minimum and the recovery are bracketed as tightly as the checkpoints or the noise allow."""
    points = sorted(curve, key=lambda p: p.step)
    if len(points) < 2 or points[0].step != 0:
        return []
    evaluated = {p.step for p in points}
    candidates = sorted(set(candidates) - evaluated)
    base = points[0]
    later = points[1:]
    low = min(later, key=lambda p: (p.mean, p.step))
    if low.mean >= base.mean:
        return []  # no dip to locate
    wanted = []
    at = points.index(low)
    for neighbour in (points[at - 1], points[at + 1] if at + 1 < len(points) else None):
        step = _midpoint(candidates, *sorted((neighbour.step, low.step))) if neighbour else None
        if step is not None:
            wanted.append(step)
    after = points[at + 1 :]
    back = next((i for i, p in enumerate(after) if p.mean >= base.mean), None)
    if back is not None:
        before = after[back - 1] if back > 0 else low
        step = _midpoint(candidates, before.step, after[back].step)
        if step is not None:
            wanted.append(step)
    return sorted(set(wanted))
