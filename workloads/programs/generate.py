"""Teacher generation for one shard of the query set.

Resumable: queries are generated in chunks and each finished chunk is written as its own part
file, so a shard killed midway restarts without regenerating what it had finished. A part is
reused only when its rows come from this shard's queries and carry this teacher-and-sampling
hash; any other part (the recipe's sampling changed, the query set shrank) is moved aside and
logged, and its queries are generated again.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import polars as pl

from workloads.core.artifacts import (
    TOKENIZER_FILES,
    is_remote,
    list_names,
    local_folder,
    move,
    read_parquet,
    write_parquet,
)
from workloads.core.hardware import compute_dtype
from workloads.core.lifecycle import workload_pipes
from workloads.core.model_identity import read_identity
from workloads.core.progress import Progress
from workloads.core.prompts import teacher_messages
from workloads.core.text import split_reasoning
from workloads.inference.engine import config_hash, make_llm, render_prompt, sampling_params
from workloads.inference.openai_backend import CompletionsClient
from workloads.programs.inputs import GenerateInputs
from workloads.verification.countdown_rule import SOLVER_NAME, SOLVER_VERSION, solver_response

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


def _row(
    *,
    query_id: str,
    sample_idx: int,
    teacher: str,
    prompt: str,
    response: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    sampling_hash: str,
    prefilled: bool,
) -> dict:
    """One trace row (keyword-only: two token counts swapped would otherwise pass silently)."""
    split = split_reasoning(response, opened_in_prompt=prefilled)
    return {
        "query_id": query_id,
        "sample_idx": sample_idx,
        "teacher": teacher,
        "prompt": prompt,
        "response": response,
        "reasoning": split.reasoning,
        "final": split.final,
        "think_closed": split.think_closed,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "sampling_hash": sampling_hash,
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
            rows.append(
                _row(
                    query_id=q["query_id"],
                    sample_idx=0,
                    teacher=self.name,
                    prompt=q["problem"],
                    response=response,
                    finish_reason="stop",
                    prompt_tokens=0,
                    completion_tokens=len(response.split()),
                    sampling_hash=self.chash,
                    prefilled=False,
                )
            )
        return rows


def _chunk_rows(chunk: pl.DataFrame, prompts: list[str], samples, *, teacher: str, sampling_hash: str, prefilled: bool):
    """The trace rows of a chunk (both backends): ``samples`` holds, per prompt, each completion's
    own ``_row`` fields (response, finish_reason, prompt_tokens, completion_tokens)."""
    return [
        _row(
            query_id=q_id,
            sample_idx=idx,
            teacher=teacher,
            prompt=prompt,
            sampling_hash=sampling_hash,
            prefilled=prefilled,
            **fields,
        )
        for q_id, prompt, completions in zip(chunk["query_id"], prompts, samples, strict=True)
        for idx, fields in enumerate(completions)
    ]


def _render_prompts(tokenizer, teacher: dict, loader: str, problems) -> list[str]:
    """The teacher prompts of a chunk, rendered by the model's chat template (both backends)."""
    return [
        render_prompt(
            tokenizer,
            teacher_messages(p, source_loader=loader, few_shot=teacher["few_shot"]),
            thinking_prompt=teacher["thinking_prompt"],
        )
        for p in problems
    ]


class VllmTeacher:
    """vLLM's offline engine in this process."""

    def __init__(self, teacher: dict, endpoint: dict, sampling: dict, loader: str, chash: str):
        # vLLM reads a local folder: a model in object storage is copied to scratch space first.
        self.scratch = tempfile.mkdtemp(prefix="teacher-")
        model = str(local_folder(endpoint["model"], Path(self.scratch)))
        self.llm, self.engine = make_llm({**endpoint, "model": model})
        self.tokenizer = self.llm.get_tokenizer()
        self.teacher, self.loader, self.chash = teacher, loader, chash
        self.params = sampling_params(sampling)
        # Rows name the engine when it is not vLLM, so traces stay traceable to what wrote them.
        engine = self.engine["engine"]
        self.name = teacher["name"] if engine == "vllm" else f"{teacher['name']} ({engine})"

    def generate(self, chunk: pl.DataFrame) -> list[dict]:
        prefilled = self.teacher["thinking_prompt"] == "prefill"
        prompts = _render_prompts(self.tokenizer, self.teacher, self.loader, chunk["problem"])
        outputs = self.llm.generate(prompts, self.params, use_tqdm=False)
        samples = [
            [
                dict(
                    response=c.text,
                    finish_reason=c.finish_reason,
                    prompt_tokens=len(out.prompt_token_ids),
                    completion_tokens=len(c.token_ids),
                )
                for c in out.outputs
            ]
            for out in outputs
        ]
        return _chunk_rows(chunk, prompts, samples, teacher=self.name, sampling_hash=self.chash, prefilled=prefilled)


