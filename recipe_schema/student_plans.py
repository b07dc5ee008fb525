"""The memory plan of a recipe's training runs: one per student, on the recipe's cluster shape.

Recipe validation refuses a student that cannot fit; the training asset resolves ``auto`` with it
and shows it in its metadata; ``study plan`` prints it.
"""

from __future__ import annotations

from pathlib import Path

from recipe_schema.errors import FieldProblem
from workloads.planning.memory_plan import KNOWN_SHAPES, ModelShape, Plan, plan

# FSDP layouts suggested when a run does not fit: powers of two up to this many GPUs.
MAX_SUGGESTED_GPUS = 512


def student_shape(recipe, student: str) -> ModelShape | None:
    """A student's sizes: the known config of a hub model, or a local folder's config.json."""
    spec = recipe.models[student]
    if spec.source == "hub":
        return KNOWN_SHAPES.get(spec.path)
    if spec.source == "local" and (Path(recipe.data_path(spec.path)) / "config.json").is_file():
        return ModelShape.from_folder(recipe.data_path(spec.path))
    return None


def student_plan(training, shape: ModelShape, gpus: int | None = None) -> Plan:
    """``gpus`` overrides the cluster's count (the launcher's actual GPUs for the run)."""
    cluster = training.cluster
    return plan(
        shape,
        training.parallelism,
        gpus=gpus or cluster.gpus,
        gpu_memory_gib=cluster.gpu_memory_gib,
        max_length=training.max_length,
        per_device_batch=training.per_device_batch_size,
        activation_checkpointing=training.gradient_checkpointing,
        fused_loss=training.fused_loss,
        max_gpus=MAX_SUGGESTED_GPUS,
    )


def check_students_fit(recipe) -> None:
    """Raises ValueError naming the first student whose run cannot fit (or cannot be planned)."""
    if recipe.training.cluster is None:
        return
    for i, student in enumerate(recipe.training.students):
        shape = student_shape(recipe, student)
        where = f"training.students[{i}]"
        if shape is None:
            known = ", ".join(KNOWN_SHAPES)
            raise PlanProblem(
                where,
                f"{student}: cannot plan its memory: a local folder with config.json, or a hub "
                f"model whose config is known ({known})",
            )
        result = student_plan(recipe.training, shape)
        if not result.fits:
            raise PlanProblem(where, f"{student}: {result.describe()}")


class PlanProblem(FieldProblem):
    """A run that cannot be planned or does not fit; ``where`` is the recipe field to change."""


def run_layout(recipe, student: str, gpus: int | None = None) -> tuple[str, int, dict | None]:
    """(parallelism, GPUs, plan metadata) of one student's runs; ``gpus``: what the launcher
    actually grants, when its settings differ from the recipe's cluster shape. Without a cluster
    shape: one GPU (or this machine's CPU) and DDP for ``auto``; no plan."""
    training = recipe.training
    shape = student_shape(recipe, student)
    if training.cluster is None or shape is None:
        return ("ddp" if training.parallelism == "auto" else training.parallelism), gpus or 1, None
    result = student_plan(training, shape, gpus)
    if not result.fits:
        raise PlanProblem(
            "training.cluster.gpus", f"{student}: the launcher gives training {result.gpus} GPU(s): {result.describe()}"
        )
    return result.parallelism, result.gpus, result.metadata()


def memory_plan_rows(recipe) -> list[dict]:
    rows = []
    for student in recipe.training.students:
        shape = student_shape(recipe, student)
        if shape is None or recipe.training.cluster is None:
            rows.append({"student": student, "plan": "not planned (no cluster shape or no known config)"})
            continue
        result = student_plan(recipe.training, shape)
        parts = result.estimate.table()
        rows.append(
            {
                "student": student,
                "params_b": round(shape.params / 1e9, 2),
                "parallelism": result.parallelism,
                "gpus": result.gpus,
                **{f"{k}_gib": v for k, v in parts.items()},
                "fits": f"{'yes' if result.fits else 'NO'} ({result.gpu_memory_gib:g} GiB)",
            }
        )
    return rows


def local_training_layout(extras: dict, gpus: int, gpu_memory_gib: float) -> str | None:
    """The parallelism a training run takes on this machine's ``gpus`` GPUs of ``gpu_memory_gib``:
    the recipe's (``auto`` planned again for these GPUs). Raises PlanProblem, with the plan's
    numbers, for a run that cannot fit them. None: the student's sizes are unknown (no
    config.json in its folder), so the recipe's choice stands unchecked."""
    model_dir = Path(str(extras["model_dir"]))
    if not (model_dir / "config.json").is_file() or gpu_memory_gib <= 0:
        return None
    training = extras["training"]
    result = plan(
        ModelShape.from_folder(model_dir),
        training.get("parallelism", "auto"),
        gpus=gpus,
        gpu_memory_gib=gpu_memory_gib,
        max_length=training["max_length"],
        per_device_batch=training["per_device_batch_size"],
        activation_checkpointing=training.get("gradient_checkpointing", True),
        fused_loss=training.get("fused_loss", True),
        max_gpus=MAX_SUGGESTED_GPUS,
    )
    if not result.fits:
        raise PlanProblem(
            "training.parallelism", f"{extras.get('run', 'the run')} on this machine's GPUs: {result.describe()}"
        )
    return result.parallelism
