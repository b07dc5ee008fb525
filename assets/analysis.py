"""Training dynamics across all evaluated checkpoints: score and response length over steps."""


import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset  # noqa: E402

from assets.keys import Keys  # noqa: E402
from assets.metadata import png_markdown, preview  # noqa: E402
from assets.partitions import CHECKPOINTS, parse_checkpoint_key  # noqa: E402
from resources.recipe import Recipe  # noqa: E402
from resources.storage import Storage  # noqa: E402
from workloads.dynamics import curves, dynamics_summary  # noqa: E402


def plot_curves(curve: pl.DataFrame):
    fig, (score_ax, length_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for (run, benchmark), group in curve.group_by("run", "benchmark", maintain_order=True):
        label = f"{run} / {benchmark}"
        score_ax.errorbar(group["step"], group["mean"], yerr=[group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]],
                          marker="o", capsize=3, label=label)
        length_ax.plot(group["step"], group["mean_tokens"], marker="o", label=label)
    score_ax.set(xlabel="step", ylabel="pass@1 (95% CI)", title="score over training")
    length_ax.set(xlabel="step", ylabel="mean response tokens", title="response length over training")
    for ax in (score_ax, length_ax):
        ax.grid(alpha=0.3)
    score_ax.legend(fontsize=7)
    plt.close(fig)
    return fig


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="analysis",
        deps=[AssetDep("checkpoint_eval", partition_mapping=AllPartitionMapping())],
        description="Score and response length over training steps for every run and benchmark, with "
        "dip-and-recovery numbers (base, minimum and its step, recovery step, final gain).",
    )
    def training_dynamics(context: AssetExecutionContext, storage: Storage) -> MaterializeResult:
        checkpoints = [
            c for c in context.instance.get_dynamic_partitions(CHECKPOINTS.name)
            if parse_checkpoint_key(c)[0] in recipe.runs
        ]
        evaluated = [c for c in checkpoints if storage.exists(keys.eval_table(c))]
        missing = sorted(set(checkpoints) - set(evaluated))
        if not evaluated:
            raise FileNotFoundError("no checkpoint has been evaluated yet: materialize checkpoint_eval first")
        if missing:
            context.log.warning(f"{len(missing)} checkpoints not evaluated yet, left out: {missing[:5]}")
        curve = curves(pl.concat([storage.read_table(keys.eval_table(c)) for c in evaluated]))
        summary = dynamics_summary(curve)
        storage.write_table(keys.report("curves.parquet"), curve)
        storage.write_table(keys.report("dynamics.parquet"), summary)
        figure = plot_curves(curve)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=110, bbox_inches="tight")
        storage.write_bytes(keys.report("dynamics.png"), png.getvalue())
        report = storage.write_bytes(
            keys.report("report.md"),
            f"# Training dynamics: {recipe.name}\n\n![curves](dynamics.png)\n\n## Curves\n\n"
            f"{preview(curve, rows=1000).value}\n\n## Dip and recovery\n\n{preview(summary, rows=1000).value}\n".encode(),
        )
        return MaterializeResult(
            metadata={
                "checkpoints_evaluated": len(evaluated),
                "checkpoints_missing": len(missing),
                "curves": preview(curve, rows=50),
                "dip_and_recovery": preview(summary, rows=50),
                "plot": png_markdown(figure),
                "report": report,
            }
        )

    return [training_dynamics]