class HttpTeacher:
    """The same teacher behind an OpenAI-compatible server (``workloads/inference/openai_backend.py``).

    Prompts are rendered here by the model's chat template, exactly as the offline path renders
    them, and sent to ``/completions``; rows are the offline path's, so resume and verification
    don't know which backend wrote them. The API key comes from the environment variable the
    endpoint names.
    """

    def __init__(self, teacher: dict, endpoint: dict, sampling: dict, loader: str, chash: str):
        from transformers import AutoTokenizer  # heavy: only the server backend needs it here

        tokenizer = endpoint["tokenizer"]
        if is_remote(tokenizer):  # the tokenizer files of a model folder in object storage
            tokenizer = str(local_folder(tokenizer, Path(tempfile.mkdtemp(prefix="tokenizer-")), only=TOKENIZER_FILES))
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.client = CompletionsClient.from_settings(
            endpoint, token_counter=lambda text: len(self.tokenizer.encode(text, add_special_tokens=False))
        )
        self.teacher, self.loader, self.chash, self.sampling = teacher, loader, chash, sampling
        self.name = teacher["name"]

    def generate(self, chunk: pl.DataFrame) -> list[dict]:
        prefilled = self.teacher["thinking_prompt"] == "prefill"
        prompts = _render_prompts(self.tokenizer, self.teacher, self.loader, chunk["problem"])
        results = self.client.complete(prompts, self.sampling)
        samples = [
            [
                dict(
                    response=c.text,
                    finish_reason=c.finish_reason,
                    prompt_tokens=c.prompt_tokens,
                    completion_tokens=c.completion_tokens,
                )
                for c in completions
            ]
            for completions in results
        ]
        return _chunk_rows(chunk, prompts, samples, teacher=self.name, sampling_hash=self.chash, prefilled=prefilled)

    def close(self) -> None:
        self.client.close()


ENDPOINT_TEACHERS = {"vllm-offline": VllmTeacher, "openai-compatible": HttpTeacher}


def teacher_identity(job: dict) -> dict:
    """Who the teacher is beyond its recipe entry: for weights run here, their digest (another GGUF
    file, hub model or stored dtype is another teacher) and the compute dtype this machine runs them
    in; for a model behind a server, the server and the name it serves."""
    endpoint = job.get("endpoint")
    if not endpoint:
        return {}
    if endpoint.get("backend") == "openai-compatible":
        return {"base_url": endpoint.get("base_url"), "served_model": endpoint.get("model")}
    return {**read_identity(endpoint["model"]), "compute_dtype": compute_dtype(endpoint.get("dtype", "auto")).dtype}


def teacher_hash(job: dict, sampling: dict) -> str:
    """What a trace was made with (the teacher's settings and identity, and sampling): its rows
    carry it, and only traces with the same hash are reused."""
    return config_hash({"teacher": job["teacher"], "identity": teacher_identity(job), "sampling": sampling})


def make_teacher(job: dict, sampling: dict):
    """The teacher backend a query source asked for; started only when there is work for it."""
    if job["teacher"]["backend"] == "countdown-solver":
        return SolverTeacher(teacher_hash(job, sampling))
    backend = job["endpoint"]["backend"]
    if backend not in ENDPOINT_TEACHERS:
        raise ValueError(f"unsupported generation backend {backend!r}; known: {sorted(ENDPOINT_TEACHERS)}")
    chash = teacher_hash(job, sampling)
    return ENDPOINT_TEACHERS[backend](job["teacher"], job["endpoint"], sampling, job["loader"], chash)


def _stale_reason(part: pl.DataFrame, query_ids: set[str], chash: str) -> str | None:
    """Why a persisted part can't be reused for this shard, or None when it can."""
    hashes = set(part["sampling_hash"].unique().to_list())
    if hashes - {chash}:
        return f"made with teacher/sampling {', '.join(sorted(hashes))}, not {chash}"
    foreign = set(part["query_id"].unique().to_list()) - query_ids
    if foreign:
        return f"{len(foreign)} of its queries are no longer in this shard"
    return None


