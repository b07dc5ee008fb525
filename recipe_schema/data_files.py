"""Where a recipe's data files live, the data-folder rule they follow, and the check that they
exist and hold the records the recipe asks of them.

The data-folder rule: every file or folder a recipe names (query and benchmark locations,
reference solutions, a local model's folder) lies inside the data folder, after symlinks are
resolved, unless the recipe sets ``allow_absolute_paths: true``; so does ``data_dir`` itself, which
moves the data folder (the operator's way is ``$STUDY_DATA_DIR``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from recipe_schema.errors import FieldProblem, require

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "STUDY_DATA_DIR"
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
_ESCAPE_HINT = "give a path inside it, or set allow_absolute_paths: true"


def data_folder(recipe) -> Path:
    """The data folder, symlinks resolved."""
    return Path(recipe.data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()


def data_path(recipe, location: str) -> str:
    """Hub ids pass through; file locations resolve against the data folder, symlinks included,
    and must stay inside it (unless the recipe allows absolute paths)."""
    if location.startswith("hub:"):
        return location
    root = data_folder(recipe)
    path = (root / location).resolve()
    if not recipe.allow_absolute_paths and not path.is_relative_to(root):
        raise ValueError(f"{location!r} resolves to {path}, outside the data folder {root}: {_ESCAPE_HINT}")
    return str(path)


def path_locations(recipe) -> list[tuple[str, str]]:
    """(field path, location) of every file or folder the recipe names, hub ids included."""
    found = [(where, location) for where, location, _ in data_locations(recipe)]
    found += [(f"models.{key}.path", spec.path) for key, spec in recipe.models.items() if spec.source == "local"]
    return found


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
    """The rule as the recipe spells its paths (no file system needed; check_files also resolves
    symlinks)."""
    if recipe.data_dir is not None:
        require(
            recipe.allow_absolute_paths,
            "data_dir",
            f"moves the data folder, which every path is checked against: set ${DATA_DIR_ENV} instead, "
            "or set allow_absolute_paths: true",
        )
        require(
            Path(recipe.data_dir).resolve() != Path(Path(recipe.data_dir).resolve().anchor),
            "data_dir",
            "the file system's root is not a data folder",
        )
    if recipe.allow_absolute_paths:
        return
    for where, location in path_locations(recipe):
        if not location.startswith("hub:"):
            require(
                not Path(location).is_absolute() and ".." not in Path(location).parts,
                where,
                f"{location!r} leaves the data folder: {_ESCAPE_HINT}",
            )


def check_files(recipe) -> None:
    """Local data files exist inside the data folder (symlinks resolved) and hold at least the
    records the recipe asks of them; local model folders exist (hub ids are checked when loaded)."""
    wanted_of = {where: wanted for where, _, wanted in data_locations(recipe)}
    for where, location in path_locations(recipe):
        try:
            path = data_path(recipe, location)
        except ValueError as err:
            raise FieldProblem(where, str(err)) from None
        if path.startswith("hub:"):
            continue
        if where.startswith("models."):
            require(Path(path, "config.json").is_file(), where, f"not a model folder (no config.json): {path}")
            continue
        folder_of_csv = Path(path).is_dir() and any(Path(path).glob("*.csv"))  # HEx-PHI's layout
        require(Path(path).is_file() or folder_of_csv, where, f"file not found: {path}")
        wanted = wanted_of[where]
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
