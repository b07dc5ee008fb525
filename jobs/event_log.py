"""Queries of the instance's event log about eval cells: which are materialized, under which cell
definition, and the headline means the refinement sensor follows.

The headline means are kept in a small table in storage, so a tick reads only the eval tables of
cells materialized since the last one, not every cell of the study.
"""

from __future__ import annotations

import polars as pl
from dagster import DagsterEventType

from assets.evaluation import eval_asset_key
from assets.keys import Keys
from assets.partitions import cell_id, split_cell_id
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.core.naming import parse_checkpoint_key
from workloads.evaluation.registry import lower_is_better

# The tag under which Dagster records a materialization's data version (indexed per partition).
DATA_VERSION_TAG = "dagster/data_version"
HEADLINE_SCHEMA = {"partition": pl.String, "storage_id": pl.Int64, "mean": pl.Float64}


def materialized_cells(instance, recipe: Recipe) -> dict[str, int]:
    """``cell_id`` -> storage id of the latest materialization of every cell of the recipe's
    benchmarks, one query per benchmark."""
    return {
        cell_id(checkpoint, benchmark): storage_id
        for benchmark in recipe.evaluation.benchmarks
        for checkpoint, storage_id in instance.get_latest_storage_id_by_partition(
            eval_asset_key(benchmark), DagsterEventType.ASSET_MATERIALIZATION
        ).items()
    }


def latest_cell_versions(instance, recipe: Recipe, checkpoints: set[str]) -> dict[tuple[str, str], str | None]:
    """(checkpoint, benchmark) -> the cell definition each materialized cell at ``checkpoints`` is
    current under, in two queries per benchmark: the eval assets record it as the cells' data
    version, a tag the event log indexes per partition. Cells materialized otherwise map to None."""
    tags = {
        b: instance.event_log_storage.get_latest_tags_by_partition(
            eval_asset_key(b), DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG]
        )
        for b in recipe.evaluation.benchmarks
    }
    cells = (split_cell_id(cell) for cell in materialized_cells(instance, recipe))
    return {(c, b): tags[b].get(c, {}).get(DATA_VERSION_TAG) for c, b in cells if c in checkpoints}


def headline_means(instance, storage: Storage, keys: Keys, recipe: Recipe) -> dict[tuple[str, str], float]:
    """(checkpoint, benchmark) -> headline mean of every materialized cell of the recipe that has
    one, refreshing the stored table from the cells materialized since it was written."""
    runs = set(recipe.runs)
    latest = materialized_cells(instance, recipe)
    try:
        known = storage.read_table(keys.report("refinement-headlines.parquet"))
    except FileNotFoundError:
        known = pl.DataFrame(schema=HEADLINE_SCHEMA)
    seen = dict(zip(known["partition"].to_list(), known["storage_id"].to_list(), strict=True))
    rows = {r["partition"]: r for r in known.iter_rows(named=True)}
    for cell, storage_id in latest.items():
        if seen.get(cell) == storage_id:
            continue
        checkpoint, benchmark = split_cell_id(cell)
        if parse_checkpoint_key(checkpoint)[0] not in runs:
            continue
        try:
            table = storage.read_table(keys.eval_table(checkpoint, benchmark)).filter(pl.col("headline"))
        except FileNotFoundError:
            continue
        if table.height and not lower_is_better(table["metric"][0]) and table["mean"][0] is not None:
            rows[cell] = {"partition": cell, "storage_id": storage_id, "mean": float(table["mean"][0])}
    if len(rows) != known.height or any(seen.get(p) != r["storage_id"] for p, r in rows.items()):
        storage.write_table(
            keys.report("refinement-headlines.parquet"), pl.DataFrame(list(rows.values()), schema=HEADLINE_SCHEMA)
        )
    return {split_cell_id(p): r["mean"] for p, r in rows.items()}
