"""Which checkpoints a benchmark is evaluated on: the evaluation plan, as plain functions.

A plan has three knobs (recipe: ``evaluation.checkpoints``, overridable per benchmark):

- ``every``: every k-th saved checkpoint (k = 1: all of them);
- ``dense_until``: every checkpoint up to this step, then every k-th (the dip comes early);
- ``steps``: an explicit list of steps instead of the two above.

The base model (step 0) is always in the plan: the dip and the recovery are measured against it.
So is a run's last checkpoint when it falls between two saves (training saves once more at its end,
at a step that is no multiple of the save interval): the final gain needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckpointPlan:
    every: int = 1
    dense_until: int | None = None
    steps: tuple[int, ...] | list[int] | None = None


def in_plan(plan: CheckpointPlan, step: int, save_every: int) -> bool:
    """``plan``: a ``CheckpointPlan`` or anything with the same fields (the recipe's section)."""
    if step == 0 or step % save_every:
        return True
    if plan.steps is not None:
        return step in plan.steps
    if plan.dense_until is not None and step <= plan.dense_until:
        return True
    return (step // save_every) % plan.every == 0


def saved_steps(total_steps: int, save_every: int) -> list[int]:
    """The checkpoints a run of ``total_steps`` optimizer steps leaves: the base model, every
    ``save_every`` steps, and the end of training."""
    steps = [0, *range(save_every, total_steps + 1, save_every)]
    return steps if steps[-1] == total_steps else [*steps, total_steps]


def planned_steps(plan: CheckpointPlan, steps: list[int], save_every: int) -> list[int]:
    return [s for s in steps if in_plan(plan, s, save_every)]


def training_steps(examples: int, epochs: float, global_batch_size: int) -> int:
    """Optimizer steps of a run (the last partial batch of an epoch still makes a step)."""
    return math.ceil(math.ceil(examples / global_batch_size) * epochs)
