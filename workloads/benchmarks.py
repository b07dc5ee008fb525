"""Evaluation benchmarks: loaders that turn a benchmark file (or hub id) into items with a
prompt and a reference the registered scorer understands."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workloads.prompts import EVAL_CHOICE_INSTRUCTION, EVAL_MATH_INSTRUCTION
from workloads.queries import read_records
from workloads.text import gsm8k_final_answer

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    item_id: str
    prompt: str
    reference: str


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _first_present(record: dict, names: tuple[str, ...], where: str) -> object:
    for name in names:
        if record.get(name) is not None:
            return record[name]
    raise KeyError(f"{where}: none of the fields {names} present; fields: {sorted(record)}")


def math_items(records: list[dict], where: str) -> list[Item]:
    items = []
    for rec in records:
        problem = str(_first_present(rec, ("problem", "question"), where))
        answer = str(_first_present(rec, ("answer", "gt_answer"), where))
        if "####" in answer:  # GSM8K keeps the solution; the answer follows ####
            answer = gsm8k_final_answer(answer) or answer
        if answer.endswith(".0") and answer[:-2].lstrip("-").isdigit():  # AMC23 stores 27 as "27.0"
            answer = answer[:-2]
        items.append(Item(_stable_id(problem), f"{problem}\n\n{EVAL_MATH_INSTRUCTION}", answer))
    return items


def option_order(question: str, count: int, seed: int) -> list[int]:
    """A permutation of option indices that depends only on the question text and the seed."""
    digest = hashlib.sha256(f"{seed}\n{question}".encode()).digest()
    order = list(range(count))
    random.Random(digest).shuffle(order)
    return order


def choice_items(records: list[dict], where: str, seed: int) -> list[Item]:
    """TruthfulQA-style records: ``question`` and ``mc1_targets`` (option text -> 1 if correct)."""
    items = []
    for rec in records:
        question = str(_first_present(rec, ("question",), where))
        targets = _first_present(rec, ("mc1_targets",), where)
        if isinstance(targets, dict) and set(targets) == {"choices", "labels"}:  # the hub's layout
            options = list(zip(targets["choices"], targets["labels"]))
        else:
            options = list(targets.items())
        order = option_order(question, len(options), seed)
        shown = [options[i] for i in order]
        correct = [LETTERS[i] for i, (_, label) in enumerate(shown) if label == 1]
        lines = "\n".join(f"{LETTERS[i]}. {text}" for i, (text, _) in enumerate(shown))
        prompt = f"{question}\n\n{lines}\n\n{EVAL_CHOICE_INSTRUCTION}"
        items.append(Item(_stable_id(question), prompt, correct[0] if len(correct) == 1 else ""))
    return items


def _records(location: str, hub_config: str | None, hub_split: str) -> list[dict]:
    """Records as plain dicts. Local JSON is parsed per record, not as a table: a table would merge
    the option keys of all questions (``mc1_targets`` maps option text to 0/1) into one schema."""
    if location.startswith("hub:") or location.endswith(".parquet"):
        return read_records(location, hub_split=hub_split, hub_config=hub_config).to_dicts()
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records")
    return data


def benchmark_questions(location: str, *, hub_config: str | None = None, hub_split: str = "test") -> list[str]:
    """The question text of every item (for decontamination), whatever the benchmark kind."""
    return [str(_first_present(r, ("problem", "question"), location)) for r in _records(location, hub_config, hub_split)]


def load_benchmark(
    location: str, kind: str, *, limit: int | None, seed: int, hub_config: str | None = None, hub_split: str = "test"
) -> list[Item]:
    """The first ``limit`` items after a seeded shuffle, so a small slice is still a fair sample."""
    records = _records(location, hub_config, hub_split)
    rng = random.Random(seed)
    rng.shuffle(records)
    if limit is not None:
        records = records[:limit]
    if kind == "math":
        return math_items(records, location)
    if kind == "multiple-choice":
        return choice_items(records, location, seed)
    raise ValueError(f"unknown benchmark kind {kind!r}")


def items_table(items: list[Item]) -> pl.DataFrame:
    return pl.DataFrame([vars(i) for i in items], schema={"item_id": pl.String, "prompt": pl.String, "reference": pl.String})
