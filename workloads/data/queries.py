"""Training queries: stable ids and the loaders for each source.

A loader reads either a hub dataset (``hub:`` id, through ``datasets``) or a local JSON-lines /
parquet copy, and maps the source's columns onto the queries contract:
query_id, source, problem, answer, solution, nums, target, split.

Where the hub can't be reached, ``$STUDY_HUB_MIRROR`` names a folder holding copies of the hub
repositories as ``<owner>/<name>/`` (for example from ``hf download --repo-type dataset
--local-dir``): ``datasets`` then reads the copy with the same configs, splits and files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl

from workloads.core.text import extract_answer, strip_gsm8k_calculator
from workloads.verification.countdown_rule import countdown_prompt

HUB_MIRROR_ENV = "STUDY_HUB_MIRROR"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

QUERY_SCHEMA = {
    "query_id": pl.String,
    "source": pl.String,
    "problem": pl.String,
    "answer": pl.String,
    "solution": pl.String,
    "nums": pl.List(pl.Int64),
    "target": pl.Int64,
    "split": pl.String,
}


def normalize_problem(problem: str) -> str:
    """Case- and whitespace-insensitive form used for ids, de-duplication and matching."""
    return re.sub(r"\s+", " ", problem).strip().lower()


def query_id(source: str, problem: str) -> str:
    """Stable across runs and machines (never Python's ``hash()``)."""
    digest = hashlib.sha256(f"{source}\n{normalize_problem(problem)}".encode()).hexdigest()
    return digest[:16]


def hub_repository(location: str) -> str:
    """What ``datasets`` loads for ``hub:owner/name``: the hub id, or its copy under
    ``$STUDY_HUB_MIRROR`` when that is set."""
    repo = location.removeprefix("hub:")
    if ".." in repo or not _HUB_ID.fullmatch(repo):
        raise ValueError(f"{location!r} is not a hub dataset id (hub:owner/name)")
    mirror = os.environ.get(HUB_MIRROR_ENV)
    if not mirror:
        return repo
    copy = Path(mirror) / repo
    if not copy.is_dir():
        raise FileNotFoundError(f"{location}: no copy of {repo} under ${HUB_MIRROR_ENV} ({copy})")
    return str(copy)


def hub_snapshot(location: str) -> str:
    """A local folder with the files of the hub dataset repository ``hub:owner/name`` (for layouts
    ``datasets`` can't read, such as header-less CSV files): its mirror copy, or a download."""
    repo = hub_repository(location)
    if Path(repo).is_dir():
        return repo
    from huggingface_hub import snapshot_download

    return snapshot_download(repo, repo_type="dataset")


def read_records(location: str, *, hub_split: str = "train", hub_config: str | None = None) -> pl.DataFrame:
    """``hub:owner/name`` loads from the Hugging Face hub; anything else is a local file."""
    if location.startswith("hub:"):
        import datasets  # only the hub path needs it

        ds = datasets.load_dataset(hub_repository(location), hub_config, split=hub_split)
        return pl.from_arrow(ds.data.table)
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"query source not found: {path}")
    if path.suffix not in (".parquet", ".jsonl", ".json"):
        raise ValueError(f"unsupported query file type {path.suffix!r} (use .jsonl, .json or .parquet): {path}")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        if path.suffix == ".jsonl":
            return pl.read_ndjson(path)
        return pl.read_json(path)  # a JSON array of records
    except pl.exceptions.PolarsError as err:
        raise ValueError(f"cannot read {path} as {path.suffix} records{_bad_json_line(path)}: {err}") from err


def _bad_json_line(path: Path) -> str:
    """ ", line N" for the first line of a JSON-lines file that is not JSON (polars does not say)."""
    if path.suffix != ".jsonl":
        return ""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            try:
                if line.strip():
                    json.loads(line)
            except json.JSONDecodeError as err:
                return f", line {number} ({err.msg})"
    return ""


def math_queries(
    records: pl.DataFrame,
    *,
    source: str,
    problem_field: str,
    answer_field: str,
    solution_field: str | None,
    answer_format: str,
) -> pl.DataFrame:
    """Math problems with a gold answer. ``answer_format`` says where the answer field keeps it
    (``workloads.core.text.ANSWER_FORMATS``): the field itself (``plain``), a solution ending in ``####
    answer`` (``gsm8k``), the first element of a list (``first``) or the last ``\\boxed{}`` of a
    solution (``last-boxed``). A row without one gets a null answer (dropped and counted later)."""
    for field in (problem_field, answer_field, solution_field):
        if field is not None and field not in records.columns:
            raise KeyError(f"source {source!r} has no column {field!r}; columns: {records.columns}")
    rows = []
    for number, rec in enumerate(records.iter_rows(named=True), 1):
        problem, raw_answer = rec[problem_field], rec[answer_field]
        try:
            answer = extract_answer(raw_answer, answer_format)
        except TypeError as err:
            raise ValueError(f"source {source!r}, row {number}, field {answer_field!r}: {err}") from None
        solution = rec[solution_field] if solution_field else None
        if solution and answer_format == "gsm8k":
            solution = strip_gsm8k_calculator(solution)
        rows.append(
            {
                "query_id": query_id(source, problem or ""),
                "source": source,
                "problem": problem,
                "answer": answer,
                "solution": solution,
                "nums": None,
                "target": None,
                "split": "train",
            }
        )
    return pl.DataFrame(rows, schema=QUERY_SCHEMA)


