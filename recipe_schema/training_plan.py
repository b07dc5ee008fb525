"""Prints the memory plan of a recipe's training runs (recipe_schema.student_plans), one row per
student, before launching anything:

    python -m recipe_schema.training_plan --recipe recipes/full.yaml
"""

from __future__ import annotations

import argparse

from recipe_schema.loading import load_recipe
from recipe_schema.student_plans import memory_plan_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True, help="recipe YAML")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe, check_files=False)
    training = recipe.training
    if training.cluster:
        c = training.cluster
        print(
            f"{recipe.name}: {c.gpus} GPU(s) per run, {c.gpus_per_node} per node, {c.gpu_memory_gib:g} GiB each; "
            f"max_length {training.max_length}, per-device batch {training.per_device_batch_size}, "
            f"activation checkpointing {training.gradient_checkpointing}, fused loss {training.fused_loss}"
        )
    rows = memory_plan_rows(recipe)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


if __name__ == "__main__":
    main()
