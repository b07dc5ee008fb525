"""Eval cells on small benchmark files and a scripted engine for the request-stream tests: the engine
answers every request with text derived from its prompt and seed, and finishes requests in an
order the test chooses. Run as a script, it evaluates cells in a stream and kills itself (SIGKILL)
once the first finished cell is written (the kill test)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from workloads.programs.inputs import EvalCell

KINDS = {"long": "math", "short": "math", "judged": "safety-judge"}
SAMPLING = {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "max_new_tokens": 16}


def cell_fields(**overrides) -> dict:
    """Every field of an ``EvalCell`` with a plain math benchmark's values; tests override the few
    they are about, so a field added to the model is added here once."""
    fields = {
        "kind": "math",
        "category": "in-domain",
        "n": 1,
        "limit": None,
        "hub_config": None,
        "hub_split": "test",
        "max_new_tokens": None,
        "released_from": None,
        "released_until": None,
        "answer_field": None,
        "answer_format": "plain",
        "label_field": "label",
        "label_values": {"safe": "comply", "unsafe": "refuse"},
        "expected": None,
        "csv_header": True,
        "location": "math/math500.jsonl",
        "definition": "def-math",
        "samples_path": "samples.parquet",
        "table_path": "table.parquet",
    }
    return {**fields, **overrides}


def eval_cell(folder: Path, name: str, kind: str, rows: list[dict], **fields) -> EvalCell:
    data = folder / f"{name}.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    return EvalCell(
        **cell_fields(
            kind=kind,
            location=str(data),
            definition=f"def-{name}",
            samples_path=str(folder / "samples" / f"{name}.parquet"),
            table_path=str(folder / "tables" / f"{name}.parquet"),
            **fields,
        )
    )


def math_rows(count: int, start: int = 0) -> list[dict]:
    return [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(start, start + count)]


def make_cells(folder: Path) -> dict[str, EvalCell]:
    """Three cells of different budgets and sizes; the judged one needs the judge."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "short": eval_cell(folder, "short", "math", math_rows(3), n=2, max_new_tokens=4),
        "long": eval_cell(folder, "long", "math", math_rows(4, 10), n=3, max_new_tokens=12),
        "judged": eval_cell(folder, "judged", "safety-judge", [{"prompt": f"Do harm {i}"} for i in range(2)]),
    }


class Tokenizer:
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True, enable_thinking=True):
        return "<user>" + messages[0]["content"] + "<assistant>"


class ScriptedEngine:
    """Answers ``prompt`` with ``n`` samples; sample j of a request seeded s is the same text in any
    batch. ``finish_order(count) -> indices`` decides the order requests come back in."""

    def __init__(self, finish_order=None, on_yield=None):
        self.finish_order = finish_order or (lambda count: list(range(count)))
        self.on_yield = on_yield
        self.seen: list[list] = []

    def get_tokenizer(self):
        return Tokenizer()

    def stream(self, llm, prompts, params, heartbeat=None):
        self.seen.append(list(params))
        for yielded, i in enumerate(self.finish_order(len(prompts))):
            if self.on_yield is not None:
                self.on_yield(yielded)
            if heartbeat is not None:
                heartbeat()
            yield i, self.answer(prompts[i], params[i])

    def answer(self, prompt, params):
        samples = []
        for j in range(params.n):
            value = prompt.split("What is ")[-1].split(" +")[0] if "What is" in prompt else "no"
            text = f"<think>sample {j} seed {params.seed}</think> \\boxed{{{int(value) * 2 if value.isdigit() else 0}}}"
            tokens = list(range(min(params.max_tokens, 3 + j)))
            samples.append(SimpleNamespace(text=text, token_ids=tokens, finish_reason="stop"))
        return SimpleNamespace(outputs=samples)


def fake_judge(requests, replies):
    return [1] * len(replies), ["#thescore: 1"] * len(replies), {"judged": len(replies)}


def _kill_after_first_cell(folder: Path) -> None:
    """Evaluate the cells (in the engine: judged, long, short), finishing the short cell first; once
    its table is written,
    SIGKILL this process in the middle of the long cell."""
    from workloads.evaluation.stream import evaluate_stream
    from workloads.verification.verify_pool import VerifierPool

    cells = make_cells(folder)
    short = Path(cells["short"].table_path)

    def on_yield(yielded: int) -> None:
        if yielded == 4:  # the 3 short requests are done, and 1 of the long cell's
            deadline = time.monotonic() + 60
            while not short.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)

    engine = ScriptedEngine(finish_order=lambda count: [6, 7, 8, 2, 0, 1, 3, 4, 5], on_yield=on_yield)
    with VerifierPool(workers=1, timeout_s=30) as pool:
        evaluate_stream(
            engine, "r@step-00001", cells, sampling=SAMPLING, seed=0, kinds=KINDS, judge=fake_judge, pool=pool,
            engine_stream=engine.stream,
        )  # fmt: skip


if __name__ == "__main__":
    _kill_after_first_cell(Path(sys.argv[1]))
