"""Metadata helpers: what a person wants to see in the UI next to a materialization."""

import base64
import io
import math

import polars as pl
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema


def preview(table: pl.DataFrame, rows: int = 5, width: int = 80) -> MetadataValue:
    """A markdown table of the first rows, long strings cut so the UI stays readable."""
    if table.height == 0:
        return MetadataValue.md("_(empty)_")
    head = table.head(rows).with_columns(pl.col(pl.Float32, pl.Float64).round(4))
    head = head.with_columns(
        [pl.col(c).cast(pl.String).str.slice(0, width).str.replace_all(r"[\n|]", " ") for c in table.columns]
    )
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in head.iter_rows()]
    return MetadataValue.md("\n".join(lines))


def table_metadata(table: pl.DataFrame) -> dict:
    """Dagster's own row count and column schema, which the UI shows in its table panels."""
    schema = TableSchema(columns=[TableColumn(name, str(dtype)) for name, dtype in table.schema.items()])
    return {"dagster/row_count": MetadataValue.int(table.height), "dagster/column_schema": schema}


# Polars dtypes as the UI's table column types (anything else is shown as a string).
_COLUMN_TYPES = {
    pl.Boolean: "bool",
    pl.Int64: "int",
    pl.Int32: "int",
    pl.UInt32: "int",
    pl.Float64: "float",
    pl.Float32: "float",
}


def typed_table(
    table: pl.DataFrame, digits: int = 4, rows: int | None = None, descriptions: dict[str, str] | None = None
) -> MetadataValue:
    """A table the UI shows with typed, sortable columns (its first ``rows``); floats to ``digits``
    significant digits; ``descriptions`` of some columns shown as their tooltips."""
    types = {name: _COLUMN_TYPES.get(dtype, "string") for name, dtype in table.schema.items()}
    notes = descriptions or {}
    schema = TableSchema(columns=[TableColumn(name, kind, description=notes.get(name)) for name, kind in types.items()])

    def cell(value, kind):
        if value is None:
            return None
        if kind == "float":
            return rounded(float(value), digits) if math.isfinite(value) else None
        return value if kind in ("int", "bool") else str(value)

    head = table if rows is None else table.head(rows)
    records = [TableRecord({k: cell(v, types[k]) for k, v in row.items()}) for row in head.iter_rows(named=True)]
    return MetadataValue.table(records, schema=schema)


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A figure for the UI: ``digits`` significant digits (0.19148936170212766 reads 0.1915)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def pyplot():
    """matplotlib's pyplot on the file-only backend: servers and pods have no display."""
    import matplotlib  # heavy, and its backend must be chosen before pyplot is imported

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_markdown(figure) -> MetadataValue:
    """A matplotlib figure embedded as an image in markdown metadata."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def percentiles(values: pl.Series, qs=(0.5, 0.9, 0.99)) -> dict[str, float]:
    if values.len() == 0:
        return {}
    return {f"p{int(q * 100)}": float(values.quantile(q)) for q in qs}
