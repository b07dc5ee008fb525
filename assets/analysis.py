"""Training dynamics across all evaluated checkpoints: the report's tables come from
``workloads.analysis.dynamics.analyse``; this module gathers the cells and presents the result."""

import io

import polars as pl
from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset

from assets.evaluation import eval_asset_keys
from assets.findings_report import csv_bytes, findings_markdown, write_findings
from assets.keys import Keys
from assets.metadata import png_markdown, preview, pyplot, typed_table
from assets.partitions import recipe_checkpoints
from assets.versions import analysis_version
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.analysis.dynamics import analyse, headline, under_optimized_warnings
from workloads.analysis.findings import study_findings
from workloads.evaluation.behaviour import LEXICON_VERSION

TITLES = {
    "dynamics": "Dip and recovery (bootstrap CIs over items; dip and final gain paired with the base)",
    "comparison": "Runs compared",
    "reasoning_vs_safety": "Reasoning vs safety",
    "behaviour": "Behaviour carried over (headline gain beside the change of each behaviour measure, per category)",
    "curves": "Curves",
}
BEHAVIOUR_NOTE = (
    "## Reasoning behaviour\n\nThe curves and the comparison carry, per cell, the mean rate of backtracking, "
    "self-verification and exploring alternatives (moves per 1,000 thinking words), the share of the thinking "
    "made of repeated 8-grams, the share of responses that loop until truncated, and the thinking's share of "
    f"the words. The rates come from a phrase lexicon ({LEXICON_VERSION}, workloads/evaluation/behaviour.py): a proxy "
    "that counts the words models use for these moves, not the moves themselves; compare them across steps "
    "and runs, not as absolute counts."
)


def plot_run(run: str, curve: pl.DataFrame):
    """One run: each benchmark's headline metric, its mean response length and its backtracking
    rate over steps."""
    plt = pyplot()
    fig, (score_ax, length_ax, backtrack_ax) = plt.subplots(1, 3, figsize=(15, 3.5))
    for (benchmark, metric), group in curve.group_by("benchmark", "metric", maintain_order=True):
        label = f"{benchmark} ({metric})"
        error = [group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]]
        score_ax.errorbar(group["step"], group["mean"], yerr=error, marker="o", capsize=3, label=label)
        length_ax.plot(group["step"], group["mean_tokens"], marker="o", label=label)
        if "backtracking_per_1k" in group.columns:
            backtrack_ax.plot(group["step"], group["backtracking_per_1k"], marker="o", label=label)
    score_ax.set(xlabel="step", ylabel="headline metric (95% CI)", title=f"{run}: score over training")
    length_ax.set(xlabel="step", ylabel="mean response tokens", title="response length over training")
    backtrack_ax.set(xlabel="step", ylabel="backtracking moves per 1k words", title="backtracking (lexicon proxy)")
    for ax in (score_ax, length_ax, backtrack_ax):
        ax.grid(alpha=0.3)
    score_ax.legend(fontsize=7)
    plt.close(fig)
    return fig


def report_markdown(findings_section: str, tables: dict, plots: dict, warnings: list[str]) -> str:
    """The findings first; then each run's curves, the warnings, and links to the wide tables."""
    sections = [findings_section, "# Training dynamics per run"]
    sections += [f"![{run}](dynamics-{run}.png)" for run in plots]
    if warnings:
        sections.append("## Warnings (possibly under-optimized)\n\n" + "\n".join(f"- {w}" for w in warnings))
    sections.append(BEHAVIOUR_NOTE)
    # The long per-step curves last, after the summaries a reader looks for first.
    order = [name for name in tables if name != "curves"] + ["curves"]
    links = [f"- [{TITLES.get(name, name)}]({name}.csv): {tables[name].height} rows" for name in order]
    sections.append("## Tables\n\n" + "\n".join(links))
    return "\n\n".join(sections) + "\n"


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="analysis",
        kinds={"polars", "matplotlib"},
        code_version=analysis_version(recipe),
        deps=[AssetDep(key, partition_mapping=AllPartitionMapping()) for key in eval_asset_keys(recipe)],
        description="The paper's four findings (dip and recovery, data, capability, safety), each a figure and a "
        "computed statement with bootstrap CIs; headline metric and response length over training steps for every "
        "run and benchmark; "
        "dip-and-recovery numbers with paired CIs; runs compared across datasets and students; reasoning vs "
        "safety (judged harmfulness, refusals).",
    )
    def training_dynamics(context: AssetExecutionContext, storage: Storage) -> MaterializeResult:
        cells = [(c, b) for c in recipe_checkpoints(context.instance, recipe) for b in recipe.evaluation.benchmarks]
        evaluated = [(c, b) for c, b in cells if storage.exists(keys.eval_table(c, b))]
        missing = sorted(set(cells) - set(evaluated))
        if not evaluated:
            raise FileNotFoundError("no eval cell has been evaluated yet: materialize the eval_cells assets first")
        if missing:
            context.log.warning(f"{len(missing)} eval cells not evaluated yet, left out: {missing[:5]}")
        # Tables written before a column existed (the behaviour measures) join with it null.
        eval_tables = pl.concat(
            [storage.read_table(keys.eval_table(c, b)).drop("definition") for c, b in evaluated], how="diagonal_relaxed"
        )
        samples = pl.concat([storage.read_table(keys.eval_samples(c, b)) for c, b in evaluated])
        categories = {name: b.category for name, b in recipe.evaluation.benchmarks.items()}
        tables = analyse(eval_tables, samples, categories, seed=recipe.seed)
        for name, table in tables.items():
            storage.write_table(keys.report(f"{name}.parquet"), table)
            storage.write_bytes(keys.report(f"{name}.csv"), csv_bytes(table))
        findings = study_findings(
            eval_tables,
            samples,
            categories,
            students=recipe.training.students,
            datasets=recipe.training.datasets,
            seed=recipe.seed,
        )
        findings_metadata = write_findings(findings, lambda name, data: storage.write_bytes(keys.report(name), data))
        warnings = under_optimized_warnings(tables["dynamics"])
        plots = {}
        for (run,), run_curve in headline(tables["curves"]).group_by("run", maintain_order=True):
            plots[run] = plot_run(run, run_curve.drop("run"))
            png = io.BytesIO()
            plots[run].savefig(png, format="png", dpi=110, bbox_inches="tight")
            storage.write_bytes(keys.report(f"dynamics-{run}.png"), png.getvalue())
        markdown = report_markdown(findings_markdown(recipe.name, findings), tables, plots, warnings)
        report = storage.write_bytes(keys.report("report.md"), markdown.encode())
        return MaterializeResult(
            metadata={
                "cells_evaluated": len(evaluated),
                "cells_missing": len(missing),
                "curves": preview(tables["curves"], rows=50),
                "dip_and_recovery": typed_table(tables["dynamics"]),
                "comparison": preview(tables["comparison"], rows=50),
                "reasoning_vs_safety": preview(tables["reasoning_vs_safety"], rows=50),
                "behaviour": preview(tables["behaviour"], rows=50),
                "warnings": "\n".join(warnings) or "none",
                **findings_metadata,
                **{f"plot {run}": png_markdown(figure) for run, figure in plots.items()},
                "report": report,
            }
        )

    return [training_dynamics]
