"""Verify teacher traces: math-verify for math sources, the Countdown rule for Countdown."""

from __future__ import annotations

import polars as pl

from workloads.core.artifacts import read_parquet, write_parquet
from workloads.core.lifecycle import workload_pipes
from workloads.evaluation.registry import verifier_version
from workloads.programs.inputs import VerifyInputs
from workloads.verification.verify_pool import TIMEOUT, VerifierPool, usable_cores

VERDICT_SCHEMA = {
    "query_id": pl.String,
    "sample_idx": pl.Int64,
    "correct": pl.Boolean,
    "verifier": pl.String,
    "verifier_version": pl.String,
    "error": pl.String,
}


def verify_traces(
    traces: pl.DataFrame,
    queries: pl.DataFrame,
    loaders: dict[str, str],
    workers: int | None = None,
    timeout_s: float = 10.0,
) -> pl.DataFrame:
    """One verdict per trace row. ``loaders`` maps a query source to its loader kind.

    Verdicts run in a :class:`VerifierPool` of ``workers`` processes (None: every usable core), at
    most ``timeout_s`` seconds each: an item past that gets ``correct`` null with error "timeout", an
    item whose worker died gets "worker crashed", and the rest of the shard is verified regardless.
    """
    joined = traces.join(queries.select("query_id", "source", "answer", "nums", "target"), on="query_id", how="left")
    missing = joined.filter(pl.col("source").is_null())
    if missing.height:
        raise ValueError(f"{missing.height} traces reference unknown query ids, e.g. {missing['query_id'][0]}")
    rows = list(joined.iter_rows(named=True))
    kinds = [loaders[row["source"]] for row in rows]
    finals = [row["final"] or "" for row in rows]
    references = [
        {"nums": row["nums"], "target": row["target"]} if kind == "countdown" else row["answer"]
        for kind, row in zip(kinds, rows, strict=True)
    ]
    results = []
    if rows:
        # No more workers than items: each one costs a process start.
        workers = min(usable_cores() if workers is None else workers, len(rows))
        with VerifierPool(workers=workers, timeout_s=timeout_s) as pool:
            results = pool.verdicts(kinds, finals, references)
    versions = {kind: verifier_version(kind) for kind in set(kinds)}
    return pl.DataFrame(
        [
            {
                "query_id": row["query_id"],
                "sample_idx": row["sample_idx"],
                "correct": correct,
                "verifier": kind,
                "verifier_version": versions[kind],
                "error": error,
            }
            for row, kind, (correct, error) in zip(rows, kinds, results, strict=True)
        ],
        schema=VERDICT_SCHEMA,
    )


def main() -> None:
    with workload_pipes() as pipes:
        inputs = VerifyInputs.from_extras(pipes.extras)
        verdicts = verify_traces(
            read_parquet(inputs.traces_path),
            read_parquet(inputs.queries_path),
            inputs.loaders,
            workers=inputs.workers,
            timeout_s=inputs.timeout_s or 10.0,
        )
        write_parquet(verdicts, inputs.output_path)
        pipes.report_asset_materialization(
            metadata={
                "verdicts": verdicts.height,
                "correct": int(verdicts["correct"].sum() or 0),
                "unjudgeable": int(verdicts["correct"].is_null().sum()),
                "timeouts": int((verdicts["error"] == TIMEOUT).sum()),
            }
        )


if __name__ == "__main__":
    main()
