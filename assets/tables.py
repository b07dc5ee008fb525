"""Tables as Dagster's typed table metadata: the UI shows them with column types and sorts them
by any column, where a markdown preview is text only."""

import math

import polars as pl
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema


def column_type(dtype: pl.DataType) -> str:
    """Dagster's column type for a polars type; anything but numbers and booleans is shown as text."""
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "bool" if dtype == pl.Boolean else "string"


def _cell(value, kind: str):
    if value is None:
        return None
    if kind == "float":
        # Not-a-number has no JSON form; four decimals keep the UI's columns narrow.
        return round(value, 4) if math.isfinite(value) else None
    return value if kind in ("int", "bool") else str(value)


def typed_table(table: pl.DataFrame, rows: int | None = None, descriptions: dict[str, str] | None = None):
    """``table`` (its first ``rows``) as ``MetadataValue.table`` with a column schema from its dtypes."""
    kinds = {name: column_type(dtype) for name, dtype in table.schema.items()}
    schema = TableSchema(
        columns=[TableColumn(name, kind, description=(descriptions or {}).get(name)) for name, kind in kinds.items()]
    )
    head = table if rows is None else table.head(rows)
    records = [
        TableRecord({name: _cell(value, kinds[name]) for name, value in row.items()})
        for row in head.iter_rows(named=True)
    ]
    return MetadataValue.table(records=records, schema=schema)
