"""Print what a recipe will cost before it runs: per stage (teacher generation, training,
evaluation) the generations, the generated tokens (budget and expected) and the GPU-hours, for
the recipe's evaluation plan and, for comparison, the dense grid (every checkpoint, every item).

    python -m orchestration.estimate --recipe recipes/full.yaml [--gpu H200-141GB] [--throughput my.yaml]

Expected lengths come from the throughput table's assumptions until the study has traces,
datasets or eval cells in its storage (``--measure``, the default when storage holds any); then
their measured means replace them and the ``length`` column says so.
"""

from __future__ import annotations

import argparse

import polars as pl

from assets.study_plan import (
    DEFAULT_THROUGHPUT,
    UNPRICED,
    benchmark_items,
    dense_items,
    estimate,
    estimate_table,
    measure,
    plan_table,
)
from recipe_schema.recipe import PROJECT_ROOT, load_recipe
from workloads.planning.cost import Throughput, totals

DEFAULT_RECIPE = PROJECT_ROOT / "recipes" / "small.yaml"  # the code location's default


def report(recipe_path: str, throughput_path: str, gpu: str | None, env: str | None, measured: bool) -> str:
    recipe = load_recipe(recipe_path, check_files=False)
    throughput = Throughput.load(throughput_path)
    gpu = gpu or throughput.default_gpu
    throughput.check_gpu(gpu)
    items = {b: benchmark_items(recipe, b, count_local=True) for b in recipe.evaluation.benchmarks}
    found = None
    if measured:
        from orchestration.environments import resources_for

        found = measure(recipe, resources_for(env)["storage"])
    planned = estimate(recipe, throughput, gpu, items, found)
    dense = totals(estimate(recipe, throughput, gpu, dense_items(recipe, items), found, follow_plan=False))
    plan = totals(planned)
    unpriced = [x.item for x in planned if x.length == UNPRICED]
    with pl.Config(tbl_rows=200, tbl_cols=12, tbl_width_chars=160, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        parts = [
            f"Recipe {recipe.name} on {gpu} (throughput table: {throughput_path})",
            "Evaluation plan:",
            str(plan_table(recipe, items)),
            "Estimate:",
            str(estimate_table(planned)),
            f"Evaluation under the plan: {plan['evaluation']['generations']:,} generations, "
            f"{plan['evaluation']['gpu_hours']:,.0f} GPU-hours; the dense grid (every checkpoint, every item): "
            f"{dense['evaluation']['generations']:,} generations, {dense['evaluation']['gpu_hours']:,.0f} GPU-hours.",
        ]
    if unpriced:
        parts.append(f"Not priced (item count unknown, set `limit`): {', '.join(unpriced)}.")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=str(DEFAULT_RECIPE), help="recipe YAML")
    parser.add_argument("--throughput", default=str(DEFAULT_THROUGHPUT), help="throughput table YAML")
    parser.add_argument("--gpu", default=None, help="GPU type in the throughput table (default: its default_gpu)")
    parser.add_argument("--env", default=None, help="environment whose storage holds measured lengths")
    parser.add_argument("--no-measure", action="store_true", help="ignore anything the study has produced")
    args = parser.parse_args(argv)
    print(report(args.recipe, args.throughput, args.gpu, args.env, not args.no_measure))


if __name__ == "__main__":
    main()
