"""The study's SFT dataset variants, built from verified traces.

Selection rule (the paper's): keep correct responses, then pick one per query at random with a
seed. Math-NoCoT is Math-CoT with the thinking removed; the reference variant (NuminaMath in the
full study) pairs the same queries with their reference solutions. Every example keeps where it
came from (trace sample, teacher, sampling-config hash), so checks and cards can trace it back.
"""

from __future__ import annotations

import hashlib

import polars as pl
import yaml

from workloads.core.text import THINK_CLOSE, THINK_OPEN, join_reasoning

DATASET_SCHEMA = {
    "example_id": pl.String,
    "query_id": pl.String,
    "variant": pl.String,
    "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
    "sample_idx": pl.Int64,
    "teacher": pl.String,
    "sampling_hash": pl.String,
}
COT_VARIANTS = ("math-cot", "countdown-cot")
TRACE_VARIANTS = ("math-cot", "math-nocot", "countdown-cot")


def _draw(seed: int, query_id: str, sample_idx: int) -> str:
    return hashlib.sha256(f"{seed}:{query_id}:{sample_idx}".encode()).hexdigest()


def pick_correct(traces: pl.DataFrame, verdicts: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """One verified-correct, thinking-closed response per query, chosen by a seeded draw."""
    correct = traces.join(
        verdicts.filter(pl.col("correct").eq_missing(True)).select("query_id", "sample_idx"),
        on=["query_id", "sample_idx"],
    ).filter(pl.col("think_closed"))
    if correct.height == 0:
        return correct
    draws = [_draw(seed, q, i) for q, i in zip(correct["query_id"], correct["sample_idx"], strict=True)]
    return (
        correct.with_columns(_draw=pl.Series(draws))
        .sort("_draw")
        .unique(subset="query_id", keep="first", maintain_order=True)
        .drop("_draw")
        .sort("query_id")
    )


def _examples(rows: pl.DataFrame, variant: str, assistant) -> pl.DataFrame:
    """``assistant(row)`` is the response text; trace provenance is kept where there is one."""
    records = [
        {
            "example_id": f"{variant}:{r['query_id']}",
            "query_id": r["query_id"],
            "variant": variant,
            "messages": [{"role": "user", "content": r["problem"]}, {"role": "assistant", "content": assistant(r)}],
            "sample_idx": r.get("sample_idx") if variant in TRACE_VARIANTS else None,
            "teacher": r.get("teacher") if variant in TRACE_VARIANTS else None,
            "sampling_hash": r.get("sampling_hash") if variant in TRACE_VARIANTS else None,
        }
        for r in rows.iter_rows(named=True)
    ]
    return pl.DataFrame(records, schema=DATASET_SCHEMA)


def _with_thinking(row: dict) -> str:
    return join_reasoning(row["reasoning"], row["final"])


def build_variants(
    queries: pl.DataFrame, traces: pl.DataFrame, verdicts: pl.DataFrame, *, loaders: dict[str, str], seed: int
) -> dict[str, pl.DataFrame]:
    sources = queries.select("query_id", "source", "problem", "solution")
    picked = pick_correct(traces, verdicts, seed=seed).join(sources, on="query_id")
    math = picked.filter(pl.col("source").is_in([s for s, kind in loaders.items() if kind == "math"]))
    countdown = picked.filter(pl.col("source").is_in([s for s, kind in loaders.items() if kind == "countdown"]))
    return {
        "math-cot": _examples(math, "math-cot", _with_thinking),
        "math-nocot": _examples(math, "math-nocot", lambda r: r["final"]),
        "countdown-cot": _examples(countdown, "countdown-cot", _with_thinking),
        "reference": _examples(math.filter(pl.col("solution").is_not_null()), "reference", lambda r: r["solution"]),
    }


def thinking_format_errors(table: pl.DataFrame, variant: str) -> int:
    """CoT examples must hold exactly one closed thinking block; the others none at all."""
    errors = 0
    for content in table["messages"].list.last().struct.field("content"):
        opened, closed = content.count(THINK_OPEN), content.count(THINK_CLOSE)
        if variant in COT_VARIANTS:
            errors += not (opened == closed == 1 and content.index(THINK_OPEN) < content.index(THINK_CLOSE))
        else:
            errors += opened + closed > 0
    return errors


def unverified_examples(table: pl.DataFrame, verdicts: pl.DataFrame) -> int:
    """Examples whose trace sample has no correct verdict (should be none for trace variants)."""
    joined = table.join(verdicts.select("query_id", "sample_idx", "correct"), on=["query_id", "sample_idx"], how="left")
    return joined.filter(pl.col("correct").is_null() | ~pl.col("correct")).height


def dataset_card(variant: str, table: pl.DataFrame, *, description: str, provenance: dict) -> str:
    """A Hugging Face dataset card: YAML header (so ``load_dataset(folder)`` finds the data) and
    a body with sources, counts, filters and config hashes."""
    header = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        "task_categories": ["text-generation"],
        "tags": ["reasoning", "sft", variant],
    }
    hashes = sorted(h for h in table["sampling_hash"].unique().to_list() if h)
    teachers = sorted(t for t in table["teacher"].unique().to_list() if t)
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        f"# {variant}",
        "",
        description,
        "",
        f"- examples: {table.height} (one per query)",
        f"- teachers: {', '.join(teachers) or 'none (reference solutions)'}",
        f"- sampling-config hashes: {', '.join(hashes) or 'n/a'}",
        "",
        "## Provenance",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in provenance.items()]
    lines += [
        "",
        "Columns: example_id, query_id, variant, messages (chat format), sample_idx, teacher, sampling_hash, tokens.",
    ]
    return "\n".join(lines) + "\n"