def reusable_parts(parts: str, queries: pl.DataFrame, chash: str, log) -> tuple[list[str], pl.DataFrame]:
    """The part files under ``parts`` made from this shard's queries with this teacher and
    sampling (names, rows). Any other part is moved aside into a ``superseded-<time>`` folder,
    with a log line, so a changed recipe regenerates instead of reusing, and nothing is lost."""
    query_ids = set(queries["query_id"].to_list())
    names, tables, aside = [], [], f"{parts}/superseded-{time.strftime('%Y%m%dT%H%M%S')}"
    for name in (n for n in list_names(parts, ".parquet") if n.startswith("part-")):
        table = read_parquet(f"{parts}/{name}")
        reason = _stale_reason(table, query_ids, chash)
        if reason is None:
            names.append(name)
            tables.append(table)
        else:
            move(f"{parts}/{name}", f"{aside}/{name}")
            log(f"not reusing {parts}/{name} ({reason}): moved to {aside}/")
    return names, pl.concat(tables) if tables else pl.DataFrame(schema=TRACE_SCHEMA)


def generate_shard(
    queries: pl.DataFrame, parts: str | Path, make_teacher, chunk_size: int, log, *, chash: str, tally=None
) -> tuple[pl.DataFrame, int]:
    """Generate every query of ``queries`` not already in a reusable part file under ``parts``
    (a local folder or an S3 prefix; see ``reusable_parts``). ``chash``: the teacher and sampling
    hash the rows must carry. Returns (all traces, queries resumed); ``tally`` (a dict), where
    given, counts the ``generated_tokens`` of this call alone, reused parts not included."""
    parts = str(parts).rstrip("/")
    existing, done = reusable_parts(parts, queries, chash, log)
    todo = queries.filter(~pl.col("query_id").is_in(done["query_id"].unique().implode()))
    resumed = queries.height - todo.height
    if resumed:
        log(f"resuming: {resumed} queries already generated in {len(existing)} part files")
    teacher = make_teacher() if todo.height else None
    if getattr(teacher, "engine", None):
        log("engine: " + ", ".join(f"{k} {v}" for k, v in teacher.engine.items()))
    progress = Progress("generation", todo.height, "queries", log)
    # Numbered after the kept parts (moved ones sit in a sub-folder), so no new part replaces one.
    first = 1 + max((int(n.split("-")[1].split(".")[0]) for n in existing), default=-1)
    for start in range(0, todo.height, chunk_size):
        chunk = todo.slice(start, chunk_size)
        part = pl.DataFrame(teacher.generate(chunk), schema=TRACE_SCHEMA)
        write_parquet(part, f"{parts}/part-{first + start // chunk_size:05d}.parquet")
        tokens = int(part["completion_tokens"].sum())
        progress.update(chunk.height, tokens=tokens)
        if tally is not None:
            tally["generated_tokens"] = tally.get("generated_tokens", 0) + tokens
    _, traces = reusable_parts(parts, queries, chash, log)
    return traces.sort("query_id", "sample_idx"), resumed


def main() -> None:
    with workload_pipes() as pipes:
        inputs = GenerateInputs.from_extras(pipes.extras)
        started = time.time()
        queries = read_parquet(inputs.queries_path)
        all_traces = []
        resumed_total = 0
        tally = {"generated_tokens": 0}
        engines = {}  # what each model teacher ran on, for the asset's metadata
        for source, group in queries.group_by("source", maintain_order=True):
            source = source[0]
            job = inputs.sources[source].model_dump()

            def start_teacher(job=job):
                teacher = make_teacher(job, inputs.sampling)
                engines.update(getattr(teacher, "engine", {}))
                return teacher

            traces, resumed = generate_shard(
                group,
                f"{inputs.parts_dir.rstrip('/')}/{source}",
                start_teacher,
                inputs.chunk_size,
                pipes.log.info,
                chash=teacher_hash(job, inputs.sampling),
                tally=tally,
            )
            all_traces.append(traces)
            resumed_total += resumed
        # An empty shard (more shards than queries) is valid: an empty table.
        table = pl.concat(all_traces) if all_traces else pl.DataFrame(schema=TRACE_SCHEMA)
        write_parquet(table, inputs.output_path)
        seconds = time.time() - started
        pipes.report_asset_materialization(
            metadata={
                "samples": table.height,
                "queries_resumed": resumed_total,
                "completion_tokens": int(table["completion_tokens"].sum()),
                "generation_seconds": round(seconds, 1),
                "generated_tokens": tally["generated_tokens"],
                # The pace of what this run generated: tokens of reused parts cost it nothing.
                "tokens_per_second": round(tally["generated_tokens"] / seconds, 1)
                if seconds and tally["generated_tokens"]
                else None,
                **engines,
            }
        )


if __name__ == "__main__":
    main()