def countdown_queries(records: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Countdown tasks (``nums``, ``target``) rendered as problems; the answer is the target."""
    for field in ("nums", "target"):
        if field not in records.columns:
            raise KeyError(f"source {source!r} has no column {field!r}; columns: {records.columns}")
    rows = []
    for number, rec in enumerate(records.iter_rows(named=True), 1):
        nums, target = _countdown_task(rec, f"source {source!r}, row {number}")
        problem = countdown_prompt(nums, target)
        rows.append(
            {
                "query_id": query_id(source, problem),
                "source": source,
                "problem": problem,
                "answer": str(target),
                "solution": None,
                "nums": nums,
                "target": target,
                "split": "train",
            }
        )
    return pl.DataFrame(rows, schema=QUERY_SCHEMA)


def _countdown_task(rec: dict, where: str) -> tuple[list[int], int]:
    nums, target = rec["nums"], rec["target"]
    if nums is None or target is None:
        raise ValueError(f"{where}: field {'nums' if nums is None else 'target'!r} is null")
    if isinstance(nums, str) or not hasattr(nums, "__iter__") or not len(nums):
        raise ValueError(f"{where}: field 'nums' is not a non-empty list of numbers: {nums!r}")
    try:
        parsed = [int(n) for n in nums], int(target)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: fields 'nums' and 'target' must be integers: {nums!r}, {target!r}") from None
    if any(float(n) != int(n) for n in [*nums, target]) or min(parsed[0]) < 1 or parsed[1] < 0:
        raise ValueError(f"{where}: out of range: nums must be whole numbers >= 1, target >= 0: {nums!r}, {target!r}")
    return parsed


def clean_and_sample(
    queries: pl.DataFrame,
    *,
    size: int,
    seed: int,
    reject: Callable[[dict], str | None] | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Drop rows without problem or answer and duplicate problems, shuffle with a seed, then take
    the first ``size`` rows that ``reject`` accepts (it returns a reason to drop, or None).

    ``reject`` runs lazily, only on rows examined until the sample is full, so an expensive test
    (parsing a gold answer, an n-gram look-up) costs in proportion to the sample, not the source.
    Returns the sample and the counts of what was dropped, by reason."""
    total = queries.height
    with_answer = queries.filter(pl.col("problem").is_not_null() & pl.col("answer").is_not_null())
    deduped = (
        with_answer.with_columns(_norm=pl.col("problem").map_elements(normalize_problem, return_dtype=pl.String))
        .unique(subset="_norm", keep="first", maintain_order=True)
        .drop("_norm")
    )
    counts = {
        "read": total,
        "dropped_no_answer": total - with_answer.height,
        "dropped_duplicate": with_answer.height - deduped.height,
    }
    shuffled = deduped.sample(fraction=1.0, seed=seed, shuffle=True)
    keep: list[int] = []
    for index, row in enumerate(shuffled.iter_rows(named=True)):
        if len(keep) == size:
            break
        reason = reject(row) if reject else None
        if reason is None:
            keep.append(index)
        else:
            counts[f"dropped_{reason}"] = counts.get(f"dropped_{reason}", 0) + 1
    if len(keep) < size:
        dropped = ", ".join(f"{k.removeprefix('dropped_')}: {v}" for k, v in counts.items() if k != "read")
        raise ValueError(f"asked for {size} queries but only {len(keep)} usable remain of {total} ({dropped})")
    counts["sampled"] = size
    return shuffled[keep], counts


def attach_references(
    queries: pl.DataFrame, references: pl.DataFrame, *, problem_field: str, solution_field: str
) -> tuple[pl.DataFrame, float]:
    """Fill ``solution`` from a reference set (NuminaMath-1.5 in the study) matched by normalized
    problem text. Returns the queries and the share that found a reference."""
    for field in (problem_field, solution_field):
        if field not in references.columns:
            raise KeyError(f"reference set has no column {field!r}; columns: {references.columns}")
    by_problem = {}
    for problem, solution in references.select(problem_field, solution_field).iter_rows():
        if problem and solution:
            by_problem.setdefault(normalize_problem(problem), solution)
    solutions = [by_problem.get(normalize_problem(p)) for p in queries["problem"]]
    matched = sum(s is not None for s in solutions)
    return queries.with_columns(solution=pl.Series(solutions, dtype=pl.String)), (
        matched / queries.height if queries.height else 0.0
    )


def assign_shards(queries: pl.DataFrame, shards: int) -> pl.DataFrame:
    """Shard by query id so a query stays in its shard when others are added or removed."""
    return queries.with_columns(
        shard=pl.col("query_id").map_elements(lambda q: int(q[:8], 16) % shards, return_dtype=pl.Int64)
    )
