"""The study's SFT dataset variants, built from verified traces.

Selection rule (the paper's): keep correct responses, then pick one per query at random with a
seed. Math-NoCoT is Math-CoT with the thinking removed; the reference variant (NuminaMath in the
full study) pairs the same queries with their reference solutions.
"""

from __future__ import annotations

import hashlib

import polars as pl

from workloads.text import join_reasoning

DATASET_SCHEMA = {
    "example_id": pl.String,
    "query_id": pl.String,
    "variant": pl.String,
    "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
}


def _draw(seed: int, query_id: str, sample_idx: int) -> str:
    return hashlib.sha256(f"{seed}:{query_id}:{sample_idx}".encode()).hexdigest()


def pick_correct(traces: pl.DataFrame, verdicts: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """One verified-correct, thinking-closed response per query, chosen by a seeded draw."""
    correct = traces.join(
        verdicts.filter(pl.col("correct") == True).select("query_id", "sample_idx"),  # noqa: E712
        on=["query_id", "sample_idx"],
    ).filter(pl.col("think_closed"))
    if correct.height == 0:
        return correct
    draws = [_draw(seed, q, i) for q, i in zip(correct["query_id"], correct["sample_idx"])]
    return (
        correct.with_columns(_draw=pl.Series(draws))
        .sort("_draw")
        .unique(subset="query_id", keep="first", maintain_order=True)
        .drop("_draw")
        .sort("query_id")
    )


def _examples(rows: list[tuple[str, str, str]], variant: str) -> pl.DataFrame:
    records = [
        {
            "example_id": f"{variant}:{query_id}",
            "query_id": query_id,
            "variant": variant,
            "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        }
        for query_id, user, assistant in rows
    ]
    return pl.DataFrame(records, schema=DATASET_SCHEMA)


def build_variants(
    queries: pl.DataFrame, traces: pl.DataFrame, verdicts: pl.DataFrame, *, loaders: dict[str, str], seed: int
) -> dict[str, pl.DataFrame]:
    sources = queries.select("query_id", "source", "problem", "solution")
    picked = pick_correct(traces, verdicts, seed=seed).join(sources, on="query_id")
    is_math = pl.col("source").is_in([s for s, kind in loaders.items() if kind == "math"])
    is_countdown = pl.col("source").is_in([s for s, kind in loaders.items() if kind == "countdown"])
    math = picked.filter(is_math)
    countdown = picked.filter(is_countdown)
    with_reference = math.filter(pl.col("solution").is_not_null())
    return {
        "math-cot": _examples(
            [(r["query_id"], r["problem"], join_reasoning(r["reasoning"], r["final"])) for r in math.iter_rows(named=True)],
            "math-cot",
        ),
        "math-nocot": _examples(
            [(r["query_id"], r["problem"], r["final"]) for r in math.iter_rows(named=True)], "math-nocot"
        ),
        "countdown-cot": _examples(
            [(r["query_id"], r["problem"], join_reasoning(r["reasoning"], r["final"])) for r in countdown.iter_rows(named=True)],
            "countdown-cot",
        ),
        "reference": _examples(
            [(r["query_id"], r["problem"], r["solution"]) for r in with_reference.iter_rows(named=True)], "reference"
        ),
    }
