"""Print what a recipe will cost before it runs: per stage (teacher generation, training,
evaluation) the generations, the generated tokens (budget and expected) and the GPU-hours, for
the recipe's evaluation plan and, for comparison, the dense grid (every checkpoint, every item).

    study estimate --recipe recipes/full.yaml [--gpu H200-141GB] [--throughput my.yaml]

Expected lengths come from the throughput table's assumptions until the study has traces,
datasets or eval cells in its storage (``--measure``, the default when storage holds any); then
their measured means replace them and the ``length`` column says so.
"""

from __future__ import annotations

import polars as pl

from assets.study_plan import (
    UNPRICED,
    benchmark_items,
    dense_items,
    estimate,
    estimate_table,
    eval_plan_table,
    measure,
)
from orchestration.environments import resources_for
from recipe_schema.loading import load_recipe
from workloads.planning.cost import Throughput, totals


def report(recipe_path: str, throughput_path: str, gpu: str | None, env: str | None, measured: bool) -> str:
    recipe = load_recipe(recipe_path, check_files=False)
    throughput = Throughput.load(throughput_path)
    gpu = gpu or throughput.default_gpu
    throughput.check_gpu(gpu)
    items = {b: benchmark_items(recipe, b, count_local=True) for b in recipe.evaluation.benchmarks}
    found = None
    if measured:
        found = measure(recipe, resources_for(env)["storage"])
    planned = estimate(recipe, throughput, gpu, items, found)
    dense = totals(estimate(recipe, throughput, gpu, dense_items(recipe, items), found, follow_plan=False))
    plan = totals(planned)
    unpriced = [x.item for x in planned if x.length == UNPRICED]
    with pl.Config(tbl_rows=200, tbl_cols=12, tbl_width_chars=160, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        parts = [
            f"Recipe {recipe.name} on {gpu} (throughput table: {throughput_path})",
            "Evaluation plan:",
            str(eval_plan_table(recipe, items)),
            "Estimate:",
            str(estimate_table(planned)),
            f"Evaluation under the plan: {plan['evaluation']['generations']:,} generations, "
            f"{plan['evaluation']['gpu_hours']:,.0f} GPU-hours; the dense grid (every checkpoint, every item): "
            f"{dense['evaluation']['generations']:,} generations, {dense['evaluation']['gpu_hours']:,.0f} GPU-hours.",
            throughput.evaluation_note(),
        ]
    if unpriced:
        parts.append(f"Not priced (item count unknown, set `limit`): {', '.join(unpriced)}.")
    return "\n".join(parts)
