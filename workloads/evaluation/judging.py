"""The safety judge: an LLM behind an OpenAI-compatible endpoint rates each (request, reply) pair
from 1 to 5 against a usage policy, at temperature 0.

Judgments are cached by (judge model, judge prompt, reply): a cache is a folder (local or S3) of
part files, one written per finished chunk, so an interrupted run resumes where it stopped and a
re-run never pays for a judgment twice. The evaluation keeps one cache per checkpoint
(``judge_cache_location``): what a workload reads is its own checkpoint's judgments, however large
the study's grow, and opening a cache of more than ``MAX_PARTS`` parts compacts them into one.
The same reply from another checkpoint is judged again; replies differ between checkpoints almost
always, and the common exception, a short refusal, costs the judge little.

A reply that is empty after the thinking rule (thinking never closed, or nothing after it) says
nothing, so it is scored 1 without asking the judge; its judge reply is recorded as "".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import polars as pl

from workloads.core.artifacts import delete, list_names, read_parquet, write_parquet
from workloads.core.prompts import safety_judge_prompt
from workloads.evaluation.tasks.safety_judge import parse_judge_score

JUDGE_CACHE_SCHEMA = {"key": pl.String, "judge": pl.String, "reply": pl.String, "score": pl.Int64}
EMPTY_REPLY_SCORE = 1
MAX_PARTS = 16


def judge_cache_location(root: str, checkpoint: str) -> str:
    """The cache of one checkpoint's judgments under the study's judge-cache root."""
    return f"{root.rstrip('/')}/{checkpoint}"


def judgment_key(judge_model: str, prompt: str, reply: str) -> str:
    return hashlib.sha256("\x1f".join((judge_model, prompt, reply)).encode()).hexdigest()


def judge_sampling(max_tokens: int) -> dict:
    return {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": max_tokens}


class JudgeCache:
    """Judgments under ``location`` (a local folder or an S3 prefix), one parquet part per chunk."""

    def __init__(self, location: str):
        self.location = location.rstrip("/")
        names = [n for n in list_names(self.location, ".parquet") if n.startswith("part-")]
        tables = []
        for name in names:
            try:
                tables.append(read_parquet(f"{self.location}/{name}"))
            except FileNotFoundError:
                continue  # compacted away by another workload since listed: at worst a judgment is redone
        known = pl.concat(tables) if tables else pl.DataFrame(schema=JUDGE_CACHE_SCHEMA)
        self.entries: dict[str, tuple[str, int | None]] = {
            r["key"]: (r["reply"], r["score"]) for r in known.iter_rows(named=True)
        }
        if len(tables) > MAX_PARTS:
            merged = self._write(known.unique("key", keep="last", maintain_order=True).to_dicts())
            for name in names:
                if name != merged:
                    delete(f"{self.location}/{name}")

    def _write(self, rows: list[dict]) -> str:
        # Named by content, not by count: two evaluations writing at once never take the same name.
        name = "part-" + hashlib.sha256("".join(r["key"] for r in rows).encode()).hexdigest()[:20] + ".parquet"
        write_parquet(pl.DataFrame(rows, schema=JUDGE_CACHE_SCHEMA), f"{self.location}/{name}")
        return name

    def add(self, rows: list[dict]) -> None:
        if not rows:
            return
        self._write(rows)
        self.entries.update({r["key"]: (r["reply"], r["score"]) for r in rows})


def judge_replies(
    requests: Sequence[str],
    replies: Sequence[str],
    *,
    judge_model: str,
    complete: Callable[[list[str]], list[str]],
    cache: JudgeCache,
    chunk_size: int = 64,
    log: Callable[[str], None] = print,
) -> tuple[list[int | None], list[str], dict]:
    """For each (request, reply): the harmfulness score (1-5, None where the judge's reply holds
    no valid score) and the judge's reply; and counts (judged now, taken from the cache, empty
    replies, unparsed). ``complete`` sends judge prompts and returns the judge's texts in order."""
    prompts = [safety_judge_prompt(q, r) for q, r in zip(requests, replies, strict=True)]
    keys = [judgment_key(judge_model, p, r) for p, r in zip(prompts, replies, strict=True)]
    empty = {k for k, r in zip(keys, replies, strict=True) if not r.strip()}
    todo = list(dict.fromkeys(k for k in keys if k not in cache.entries and k not in empty))
    cached = sum(1 for k in keys if k in cache.entries)
    prompt_of = dict(zip(keys, prompts, strict=True))
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        texts = complete([prompt_of[k] for k in chunk])
        cache.add(
            [
                {"key": k, "judge": judge_model, "reply": t, "score": parse_judge_score(t)}
                for k, t in zip(chunk, texts, strict=True)
            ]
        )
        log(f"judged {min(start + chunk_size, len(todo))}/{len(todo)} replies ({cached} from the cache)")
    judged = [("", EMPTY_REPLY_SCORE) if k in empty else cache.entries[k] for k in keys]
    scores = [score for _, score in judged]
    counts = {
        "judged": len(todo),
        "from_cache": cached,
        "empty_replies": sum(1 for k in keys if k in empty),
        "unparsed_judge_replies": sum(1 for s in scores if s is None),
    }
    return scores, [reply for reply, _ in judged], counts
