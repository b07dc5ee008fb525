"""Where a recipe's data files live, the data-folder rule they follow, and the check that they
exist and hold the records the recipe asks of them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from recipe_schema.errors import require

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "STUDY_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


def data_path(recipe, location: str) -> str:
    """Hub ids pass through; file locations resolve against the data folder."""
    if location.startswith("hub:"):
        return location
    root = Path(recipe.data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    return str((root / location).resolve())


def data_locations(recipe) -> list[tuple[str, str, tuple[str, int] | None]]:
    """(field path, location, (field, records it asks of the file) or None) of every data location."""
    found = []
    for key, src in recipe.queries.items():
        found.append((f"queries.{key}.location", src.location, ("size", src.size)))
        if src.references is not None:
            found.append((f"queries.{key}.references.location", src.references.location, None))
    for key, bench in recipe.evaluation.benchmarks.items():
        wanted = ("limit", bench.limit) if bench.limit is not None else None
        found.append((f"evaluation.benchmarks.{key}.location", bench.location, wanted))
    return found


def check_inside_data_folder(recipe) -> None:
    if not recipe.allow_absolute_paths:
        for where, location, _ in data_locations(recipe):
            if not location.startswith("hub:"):
                parts = Path(location).parts
                require(
                    not Path(location).is_absolute() and ".." not in parts,
                    where,
                    f"{location!r} leaves the data folder: give a path inside it, or set allow_absolute_paths: true",
                )


def check_files(recipe) -> None:
    """Local data files exist and hold at least the records the recipe asks of them (hub ids
    are checked when loaded)."""
    for where, location, wanted in data_locations(recipe):
        path = data_path(recipe, location)
        if path.startswith("hub:"):
            continue
        folder_of_csv = Path(path).is_dir() and any(Path(path).glob("*.csv"))  # HEx-PHI's layout
        require(Path(path).is_file() or folder_of_csv, where, f"file not found: {path}")
        rows = count_records(Path(path)) if wanted and not folder_of_csv else None
        if rows is not None:
            field, asked = wanted
            section = where.removesuffix(".location")
            require(asked <= rows, f"{section}.{field}", f"{asked} asked of {path}, which holds {rows} records")


def count_records(path: Path) -> int | None:
    """Records in a local data file as the loaders read them (None: a layout counted only when loaded)."""
    if path.suffix == ".jsonl":
        with path.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    if path.suffix == ".csv":
        return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
    if path.suffix == ".parquet":
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    if path.suffix == ".json":
        data = json.loads(path.read_bytes())
        return len(data) if isinstance(data, list) else None
    return None
