"""Benchmark files to items: records read from a file, a folder or a hub id, sampled with a seed,
and built into items by their kind's loader (``workloads.evaluation.registry``).

Bad data is an error naming the file, the row and the field: an empty file, a null or malformed
field, items with the same id."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import polars as pl

from workloads.data.queries import hub_snapshot, read_records
from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout, first_present
from workloads.evaluation.registry import kind_of
from workloads.evaluation.tasks.livecodebench import in_window


def _text(path: Path) -> str:
    """A file's text; bytes that are not UTF-8 are an error naming the file, the line and the byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise BenchmarkDataError(f"{path}, line {line}: not UTF-8 text (byte {err.start}: {err.reason})") from None


def _not_a_record(record: object, where: str) -> BenchmarkDataError:
    shown = json.dumps(record, default=str)[:80]
    return BenchmarkDataError(f"{where}: a record must be an object of fields, not {shown}")


def _mappings(records: list, where: str, unit: str = "row") -> list[dict]:
    """Records that are field mappings; a list, a string or a number where a record belongs is an
    error naming its row."""
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise _not_a_record(record, f"{where}, {unit} {number}")
    return records


def _json_lines(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(_text(path).splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise BenchmarkDataError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise _not_a_record(record, f"{path}, line {number}")
            records.append(record)
    return records


def _headerless_csv_records(location: str) -> list[dict]:
    """A folder of header-less CSV files, one prompt a line, one file per category (HEx-PHI's
    layout): records ``{"prompt", "category"}``, the category being the file's name."""
    folder = Path(hub_snapshot(location) if location.startswith("hub:") else location)
    files = sorted(folder.glob("*.csv"), key=lambda f: (len(f.stem), f.stem))  # category_2 before category_10
    if not files:
        raise BenchmarkDataError(f"{location}: no .csv files in the folder")
    records = []
    for file in files:
        with io.StringIO(_text(file), newline="") as handle:
            for number, row in enumerate(csv.reader(handle), 1):
                cells = [cell for cell in row if cell.strip()]
                if len(cells) > 1:
                    raise BenchmarkDataError(f"{file}, line {number}: {len(cells)} cells, expected one prompt a line")
                if cells:
                    records.append({"prompt": cells[0], "category": file.stem})
    return records


def _records(location: str, hub_config: str | None, hub_split: str, layout: Layout = DEFAULT_LAYOUT) -> list[dict]:
    """Records as plain dicts (.jsonl, .json list, .csv, .parquet, a hub id, or a folder of
    header-less CSV files). Local JSON is parsed per record, not as a table: a table would merge the
    option keys of all questions (``mc1_targets`` maps option text to 0/1) into one schema."""
    if not layout.csv_header:
        return _headerless_csv_records(location)
    if location.startswith("hub:") or location.endswith(".parquet"):
        return _mappings(read_records(location, hub_split=hub_split, hub_config=hub_config).to_dicts(), location)
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    if path.suffix == ".jsonl":
        return _json_lines(path)
    if path.suffix == ".csv":  # every cell as text, as written
        try:
            return pl.read_csv(io.StringIO(_text(path)), infer_schema=False).to_dicts()
        except pl.exceptions.PolarsError as err:
            raise BenchmarkDataError(f"{path}: not a CSV table ({err})") from None
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as err:
        raise BenchmarkDataError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of records")
    return _mappings(data, str(path), unit="record")


# The text of an item that a training query could copy, by the field names of each layout.
QUESTION_FIELDS = ("problem", "question", "Question", "prompt", "goal", "forbidden_prompt", "user_query")


def benchmark_questions(
    location: str, *, hub_config: str | None = None, hub_split: str = "test", layout: Layout = DEFAULT_LAYOUT
) -> list[str]:
    """The question text of every item (for decontamination), whatever the benchmark kind.
    Countdown tasks (``nums``, ``target``) give none: every Countdown prompt is the same template
    around a few numbers, so n-gram overlap would flag every training task."""
    texts = []
    for number, rec in enumerate(_records(location, hub_config, hub_split, layout), 1):
        if "nums" in rec and "target" in rec and not any(rec.get(f) is not None for f in QUESTION_FIELDS):
            continue
        texts.append(str(first_present(rec, QUESTION_FIELDS, f"{location}, row {number}")))
    return texts


def load_benchmark(
    location: str,
    kind: str,
    *,
    limit: int | None,
    seed: int,
    hub_config: str | None = None,
    hub_split: str = "test",
    released_from: str | None = None,
    released_until: str | None = None,
    layout: Layout = DEFAULT_LAYOUT,
) -> list[Item]:
    """The first ``limit`` items after a seeded shuffle of the records, so a small slice is still a
    fair sample. A record that gives two items (HaluEval QA) keeps them next to each other, so an
    even limit takes whole pairs. ``released_from``/``released_until`` (ISO dates) keep the records
    whose ``contest_date`` lies in that window (LiveCodeBench is split by release date).

    An error names the file, the row (counted from 1 in the file's order) and the field. A file
    without records, or two records of the sample giving the same item, is an error."""
    load = kind_of(kind).load
    records = _records(location, hub_config, hub_split, layout)
    if not records:
        raise BenchmarkDataError(f"{location}: no records (an empty benchmark file)")
    numbered = list(enumerate(records, 1))
    if released_from or released_until:
        kept = {id(r) for r in in_window(records, location, released_from, released_until)}
        numbered = [(number, r) for number, r in numbered if id(r) in kept]
        if not numbered:
            raise BenchmarkDataError(f"{location}: no records released in [{released_from}, {released_until}]")
    random.Random(seed).shuffle(numbered)
    if limit is not None:
        numbered = numbered[:limit]  # no record gives fewer than one item
    items: list[Item] = []
    row_of: dict[str, int] = {}
    for number, record in numbered:
        for item in load([record], f"{location}, row {number}", seed, layout):
            if item.item_id in row_of:
                raise BenchmarkDataError(
                    f"{location}: rows {row_of[item.item_id]} and {number} give the same item "
                    f"({item.prompt[:80]!r}); remove the duplicate"
                )
            row_of[item.item_id] = number
            items.append(item)
    return items if limit is None else items[:limit]
