"""Training dynamics across all evaluated checkpoints: score and response length over steps."""


import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset  # noqa: E402

from assets.keys import Keys  # noqa: E402
from assets.metadata import png_markdown, preview  # noqa: E402
from assets.partitions import recipe_checkpoints  # noqa: E402
from resources.recipe import Recipe  # noqa: E402
from resources.storage import Storage  # noqa: E402
from workloads.dynamics import (  # noqa: E402
    comparison_table,
    curves,
    dynamics_summary,
    headline,
    reasoning_vs_safety,
    with_intervals,
)


def plot_run(run: str, curve: pl.DataFrame):
    """One run: each benchmark's headline metric and its mean response length over steps."""
    fig, (score_ax, length_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    for (benchmark, metric), group in curve.group_by("benchmark", "metric", maintain_order=True):
        label = f"{benchmark} ({metric})"
        score_ax.errorbar(group["step"], group["mean"], yerr=[group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]],
                          marker="o", capsize=3, label=label)
        length_ax.plot(group["step"], group["mean_tokens"], marker="o", label=label)
    score_ax.set(xlabel="step", ylabel="headline metric (95% CI)", title=f"{run}: score over training")
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
        kinds={"polars", "matplotlib"},
        deps=[AssetDep("eval_cells", partition_mapping=AllPartitionMapping())],
        description="Headline metric and response length over training steps for every run and benchmark; "
        "dip-and-recovery numbers with paired CIs; runs compared across datasets and students; reasoning vs "
        "safety (judged harmfulness, refusals).",
    )
    def training_dynamics(context: AssetExecutionContext, storage: Storage) -> MaterializeResult:
        cells = [(c, b) for c in recipe_checkpoints(context.instance, recipe) for b in recipe.evaluation.benchmarks]
        evaluated = [(c, b) for c, b in cells if storage.exists(keys.eval_table(c, b))]
        missing = sorted(set(cells) - set(evaluated))
        if not evaluated:
            raise FileNotFoundError("no eval cell has been evaluated yet: materialize eval_cells first")
        if missing:
            context.log.warning(f"{len(missing)} eval cells not evaluated yet, left out: {missing[:5]}")
        curve = curves(pl.concat([storage.read_table(keys.eval_table(c, b)).drop("definition") for c, b in evaluated]))
        samples = pl.concat([storage.read_table(keys.eval_samples(c, b)) for c, b in evaluated])
        summary = dynamics_summary(curve)
        if summary.height:
            summary = with_intervals(summary, curve, samples, seed=recipe.seed)
        comparison = comparison_table(curve)
        categories = {name: b.category for name, b in recipe.evaluation.benchmarks.items()}
        trade_off = reasoning_vs_safety(comparison, categories)
        tables = {"curves": curve, "dynamics": summary, "comparison": comparison, "reasoning_vs_safety": trade_off}
        for name, table in tables.items():
            storage.write_table(keys.report(f"{name}.parquet"), table)
        warnings = [
            f"{r['run']} / {r['benchmark']}: " + " and ".join(
                w for w, flag in (("still in the dip", r["still_in_dip"]), ("length still rising", r["length_still_rising"])) if flag
            )
            for r in summary.iter_rows(named=True)
            if r["still_in_dip"] or r["length_still_rising"]
        ]
        plots = {}
        for (run,), run_curve in headline(curve).group_by("run", maintain_order=True):
            plots[run] = plot_run(run, run_curve.drop("run"))
            png = io.BytesIO()
            plots[run].savefig(png, format="png", dpi=110, bbox_inches="tight")
            storage.write_bytes(keys.report(f"dynamics-{run}.png"), png.getvalue())
        sections = [f"# Training dynamics: {recipe.name}"] + [f"![{run}](dynamics-{run}.png)" for run in plots]
        if warnings:
            sections.append("## Warnings (possibly under-optimized)\n\n" + "\n".join(f"- {w}" for w in warnings))
        titles = {"dynamics": "Dip and recovery (bootstrap CIs over items; dip and final gain paired with the base)",
                  "comparison": "Runs compared",
                  "reasoning_vs_safety": "Reasoning vs safety", "curves": "Curves"}
        sections += [f"## {titles[name]}\n\n{preview(table, rows=1000).value}" for name, table in tables.items() if name != "curves"]
        sections.append(f"## {titles['curves']}\n\n{preview(curve, rows=1000).value}")
        report = storage.write_bytes(keys.report("report.md"), ("\n\n".join(sections) + "\n").encode())
        return MaterializeResult(
            metadata={
                "cells_evaluated": len(evaluated),
                "cells_missing": len(missing),
                "curves": preview(curve, rows=50),
                "dip_and_recovery": preview(summary, rows=50),
                "comparison": preview(comparison, rows=50),
                "reasoning_vs_safety": preview(trade_off, rows=50),
                "warnings": "\n".join(warnings) or "none",
                **{f"plot {run}": png_markdown(figure) for run, figure in plots.items()},
                "report": report,
            }
        )

    return [training_dynamics]
