"""Evaluate one checkpoint on every benchmark of the recipe with one warm vLLM engine."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
from dagster_pipes import open_dagster_pipes

from workloads.artifacts import local_folder, write_parquet
from workloads.benchmarks import load_benchmark
from workloads.engine import make_llm, render_prompt, sampling_params
from workloads.metrics import EVAL_SAMPLE_SCHEMA
from workloads.scoring import SCORERS
from workloads.text import split_reasoning


def evaluate(llm, checkpoint: str, benchmarks: dict, sampling: dict, seed: int, log) -> pl.DataFrame:
    tokenizer = llm.get_tokenizer()
    rows = []
    for name, bench in benchmarks.items():
        items = load_benchmark(
            bench["location"], bench["kind"], limit=bench["limit"], seed=seed,
            hub_config=bench["hub_config"], hub_split=bench["hub_split"],
        )
        prompts = [
            render_prompt(tokenizer, [{"role": "user", "content": item.prompt}], thinking_prompt="chat-template")
            for item in items
        ]
        outputs = llm.generate(prompts, sampling_params(sampling, n=bench["n"]), use_tqdm=False)
        finals, references, meta = [], [], []
        for item, out in zip(items, outputs):
            for idx, completion in enumerate(out.outputs):
                split = split_reasoning(completion.text)
                finals.append(split.final)
                references.append(item.reference)
                meta.append((item.item_id, idx, completion, split.think_closed))
        scores = SCORERS[bench["kind"]](finals, references)
        for (item_id, idx, completion, closed), score in zip(meta, scores):
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "benchmark": name,
                    "item_id": item_id,
                    "sample_idx": idx,
                    "response": completion.text,
                    "score": score,
                    "tokens": len(completion.token_ids),
                    "truncated": completion.finish_reason == "length",
                    # A response that never opened a thinking block has nothing left unclosed.
                    "think_closed": closed or "<think>" not in completion.text,
                }
            )
        log(f"{checkpoint} {name}: {len(items)} items x {bench['n']} samples")
    return pl.DataFrame(rows, schema=EVAL_SAMPLE_SCHEMA)


def main() -> None:
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        started = time.time()
        scratch = tempfile.mkdtemp(prefix="checkpoint-")  # a remote checkpoint is read from a local copy
        endpoint = {**extras["endpoint"], "model": str(local_folder(extras["endpoint"]["model"], Path(scratch)))}
        llm = make_llm(endpoint)
        samples = evaluate(llm, extras["checkpoint"], extras["benchmarks"], extras["sampling"], extras["seed"], pipes.log.info)
        write_parquet(samples, extras["samples_path"])
        shutil.rmtree(scratch, ignore_errors=True)
        pipes.report_asset_materialization(
            metadata={"samples": samples.height, "eval_seconds": round(time.time() - started, 1)}
        )


if __name__ == "__main__":
    main()
