"""The findings as the report and the UI present them: a section per finding (figure, computed
statements, the condition they hold under, what is missing, a link to its numbers) and one typed
table of the headline results."""

import io

import polars as pl
from dagster import MetadataValue

from assets.findings_figures import FIGURES
from assets.metadata import png_markdown, typed_table
from workloads.analysis.study import RESULT_SCHEMA, Finding


def figure_name(finding: Finding) -> str:
    return f"findings-{finding.number}-{finding.key}.png"


def numbers_name(finding: Finding) -> str:
    return f"findings-{finding.number}-{finding.key}.csv"


def results_table(findings: list[Finding]) -> pl.DataFrame:
    """Every headline number of every finding, one row each, with its interval."""
    return pl.DataFrame([r for f in findings for r in f.results], schema=RESULT_SCHEMA)


def section(finding: Finding) -> str:
    lines = [f"## {finding.number}. {finding.title}", "", f"![{finding.title}]({figure_name(finding)})", ""]
    lines += [f"- {s}" for s in finding.statements] or ["- Nothing to state: no run has the numbers this needs."]
    lines += ["", f"**Holds under:** {finding.condition}", "", f"*{finding.scope}*", ""]
    if finding.missing:
        lines += ["**What the data cannot answer yet:**", ""] + [f"- {m}" for m in finding.missing] + [""]
    lines.append(f"Numbers: [{numbers_name(finding)}]({numbers_name(finding)})")
    return "\n".join(lines)


def findings_markdown(title: str, findings: list[Finding]) -> str:
    intro = (
        f"# {title}: what the study found\n\n"
        "The paper's four findings, each computed from this study's eval cells with 95% bootstrap intervals "
        "over items. A difference whose interval includes zero is not told apart from item noise."
    )
    return "\n\n".join([intro, *(section(f) for f in findings)])


def csv_bytes(table: pl.DataFrame) -> bytes:
    """CSV of a table; nested columns (lists, structs) are written as JSON text."""
    nested = [name for name, dtype in table.schema.items() if dtype.is_nested()]
    flat = table.with_columns(pl.col(name).map_elements(str, return_dtype=pl.String) for name in nested)
    buffer = io.BytesIO()
    flat.write_csv(buffer)
    return buffer.getvalue()


def write_findings(findings: list[Finding], write) -> dict:
    """Writes each finding's figure and numbers through ``write(name, bytes)``; returns the UI metadata."""
    metadata = {"headline results": typed_table(results_table(findings))}
    for finding in findings:
        figure = FIGURES[finding.key](finding)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=110, bbox_inches="tight")
        write(figure_name(finding), png.getvalue())
        write(numbers_name(finding), csv_bytes(finding.table))
        text = "\n".join(f"- {s}" for s in finding.statements) or "(nothing to state)"
        if finding.missing:
            text += "\n\nMissing:\n" + "\n".join(f"- {m}" for m in finding.missing)
        metadata[f"finding {finding.number}: {finding.key}"] = png_markdown(figure)
        metadata[f"finding {finding.number}: statement"] = MetadataValue.md(text)
    return metadata
