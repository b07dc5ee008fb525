"""Which runs request which eval cells: one run per checkpoint with the benchmarks due there, and
the cells the refinement sensor adds where a curve turns (workloads/planning/refine.py)."""

from __future__ import annotations

from dagster import RunRequest

from assets.evaluation import eval_asset_key
from assets.partitions import contiguous_groups
from recipe_schema.recipe import Recipe
from workloads.core.naming import checkpoint_key
from workloads.planning.refine import Point, next_steps


def cell_runs(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, merge_neighbours: bool = False
) -> list[tuple[list[str], list[str]]]:
    """(checkpoints, benchmarks) of each run that covers the due cells (checkpoint -> benchmarks):
    a run selects exactly the benchmarks due at its checkpoints, so no cell outside them is
    computed. Each checkpoint gets its own run, which the cluster runs in parallel up to the
    ``inference`` pool's limit; ``merge_neighbours`` lets neighbouring checkpoints (in registration
    order) with the same due benchmarks share a run instead, for a study materialized in one
    process, where runs are sequential anyway and a judge server then starts once."""
    order = list(recipe.evaluation.benchmarks)
    by_benchmarks: dict[tuple[str, ...], list[str]] = {}
    for checkpoint in registered:
        wanted = tuple(b for b in order if b in set(due.get(checkpoint, ())))
        if wanted:
            by_benchmarks.setdefault(wanted, []).append(checkpoint)
    runs = []
    for benchmarks, checkpoints in by_benchmarks.items():
        groups = contiguous_groups(registered, checkpoints) if merge_neighbours else [[c] for c in checkpoints]
        runs += [(group, list(benchmarks)) for group in groups]
    return runs


def cell_requests(
    recipe: Recipe, registered: list[str], due: dict[str, list[str]], *, reason: dict[str, str], run_key_suffix: str
) -> list[RunRequest]:
    """One run request per checkpoint, selecting its due benchmarks (see ``cell_runs``)."""
    return [
        RunRequest(
            run_key=f"{checkpoint}:{','.join(benchmarks)}:{run_key_suffix}",
            partition_key=checkpoint,
            asset_selection=[eval_asset_key(b) for b in benchmarks],
            tags={"cells": f"{checkpoint}: {reason[checkpoint]}"[:1000]},
        )
        for (checkpoint,), benchmarks in cell_runs(recipe, registered, due)
    ]


def refinement_cells(
    recipe: Recipe, means: dict[tuple[str, str], float], saved: dict[str, list[int]]
) -> list[tuple[str, str]]:
    """The cells (checkpoint, benchmark) next_steps asks for, run by run."""
    wanted = []
    for run, steps in saved.items():
        for benchmark in recipe.evaluation.benchmarks:
            curve = [
                Point(s, means[(checkpoint_key(run, s), benchmark)])
                for s in steps
                if (checkpoint_key(run, s), benchmark) in means
            ]
            wanted += [(checkpoint_key(run, s), benchmark) for s in next_steps(curve, steps)]
    return wanted
