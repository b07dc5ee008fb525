"""One figure per finding of workloads.analysis.findings, drawn from the finding's own tables."""

import polars as pl

from assets.metadata import pyplot
from workloads.analysis.study import SCORE_CATEGORIES, label, student_label


def _errors(table: pl.DataFrame, column: str):
    """Asymmetric error bars from a column and its ``_ci_low``/``_ci_high`` (zero where no interval)."""
    value = table[column].fill_null(0.0)
    low = (value - table[f"{column}_ci_low"].fill_null(value)).clip(lower_bound=0.0)
    high = (table[f"{column}_ci_high"].fill_null(value) - value).clip(lower_bound=0.0)
    return [low.to_list(), high.to_list()]


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def dynamics_figure(finding):
    """Score (top) and response length (bottom) over steps per category; one line per student,
    the low point and the first step back at base marked."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(SCORE_CATEGORIES), figsize=(5.5 * len(SCORE_CATEGORIES), 7), squeeze=False)
    curves, summary = finding.curves, finding.table
    for col, category in enumerate(SCORE_CATEGORIES):
        score_ax, length_ax = axes[0][col], axes[1][col]
        part = curves.filter(pl.col("category") == category) if curves.height else curves
        if part.height == 0:
            _empty(score_ax, f"no {category} benchmark evaluated")
            _empty(length_ax, "")
            continue
        for (student,), line in part.sort("step").group_by("student", maintain_order=True):
            name = student_label(student)
            drawn = score_ax.errorbar(
                line["step"], line["score"], yerr=_errors(line, "score"), marker="o", capsize=3, label=name
            )
            color = drawn[0].get_color()
            score_ax.fill_between(line["step"], line["score_ci_low"], line["score_ci_high"], alpha=0.1, color=color)
            length_ax.errorbar(
                line["step"], line["tokens"], yerr=_errors(line, "tokens"), marker="o", capsize=3, color=color
            )
            marks = summary.filter((pl.col("student") == student) & (pl.col("category") == category))
            for row in marks.iter_rows(named=True):
                if row["min"] < row["base"]:
                    score_ax.scatter([row["min_step"]], [row["min"]], marker="v", s=90, color=color, zorder=5)
                if row["recovery_step"] is not None:
                    back = line.filter(pl.col("step") == row["recovery_step"])["score"][0]
                    score_ax.scatter([row["recovery_step"]], [back], marker="*", s=140, color=color, zorder=5)
        score_ax.set(title=f"{category}: score", xlabel="training step", ylabel="mean headline score (95% CI)")
        length_ax.set(title=f"{category}: response length", xlabel="training step", ylabel="mean response tokens")
        for ax in (score_ax, length_ax):
            ax.grid(alpha=0.3)
            ax.locator_params(axis="x", integer=True)
        marked = summary.filter(pl.col("category") == category) if summary.height else summary
        if marked.height and (marked["min"] < marked["base"]).any():
            score_ax.scatter([], [], marker="v", color="grey", label="lowest point (dip)")
        if marked.height and marked["recovery_step"].is_not_null().any():
            score_ax.scatter([], [], marker="*", color="grey", label="back at base")
        score_ax.legend(fontsize=8)
    dataset = curves["dataset"][0] if curves.height else None
    fig.suptitle(f"1. Optimization dynamics ({label(dataset) if dataset else 'no run'}): one line per student")
    fig.tight_layout()
    plt.close(fig)
    return fig


def data_figure(finding):
    """Final gain per training set and category, one panel per student."""
    plt = pyplot()
    table = finding.table
    students = table["student"].unique(maintain_order=True).to_list() if table.height else []
    cols = min(2, max(1, len(students)))
    rows = max(1, -(-len(students) // cols))
    fig, grid = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    axes = [ax for row in grid for ax in row]
    if not students:
        _empty(axes[0], "no run with a gain to show")
    for ax in axes[len(students) :]:
        ax.set_visible(bool(not students and ax is axes[0]))
    for ax, student in zip(axes, students, strict=False):
        part = table.filter(pl.col("student") == student)
        datasets = part["dataset"].unique(maintain_order=True).to_list()
        width = 0.8 / len(datasets)
        for k, dataset in enumerate(datasets):
            bars = part.filter(pl.col("dataset") == dataset)
            x = [SCORE_CATEGORIES.index(c) + (k - (len(datasets) - 1) / 2) * width for c in bars["category"]]
            ax.bar(x, bars["gain"], width, yerr=_errors(bars, "gain"), capsize=3, label=label(dataset))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(SCORE_CATEGORIES)), SCORE_CATEGORIES)
        ax.set(title=student_label(student), xlabel="benchmark category", ylabel="final gain over base (95% CI)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, title="training set")
    fig.suptitle("2. Data: final gain of each training set")
    fig.tight_layout()
    plt.close(fig)
    return fig


def capability_figure(finding):
    """Out-of-domain gain, backtracking change and length change against student size, one line per training set."""
    plt = pyplot()
    table = finding.table.filter(pl.col("category") == "out-of-domain") if finding.table.height else finding.table
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    panels = (
        ("gain", "out-of-domain gain (95% CI)"),
        ("backtracking_change", "change in backtracking per 1k words"),
        ("length_change", "change in response tokens"),
    )
    if table.height == 0:
        _empty(axes[0], "no out-of-domain benchmark evaluated")
    students = table["student"].unique(maintain_order=True).to_list() if table.height else []
    for ax, (column, ylabel) in zip(axes, panels, strict=True):
        lines = table.group_by("dataset", maintain_order=True)
        count = table["dataset"].n_unique() if table.height else 0
        for k, ((dataset,), line) in enumerate(lines):
            # Set apart side by side, so training sets with equal values stay visible.
            x = [students.index(s) + (k - (count - 1) / 2) * 0.04 for s in line["student"]]
            ax.errorbar(x, line[column], yerr=_errors(line, column), marker="o", capsize=3, label=label(dataset))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(students)), [student_label(s) for s in students], rotation=15, fontsize=8)
        ax.set(xlabel="student (smallest first)", ylabel=ylabel, title=ylabel.split(" (")[0])
        ax.grid(alpha=0.3)
    if students:
        axes[0].legend(fontsize=8, title="training set")
    fig.suptitle("3. Capability: what carries out of domain, per student size (base vs last checkpoint)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def safety_figure(finding):
    """Each run's reasoning gain against its change in harmfulness rate, with both intervals."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    table = finding.table
    both = (
        table.filter(pl.col("reasoning_gain").is_not_null() & pl.col("harm_change").is_not_null())
        if table.height
        else table
    )
    if both.height == 0:
        _empty(ax, "no run with both a reasoning gain and a judged harmfulness change")
    markers = "osD^vP"
    students = both["student"].unique(maintain_order=True).to_list() if both.height else []
    for (dataset,), group in both.group_by("dataset", maintain_order=True) if both.height else []:
        for row in group.iter_rows(named=True):
            one = group.filter(pl.col("student") == row["student"])
            ax.errorbar(
                one["reasoning_gain"],
                one["harm_change"],
                xerr=_errors(one, "reasoning_gain"),
                yerr=_errors(one, "harm_change"),
                fmt=markers[students.index(row["student"]) % len(markers)],
                capsize=3,
                color=f"C{both['dataset'].unique(maintain_order=True).to_list().index(dataset)}",
                label=f"{label(dataset)}, {row['student']}",
            )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(
        title="4. Safety: reasoning gain vs change in harmfulness, per run",
        xlabel="reasoning gain over base (95% CI)",
        ylabel="change in harmfulness rate (95% CI; up is worse)",
    )
    ax.grid(alpha=0.3)
    if both.height:
        ax.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


FIGURES = {"dynamics": dynamics_figure, "data": data_figure, "capability": capability_figure, "safety": safety_figure}
