"""The memory plan of a recipe's training runs (recipe_schema.student_plans) as text, one row per
student, to read before launching anything (``study plan --recipe recipes/full.yaml``)."""

from __future__ import annotations

from recipe_schema.recipe import Recipe
from recipe_schema.student_plans import memory_plan_rows


def plan_text(recipe: Recipe) -> str:
    lines = []
    training = recipe.training
    if training.cluster:
        c = training.cluster
        lines.append(
            f"{recipe.name}: {c.gpus} GPU(s) per run, {c.gpus_per_node} per node, {c.gpu_memory_gib:g} GiB each; "
            f"max_length {training.max_length}, per-device batch {training.per_device_batch_size}, "
            f"activation checkpointing {training.gradient_checkpointing}, fused loss {training.fused_loss}"
        )
    rows = memory_plan_rows(recipe)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines.append("  ".join(c.ljust(widths[c]) for c in columns))
    lines.extend("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
