"""Evaluate one checkpoint on some of the recipe's benchmarks (its due eval cells) with one warm
vLLM engine. Each cell's samples are written as soon as the cell is done, so a crash costs at
most the cell in progress. The cells themselves: ``workloads.evaluation.cells``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import polars as pl

from workloads.core.artifacts import local_folder, write_parquet
from workloads.core.lifecycle import workload_pipes
from workloads.core.progress import Progress
from workloads.core.tracking import log_cell, log_curves, mlflow_client, reports_to_mlflow
from workloads.evaluation.cells import evaluate_cell
from workloads.evaluation.judging import JudgeCache, judge_cache_location, judge_replies, judge_sampling
from workloads.evaluation.metrics import summarize
from workloads.evaluation.scoring import SCORING_LIMIT_S
from workloads.inference.engine import make_llm
from workloads.inference.openai_backend import CompletionsClient
from workloads.programs.inputs import EvaluateInputs
from workloads.verification.verify_pool import VerifierPool, usable_cores


def make_judge(settings: dict, cache_root: str, checkpoint: str, log):
    """The judge call for safety-judge cells: the recipe's judge behind an OpenAI-compatible
    endpoint, chat route, temperature 0, every judgment cached (in the checkpoint's own cache)."""
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
        inputs = EvaluateInputs.from_extras(pipes.extras)
        started = time.time()
        judge = client = tracked = None
        # Eval metrics go into the training run's MLflow run where the recipe's training reports to MLflow.
        tracker = mlflow_client() if reports_to_mlflow(inputs.report_to) else None
        if inputs.judge:
            judge, client = make_judge(inputs.judge, inputs.judge_cache, inputs.checkpoint, pipes.log.info)
        scratch = tempfile.mkdtemp(prefix="checkpoint-")  # a remote checkpoint is read from a local copy
        # Scorers run in worker processes with a hard limit per sample; the workers start on first use.
        pool = VerifierPool(workers=min(4, usable_cores()), timeout_s=SCORING_LIMIT_S)
        try:
            endpoint = {**inputs.endpoint, "model": str(local_folder(inputs.endpoint["model"], Path(scratch)))}
            llm, engine = make_llm(endpoint)
            pipes.log.info("engine: " + ", ".join(f"{k} {v}" for k, v in engine.items()))
            progress = Progress(f"evaluation of {inputs.checkpoint}", len(inputs.cells), "cells", pipes.log.info)
            reported = {}
            for name, cell in inputs.cells.items():
                samples, counts = evaluate_cell(
                    llm, inputs.checkpoint, name, cell, inputs.sampling, inputs.seed, judge, pool
                )
                write_parquet(samples, cell.samples_path)
                # The table goes last: its presence (under the cell's definition) marks the cell done.
                table = summarize(samples, inputs.kinds, seed=inputs.seed)
                write_parquet(table.with_columns(definition=pl.lit(cell.definition)), cell.table_path)
                reported[name] = counts
                if tracker is not None:
                    tracked = log_cell(tracker, table, inputs.checkpoint, warn=pipes.log.warning) or tracked
                log_curves(table, inputs.checkpoint, inputs.report_to, inputs.tensorboard_dir, warn=pipes.log.warning)
                pipes.log.info(f"{inputs.checkpoint} {name}: {counts['items']} items x {cell.n} samples {counts}")
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
