"""Teacher generation for one shard of the query set.

Resumable: queries are generated in chunks and each finished chunk is written as its own part
file, so a shard killed midway restarts without regenerating what it had finished.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import polars as pl
from dagster_pipes import open_dagster_pipes

from workloads.countdown import SOLVER_NAME, SOLVER_VERSION, solver_response
from workloads.engine import config_hash, make_llm, render_prompt, sampling_params
from workloads.prompts import teacher_messages
from workloads.text import split_reasoning

TRACE_SCHEMA = {
    "query_id": pl.String,
    "sample_idx": pl.Int64,
    "teacher": pl.String,
    "prompt": pl.String,
    "response": pl.String,
    "reasoning": pl.String,
    "final": pl.String,
    "think_closed": pl.Boolean,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "sampling_hash": pl.String,
}


def _row(query_id, idx, teacher, prompt, response, finish, prompt_tokens, completion_tokens, chash, prefilled):
    split = split_reasoning(response, opened_in_prompt=prefilled)
    return {
        "query_id": query_id,
        "sample_idx": idx,
        "teacher": teacher,
        "prompt": prompt,
        "response": response,
        "reasoning": split.reasoning,
        "final": split.final,
        "think_closed": split.think_closed,
        "finish_reason": finish,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "sampling_hash": chash,
    }


class SolverTeacher:
    """The Countdown search solver: deterministic, so one sample per query."""

    name = f"{SOLVER_NAME}-v{SOLVER_VERSION}"

    def __init__(self, chash: str):
        self.chash = chash

    def generate(self, chunk: pl.DataFrame) -> list[dict]:
        rows = []
        for q in chunk.iter_rows(named=True):
            response = solver_response(q["nums"], q["target"])
            rows.append(_row(q["query_id"], 0, self.name, q["problem"], response, "stop", 0,
                             len(response.split()), self.chash, prefilled=False))
        return rows


class VllmTeacher:
    def __init__(self, teacher: dict, endpoint: dict, sampling: dict, loader: str, chash: str):
        self.llm = make_llm(endpoint)
        self.tokenizer = self.llm.get_tokenizer()
        self.teacher, self.loader, self.chash = teacher, loader, chash
        self.params = sampling_params(sampling)
        self.name = teacher["name"]

    def generate(self, chunk: pl.DataFrame) -> list[dict]:
        prefilled = self.teacher["thinking_prompt"] == "prefill"
        prompts = [
            render_prompt(
                self.tokenizer,
                teacher_messages(p, source_loader=self.loader, few_shot=self.teacher["few_shot"]),
                thinking_prompt=self.teacher["thinking_prompt"],
            )
            for p in chunk["problem"]
        ]
        outputs = self.llm.generate(prompts, self.params, use_tqdm=False)
        rows = []
        for q_id, prompt, out in zip(chunk["query_id"], prompts, outputs):
            for idx, completion in enumerate(out.outputs):
                rows.append(_row(q_id, idx, self.name, prompt, completion.text, completion.finish_reason,
                                 len(out.prompt_token_ids), len(completion.token_ids), self.chash, prefilled))
        return rows


def make_teacher(job: dict, sampling: dict):
    """The teacher backend a query source asked for; started only when there is work for it."""
    chash = config_hash({"teacher": job["teacher"], "sampling": sampling})
    if job["teacher"]["backend"] == "countdown-solver":
        return SolverTeacher(chash)
    return VllmTeacher(job["teacher"], job["endpoint"], sampling, job["loader"], chash)


def _write_atomic(table: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    table.write_parquet(tmp)
    os.replace(tmp, path)


def generate_shard(queries: pl.DataFrame, parts_dir: Path, make_teacher, chunk_size: int, log) -> tuple[pl.DataFrame, int]:
    """Generate every query not already in a part file. Returns (all traces, queries resumed)."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(parts_dir.glob("part-*.parquet"))
    done = pl.concat([pl.read_parquet(p) for p in existing]) if existing else pl.DataFrame(schema=TRACE_SCHEMA)
    todo = queries.filter(~pl.col("query_id").is_in(done["query_id"].unique().implode()))
    resumed = queries.height - todo.height
    if resumed:
        log(f"resuming: {resumed} queries already generated in {len(existing)} part files")
    teacher = make_teacher() if todo.height else None
    for start in range(0, todo.height, chunk_size):
        chunk = todo.slice(start, chunk_size)
        rows = teacher.generate(chunk)
        part = pl.DataFrame(rows, schema=TRACE_SCHEMA)
        _write_atomic(part, parts_dir / f"part-{len(existing) + start // chunk_size:05d}.parquet")
        log(f"generated {min(start + chunk_size, todo.height)}/{todo.height} queries")
    parts = sorted(parts_dir.glob("part-*.parquet"))
    traces = pl.concat([pl.read_parquet(p) for p in parts]) if parts else pl.DataFrame(schema=TRACE_SCHEMA)
    return traces.sort("query_id", "sample_idx"), resumed


def main() -> None:
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        started = time.time()
        queries = pl.read_parquet(extras["queries_path"])
        all_traces = []
        resumed_total = 0
        for source, group in queries.group_by("source", maintain_order=True):
            source = source[0]
            job = extras["sources"][source]
            traces, resumed = generate_shard(
                group,
                Path(extras["parts_dir"]) / source,
                partial(make_teacher, job, extras["sampling"]),
                extras["chunk_size"],
                pipes.log.info,
            )
            all_traces.append(traces)
            resumed_total += resumed
        table = pl.concat(all_traces)
        _write_atomic(table, Path(extras["output_path"]))
        seconds = time.time() - started
        pipes.report_asset_materialization(
            metadata={
                "samples": table.height,
                "queries_resumed": resumed_total,
                "completion_tokens": int(table["completion_tokens"].sum()),
                "generation_seconds": round(seconds, 1),
            }
        )


if __name__ == "__main__":
    main()
