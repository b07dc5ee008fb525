"""Verify teacher traces: math-verify for math sources, the Countdown rule for Countdown."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from dagster_pipes import open_dagster_pipes

from workloads.scoring import VERDICTS, verifier_version

VERDICT_SCHEMA = {
    "query_id": pl.String,
    "sample_idx": pl.Int64,
    "correct": pl.Boolean,
    "verifier": pl.String,
    "verifier_version": pl.String,
    "error": pl.String,
}


def verify_traces(traces: pl.DataFrame, queries: pl.DataFrame, loaders: dict[str, str]) -> pl.DataFrame:
    """One verdict per trace row. ``loaders`` maps a query source to its loader kind."""
    joined = traces.join(queries.select("query_id", "source", "answer", "nums", "target"), on="query_id", how="left")
    missing = joined.filter(pl.col("source").is_null())
    if missing.height:
        raise ValueError(f"{missing.height} traces reference unknown query ids, e.g. {missing['query_id'][0]}")
    rows = []
    for row in joined.iter_rows(named=True):
        kind = loaders[row["source"]]
        reference = {"nums": row["nums"], "target": row["target"]} if kind == "countdown" else row["answer"]
        try:
            correct, error = VERDICTS[kind](row["final"] or "", reference)
        except Exception as err:  # a verifier crash on one item must not lose the shard
            correct, error = None, f"verifier error: {type(err).__name__}: {err}"
        rows.append(
            {
                "query_id": row["query_id"],
                "sample_idx": row["sample_idx"],
                "correct": correct,
                "verifier": kind,
                "verifier_version": verifier_version(kind),
                "error": error,
            }
        )
    return pl.DataFrame(rows, schema=VERDICT_SCHEMA)


def main() -> None:
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        verdicts = verify_traces(
            pl.read_parquet(extras["traces_path"]), pl.read_parquet(extras["queries_path"]), extras["loaders"]
        )
        out = Path(extras["output_path"])
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        verdicts.write_parquet(tmp)
        os.replace(tmp, out)
        pipes.report_asset_materialization(
            metadata={
                "verdicts": verdicts.height,
                "correct": int(verdicts["correct"].sum() or 0),
                "unjudgeable": int(verdicts["correct"].is_null().sum()),
            }
        )


if __name__ == "__main__":
    main()
