"""Eval-table metrics of a list of responses, for tests of the scorers' aggregates."""

import json

import polars as pl

from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize
from workloads.evaluation.registry import DETAILS, SCORERS


def cell_metrics(kind: str, completions: list[str], references: list[str], scores=None) -> dict:
    """The eval table's metrics of one cell of these responses (one sample per item): the scorer
    or given judge scores, the per-sample details, then ``summarize``."""
    scores = scores if scores is not None else SCORERS[kind](completions, references)
    detail = DETAILS.get(kind)
    rows = [
        {
            "checkpoint": "r@step-00000",
            "benchmark": "b",
            "item_id": f"i{k:03d}",
            "sample_idx": 0,
            "response": c,
            "score": None if s is None else float(s),
            "tokens": 1,
            "truncated": False,
            "think_closed": True,
            "details": json.dumps(detail(c, r)) if detail and detail(c, r) is not None else None,
        }
        for k, (c, r, s) in enumerate(zip(completions, references, scores, strict=True))
    ]
    table = summarize(pl.DataFrame(rows, schema=EVAL_SAMPLE_SCHEMA), {"b": kind})
    if table.height == 0:
        return {}
    return {**{r["metric"]: r["mean"] for r in table.iter_rows(named=True)}, "items": table["items"][0]}
