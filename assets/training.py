"""SFT runs (student x dataset partitions) and the checkpoints they save (dynamic partitions)."""

import json
import math

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from assets.datasets import dataset_asset_name
from assets.keys import Keys, read_manifest
from assets.metadata import png_markdown, preview, pyplot
from assets.partitions import BASE_STEP, CHECKPOINTS, run_partitions
from assets.policies import WORKLOAD_RETRIES
from assets.versions import training_version
from recipe_schema.fields import DATASET_VARIANTS
from recipe_schema.recipe import Recipe
from recipe_schema.student_plans import run_layout
from resources.launchers.compute import ComputeLauncher
from resources.storage import Storage
from workloads.core.naming import checkpoint_key, run_name
from workloads.programs.inputs import TrainInputs
from workloads.training.checkpoints import CHECKPOINT_FIELDS

CHECKPOINT_SCHEMA = {
    "run": pl.String,
    "step": pl.Int64,
    "epoch": pl.Float64,
    "uri": pl.String,
    "train_loss": pl.Float64,
    "learning_rate": pl.Float64,
    "tokens_seen": pl.Int64,
}


def checkpoint_table(run: str, base_uri: str, records: list[dict]) -> pl.DataFrame:
    """Step 0 is the untrained student, so every run's curves start at the base model."""
    base = {
        "run": run,
        "step": BASE_STEP,
        "epoch": 0.0,
        "uri": base_uri,
        "train_loss": None,
        "learning_rate": None,
        "tokens_seen": 0,
    }
    rows = [base] + [{k: r.get(k) for k in CHECKPOINT_FIELDS} for r in records]
    return pl.DataFrame(rows, schema=CHECKPOINT_SCHEMA).unique("step", keep="last").sort("step")


def _loss_plot(history: list[dict]):
    steps = [h["step"] for h in history if "loss" in h]
    losses = [h["loss"] for h in history if "loss" in h]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, losses, marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss")
    ax.grid(alpha=0.3)
    plt.close(fig)
    return fig


LOSS_CHECKS = {
    "finite_loss": "Warns when a logged training loss is NaN or infinite: the run diverged.",
    "loss_falling": "Warns when the loss of the run's last third of logged steps is not below that of its first "
    "third: the run is not learning (learning rate, data, or a broken loss mask).",
}


def loss_checks(history: list[dict]) -> list[AssetCheckResult]:
    """WARN results over a run's logged losses (``log_history.json``: one entry per logged step)."""
    logged = [(h["step"], float(h["loss"])) for h in history if "loss" in h]
    broken = [step for step, loss in logged if not math.isfinite(loss)]
    finite = AssetCheckResult(
        check_name="finite_loss",
        passed=not broken,
        severity=AssetCheckSeverity.WARN,
        description=f"loss not finite at steps {broken[:10]}" if broken else None,
        metadata={"logged_steps": len(logged), "non_finite_steps": len(broken)},
    )
    losses = [loss for _, loss in logged if math.isfinite(loss)]
    third = len(losses) // 3
    if third == 0:
        falling = AssetCheckResult(
            check_name="loss_falling",
            passed=True,
            severity=AssetCheckSeverity.WARN,
            description=f"{len(losses)} finite losses logged: too few to tell a trend",
            metadata={"logged_steps": len(losses)},
        )
    else:
        first, last = sum(losses[:third]) / third, sum(losses[-third:]) / third
        falling = AssetCheckResult(
            check_name="loss_falling",
            passed=last < first,
            severity=AssetCheckSeverity.WARN,
            description=None
            if last < first
            else f"mean loss {first:.4g} over the first third, {last:.4g} over the last",
            metadata={"first_third_mean": round(first, 4), "last_third_mean": round(last, 4)},
        )
    return [finite, falling]


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="training",
        kinds={"trl", "pytorch"},
        retry_policy=WORKLOAD_RETRIES,
        code_version=training_version(recipe),
        partitions_def=run_partitions(recipe),
        deps=[dataset_asset_name(v) for v in DATASET_VARIANTS]
        + [AssetDep("base_models", partition_mapping=AllPartitionMapping())],
        pool="training",
        check_specs=[AssetCheckSpec(name, asset="sft_run", description=text) for name, text in LOSS_CHECKS.items()],
        description="One TRL SFT run of a student on a dataset. Every saved checkpoint becomes a partition "
        "of `checkpoints` (step 0 is the untrained student).",
    )
    def sft_run(context: AssetExecutionContext, storage: Storage, launcher: ComputeLauncher) -> MaterializeResult:
        dims = context.partition_key.keys_by_dimension
        student, dataset = dims["student"], dims["dataset"]
        run = run_name(student, dataset)
        base_uri = storage.uri(keys.model(student))
        parallelism, gpus, memory_plan = run_layout(recipe, student)
        granted = launcher.gpus_for("train", gpus)
        if granted != gpus:  # the deployment's settings decide: plan again for what it gives
            parallelism, gpus, memory_plan = run_layout(recipe, student, granted)
        inputs = TrainInputs(
            run=run,
            dataset=dataset,
            dataset_path=storage.uri(keys.dataset(dataset)),
            model_dir=base_uri,
            output_dir=storage.uri(keys.run_dir(run)),
            training=recipe.training.model_dump(),
            seed=recipe.seed,
            parallelism=parallelism,
        )
        invocation = launcher.run(context, inputs.program, inputs.to_extras(), gpus=gpus)
        reported = invocation.get_materialize_result().metadata
        table = checkpoint_table(run, base_uri, read_manifest(storage, keys.manifest(run)))
        storage.write_table(keys.checkpoints(run), table)
        new_keys = [checkpoint_key(run, s) for s in table["step"]]
        context.instance.add_dynamic_partitions(CHECKPOINTS.name, new_keys)
        history = json.loads(storage.read_bytes(f"{keys.run_dir(run)}/log_history.json"))
        return MaterializeResult(
            check_results=loss_checks(history),
            metadata={
                **{k: v for k, v in reported.items() if k != "manifest"},
                "checkpoints": len(new_keys),
                "checkpoint_table": preview(table.drop("uri"), rows=20),
                "loss_curve": png_markdown(_loss_plot(history)),
                "parallelism": parallelism,
                **({"memory_plan": memory_plan} if memory_plan else {}),
            },
        )

    return [sft_run]
