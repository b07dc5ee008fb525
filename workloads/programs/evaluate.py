"""Evaluate one checkpoint on some of the recipe's benchmarks (its due eval cells) with one warm
vLLM engine, every cell's requests in one stream (``workloads.evaluation.stream``). Each cell is
scored and written as soon as its last request finishes, so a crash costs only the unfinished
cells. The cells themselves: ``workloads.evaluation.cells``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from workloads.core.artifacts import local_folder
from workloads.core.lifecycle import workload_pipes
from workloads.core.tracking import log_cell, log_curves, mlflow_client, reports_to_mlflow
from workloads.evaluation.judging import JudgeCache, judge_cache_location, judge_replies, judge_sampling
from workloads.evaluation.scoring import SCORING_LIMIT_S
from workloads.evaluation.stream import evaluate_stream
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
            tracked_runs = []

            def track(name, cell, table, counts):
                if tracker is not None:
                    tracked_runs.append(log_cell(tracker, table, inputs.checkpoint, warn=pipes.log.warning))
                log_curves(table, inputs.checkpoint, inputs.report_to, inputs.tensorboard_dir, warn=pipes.log.warning)

            reported, progress = evaluate_stream(
                llm,
                inputs.checkpoint,
                inputs.cells,
                sampling=inputs.sampling,
                seed=inputs.seed,
                kinds=inputs.kinds,
                judge=judge,
                pool=pool,
                log=pipes.log.info,
                on_written=track,
            )
            tracked = next((run for run in reversed(tracked_runs) if run), None)
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
