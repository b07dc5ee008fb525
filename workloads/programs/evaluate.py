"""Evaluate one checkpoint on some of the recipe's benchmarks (its due eval cells) with one warm
vLLM engine. Each cell's samples are written as soon as the cell is done, so a crash costs at
most the cell in progress.

The thinking rule: scorers and the judge see only the final answer, the text after ``</think>``;
a response whose thinking never closed has no answer.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

from workloads.core.artifacts import local_folder, write_parquet
from workloads.core.lifecycle import workload_pipes
from workloads.core.progress import Progress
from workloads.core.text import split_reasoning
from workloads.core.tracking import log_cell, mlflow_client, reports_to_mlflow
from workloads.evaluation.loading import Item, Layout, load_benchmark
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize
from workloads.evaluation.scoring import DETAILS, SCORERS, SCORING_LIMIT_S, SELF_BOUNDED_KINDS, bounded_scores
from workloads.inference.engine import make_llm, render_prompt, sampling_params
from workloads.verification.verify_pool import VerifierPool, usable_cores


def score_cell(
    kind: str, items: list[Item], finals: list[list[str]], judge=None, pool=None
) -> tuple[list[list[float | None]], list[list[dict | None]], dict]:
    """Scores and details of every sample (``finals[i][j]``: item i, sample j), and counts to
    report. ``judge(requests, replies) -> (scores, judge replies, counts)`` scores safety-judge cells.
    With ``pool`` (a ``VerifierPool``), each score has a hard time limit (``scoring.bounded_scores``)."""
    flat_finals = [f for per_item in finals for f in per_item]
    flat_refs = [item.reference for item, per_item in zip(items, finals, strict=True) for _ in per_item]
    counts: dict = {}
    if kind == "safety-judge":
        if judge is None:
            raise ValueError("a safety-judge benchmark needs the judge's settings in the workload's extras")
        requests = [item.prompt for item, per_item in zip(items, finals, strict=True) for _ in per_item]
        scores, replies, counts = judge(requests, flat_finals)
        categories = [item.category for item, per_item in zip(items, finals, strict=True) for _ in per_item]
        details = [
            {"judge_reply": r} | ({"category": c} if c else {}) for r, c in zip(replies, categories, strict=True)
        ]
    else:
        if pool is None or kind in SELF_BOUNDED_KINDS:
            scores = SCORERS[kind](flat_finals, flat_refs)
        else:
            scores, counts["scoring_timeouts"] = bounded_scores(kind, flat_finals, flat_refs, pool=pool)
        detail = DETAILS.get(kind)
        details = [detail(f, r) if detail else None for f, r in zip(flat_finals, flat_refs, strict=True)]
    shaped_scores, shaped_details, at = [], [], 0
    for per_item in finals:
        shaped_scores.append(scores[at : at + len(per_item)])
        shaped_details.append(details[at : at + len(per_item)])
        at += len(per_item)
    return shaped_scores, shaped_details, counts


def evaluate_cell(
    llm, checkpoint: str, name: str, bench: dict, sampling: dict, seed: int, judge=None, pool=None
) -> tuple[pl.DataFrame, dict]:
    items = load_benchmark(
        bench["location"],
        bench["kind"],
        limit=bench["limit"],
        seed=seed,
        hub_config=bench["hub_config"],
        hub_split=bench["hub_split"],
        layout=Layout.from_settings(bench),
        released_from=bench.get("released_from"),
        released_until=bench.get("released_until"),
    )
    tokenizer = llm.get_tokenizer()
    prompts = [
        render_prompt(tokenizer, [{"role": "user", "content": item.prompt}], thinking_prompt="chat-template")
        for item in items
    ]
    cell_sampling = {**sampling, "max_new_tokens": bench.get("max_new_tokens") or sampling["max_new_tokens"]}
    outputs = llm.generate(prompts, sampling_params(cell_sampling, n=bench["n"]), use_tqdm=False)
    splits = [[split_reasoning(c.text) for c in out.outputs] for out in outputs]
    scores, details, counts = score_cell(bench["kind"], items, [[s.final for s in per] for per in splits], judge, pool)
    rows = []
    for item, out, item_splits, item_scores, item_details in zip(items, outputs, splits, scores, details, strict=True):
        for idx, (completion, split, score, detail) in enumerate(
            zip(out.outputs, item_splits, item_scores, item_details, strict=True)
        ):
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "benchmark": name,
                    "item_id": item.item_id,
                    "sample_idx": idx,
                    "response": completion.text,
                    "score": score,
                    "tokens": len(completion.token_ids),
                    "truncated": completion.finish_reason == "length",
                    # A response that never opened a thinking block has nothing left unclosed.
                    "think_closed": split.think_closed or "<think>" not in completion.text,
                    "details": json.dumps(detail) if detail is not None else None,
                }
            )
    return pl.DataFrame(rows, schema=EVAL_SAMPLE_SCHEMA), {"items": len(items), **counts}


def make_judge(settings: dict, cache_root: str, checkpoint: str, log):
    """The judge call for safety-judge cells: the recipe's judge behind an OpenAI-compatible
    endpoint, chat route, temperature 0, every judgment cached (in the checkpoint's own cache)."""
    from workloads.evaluation.judging import JudgeCache, judge_cache_location, judge_replies, judge_sampling
    from workloads.inference.openai_backend import CompletionsClient

    client = CompletionsClient.from_settings({**settings, "vllm_extensions": False}, chat=True)
    sampling = judge_sampling(settings["max_tokens"])
    cache = JudgeCache(judge_cache_location(cache_root, checkpoint))  # read once per workload

    def complete(prompts: list[str]) -> list[str]:
        return [samples[0].text for samples in client.complete(prompts, sampling)]

    def judge(requests: list[str], replies: list[str]):
        return judge_replies(requests, replies, judge_model=settings["model"], complete=complete, cache=cache, log=log)

    return judge, client


def main() -> None:
    with workload_pipes() as pipes:
        extras = pipes.extras
        started = time.time()
        judge = client = tracked = None
        # Eval metrics go into the training run's MLflow run where the recipe's training reports to MLflow.
        tracker = mlflow_client() if reports_to_mlflow(extras.get("report_to")) else None
        if extras.get("judge"):
            judge, client = make_judge(extras["judge"], extras["judge_cache"], extras["checkpoint"], pipes.log.info)
        scratch = tempfile.mkdtemp(prefix="checkpoint-")  # a remote checkpoint is read from a local copy
        # Scorers run in worker processes with a hard limit per sample; the workers start on first use.
        pool = VerifierPool(workers=min(4, usable_cores()), timeout_s=SCORING_LIMIT_S)
        try:
            endpoint = {**extras["endpoint"], "model": str(local_folder(extras["endpoint"]["model"], Path(scratch)))}
            llm, engine = make_llm(endpoint)
            pipes.log.info("engine: " + ", ".join(f"{k} {v}" for k, v in engine.items()))
            progress = Progress(f"evaluation of {extras['checkpoint']}", len(extras["cells"]), "cells", pipes.log.info)
            reported = {}
            for name, bench in extras["cells"].items():
                samples, counts = evaluate_cell(
                    llm, extras["checkpoint"], name, bench, extras["sampling"], extras["seed"], judge, pool
                )
                write_parquet(samples, bench["samples_path"])
                # The table goes last: its presence (under the cell's definition) marks the cell done.
                table = summarize(samples, extras["kinds"], seed=extras["seed"])
                write_parquet(table.with_columns(definition=pl.lit(bench["definition"])), bench["table_path"])
                reported[name] = counts
                if tracker is not None:
                    tracked = log_cell(tracker, table, extras["checkpoint"], warn=pipes.log.warning) or tracked
                pipes.log.info(
                    f"{extras['checkpoint']} {name}: {counts['items']} items x {bench['n']} samples {counts}"
                )
                progress.update(tokens=int(samples["tokens"].sum()))
        finally:
            pool.close()
            shutil.rmtree(scratch, ignore_errors=True)
            if client is not None:
                client.close()
        # A message, not a materialization: the step may materialize several benchmarks' assets,
        # and the orchestrator reports each of them from this checkpoint's report.
        pipes.report_custom_message(
            {
                "report": {
                    "cells": reported,
                    "eval_seconds": round(time.time() - started, 1),
                    "tokens_per_second": progress.tokens_per_second(),
                    **engine,
                    **({"mlflow_run": tracked} if tracked else {}),
                }
            }
        )


if __name__ == "__main__":
    main()
