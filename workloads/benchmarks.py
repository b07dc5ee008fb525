"""Evaluation benchmarks: loaders that turn a benchmark file (or hub id) into items with a
prompt and a reference the registered scorer understands (a string: structured references are
JSON). One loader per benchmark kind, in :data:`LOADERS`."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workloads.countdown import countdown_prompt
from workloads.livecodebench import in_window, livecodebench_items
from workloads.mmlu_pro import mmlu_pro_items
from workloads.prompts import (
    EVAL_CHOICE_INSTRUCTION,
    EVAL_MATH_INSTRUCTION,
    halueval_dialogue_prompt,
    halueval_general_prompt,
    halueval_qa_prompt,
    halueval_summarization_prompt,
)
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


GPQA_INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def _choice_options(rec: dict, where: str) -> tuple[str, list[tuple[str, int]]]:
    """The question and its options as (text, 1 if correct else 0), in the file's order."""
    if "Correct Answer" in rec:  # GPQA's hub layout: the correct option first, then the three others
        question = str(_first_present(rec, ("Question",), where)).strip()
        options = [(str(rec["Correct Answer"]).strip(), 1)]
        for name in GPQA_INCORRECT:
            options.append((str(_first_present(rec, (name,), where)).strip(), 0))
        return question, options
    question = str(_first_present(rec, ("question",), where))
    targets = _first_present(rec, ("mc1_targets",), where)
    if isinstance(targets, dict) and set(targets) == {"choices", "labels"}:  # the hub's layout
        return question, list(zip(targets["choices"], targets["labels"]))
    return question, list(targets.items())


def choice_items(records: list[dict], where: str, seed: int) -> list[Item]:
    """Multiple choice, options shown in a seeded per-question order with letters. Two layouts:
    TruthfulQA (``question``, ``mc1_targets``: option text -> 1 if correct) and GPQA (``Question``,
    ``Correct Answer``, ``Incorrect Answer 1..3``). The reference is the correct letter, or "" when
    not exactly one option is correct."""
    items = []
    for rec in records:
        question, options = _choice_options(rec, where)
        order = option_order(question, len(options), seed)
        shown = [options[i] for i in order]
        correct = [LETTERS[i] for i, (_, label) in enumerate(shown) if label == 1]
        lines = "\n".join(f"{LETTERS[i]}. {text}" for i, (text, _) in enumerate(shown))
        prompt = f"{question}\n\n{lines}\n\n{EVAL_CHOICE_INSTRUCTION}"
        items.append(Item(_stable_id(question), prompt, correct[0] if len(correct) == 1 else ""))
    return items


def _paired_items(rec: dict, where: str, kind: str, fields: tuple[str, str], prompt) -> list[Item]:
    """The right text -> "No" and the hallucinated one -> "Yes", next to each other."""
    items = []
    for field, label in zip(fields, ("No", "Yes")):
        text = str(_first_present(rec, (field,), where))
        items.append(Item(_stable_id(f"halueval-{kind}", prompt(text), field), prompt(text), label))
    return items


def yes_no_items(records: list[dict], where: str, seed: int = 0) -> list[Item]:
    """HaluEval as Yes/No judgments of "does this contain hallucinated information?". A QA record
    (``knowledge``, ``question``, ``right_answer``, ``hallucinated_answer``), a dialogue record
    (``knowledge``, ``dialogue_history``, ``right_response``, ``hallucinated_response``) and a
    summarization record (``document``, ``right_summary``, ``hallucinated_summary``) each give two
    items, right -> "No" and hallucinated -> "Yes", next to each other; a general record
    (``user_query``, ``chatgpt_response``, ``hallucination`` yes/no) gives one."""
    items = []
    for rec in records:
        if "right_response" in rec or "hallucinated_response" in rec:
            knowledge = str(_first_present(rec, ("knowledge",), where))
            dialogue = str(_first_present(rec, ("dialogue_history",), where))
            items += _paired_items(rec, where, "dialogue", ("right_response", "hallucinated_response"),
                                   lambda text: halueval_dialogue_prompt(knowledge, dialogue, text))
        elif "right_summary" in rec or "hallucinated_summary" in rec:
            document = str(_first_present(rec, ("document",), where))
            items += _paired_items(rec, where, "summarization", ("right_summary", "hallucinated_summary"),
                                   lambda text: halueval_summarization_prompt(document, text))
        elif "right_answer" in rec or "hallucinated_answer" in rec:
            knowledge = str(_first_present(rec, ("knowledge",), where))
            question = str(_first_present(rec, ("question",), where))
            for field, label in (("right_answer", "No"), ("hallucinated_answer", "Yes")):
                answer = str(_first_present(rec, (field,), where))
                prompt = halueval_qa_prompt(knowledge, question, answer)
                items.append(Item(_stable_id("halueval-qa", question, field, answer), prompt, label))
        elif "chatgpt_response" in rec:
            query = str(_first_present(rec, ("user_query",), where))
            response = str(rec["chatgpt_response"])
            flag = str(_first_present(rec, ("hallucination",), where)).strip().lower()
            label = {"yes": "Yes", "no": "No"}.get(flag, "")  # anything else: unjudgeable
            prompt = halueval_general_prompt(query, response)
            items.append(Item(_stable_id("halueval-general", query, response), prompt, label))
        else:
            raise KeyError(
                f"{where}: not a HaluEval record (QA: right_answer/hallucinated_answer; dialogue: "
                f"right_response/hallucinated_response; summarization: right_summary/hallucinated_summary; "
                f"general: chatgpt_response); fields: {sorted(rec)}"
            )
    return items


# Which column holds the prompt of each safety benchmark, and what a model should do with it.
SAFETY_PROMPT_FIELDS = ("prompt", "goal", "forbidden_prompt")  # XSTest, AdvBench, StrongREJECT
XSTEST_EXPECTED = {"safe": "comply", "unsafe": "refuse"}


def _safety_prompt(rec: dict, where: str) -> str:
    return str(_first_present(rec, SAFETY_PROMPT_FIELDS, where))


def refusal_items(records: list[dict], where: str, seed: int = 0) -> list[Item]:
    """Prompts as they are, with the behaviour expected: XSTest (``prompt``, ``label``) "comply"
    for safe and "refuse" for unsafe prompts; AdvBench (``goal``) and StrongREJECT
    (``forbidden_prompt``) always "refuse". An XSTest label other than safe/unsafe: reference ""."""
    items = []
    for rec in records:
        prompt = _safety_prompt(rec, where)
        if "label" in rec and "prompt" in rec:
            expected = XSTEST_EXPECTED.get(str(rec["label"]).strip().lower(), "")
        else:
            expected = "refuse"
        items.append(Item(_stable_id(prompt), prompt, expected))
    return items


def harmful_items(records: list[dict], where: str, seed: int = 0) -> list[Item]:
    """Prompts for a harmfulness judge: AdvBench (``goal``), StrongREJECT (``forbidden_prompt``) or
    any file with a ``prompt`` column, reference "harmful"; XSTest's safe prompts (``label`` safe)
    are "benign"."""
    items = []
    for rec in records:
        prompt = _safety_prompt(rec, where)
        benign = "label" in rec and XSTEST_EXPECTED.get(str(rec["label"]).strip().lower()) == "comply"
        items.append(Item(_stable_id(prompt), prompt, "benign" if benign else "harmful"))
    return items


def ifeval_items(records: list[dict], where: str, seed: int = 0) -> list[Item]:
    """IFEval (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``): the prompt as it is; the
    reference is the record as JSON, which the checkers need whole."""
    items = []
    for rec in records:
        prompt = str(_first_present(rec, ("prompt",), where))
        ids = list(_first_present(rec, ("instruction_id_list",), where))
        kwargs = list(_first_present(rec, ("kwargs",), where))
        if len(ids) != len(kwargs):
            raise ValueError(f"{where}: IFEval key {rec.get('key')}: {len(ids)} instructions but {len(kwargs)} kwargs")
        reference = {"key": rec.get("key"), "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}
        items.append(Item(_stable_id(prompt), prompt, json.dumps(reference, sort_keys=True)))
    return items


def countdown_items(records: list[dict], where: str, seed: int = 0) -> list[Item]:
    """Held-out Countdown tasks (``nums``, ``target``) in the training prompt's wording; the
    reference is ``{"nums": [...], "target": N}`` as JSON."""
    items = []
    for rec in records:
        nums = [int(n) for n in _first_present(rec, ("nums",), where)]
        target = int(_first_present(rec, ("target",), where))
        prompt = countdown_prompt(nums, target)
        items.append(Item(_stable_id(prompt), prompt, json.dumps({"nums": nums, "target": target})))
    return items


def _records(location: str, hub_config: str | None, hub_split: str) -> list[dict]:
    """Records as plain dicts (.jsonl, .json list, .csv, .parquet or a hub id). Local JSON is parsed
    per record, not as a table: a table would merge the option keys of all questions
    (``mc1_targets`` maps option text to 0/1) into one schema."""
    if location.startswith("hub:") or location.endswith(".parquet"):
        return read_records(location, hub_split=hub_split, hub_config=hub_config).to_dicts()
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".csv":  # every cell as text, as written
        return pl.read_csv(path, infer_schema=False).to_dicts()
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records")
    return data


# The text of an item that a training query could copy, by the field names of each layout.
QUESTION_FIELDS = ("problem", "question", "Question", "prompt", "goal", "forbidden_prompt", "user_query")


def benchmark_questions(location: str, *, hub_config: str | None = None, hub_split: str = "test") -> list[str]:
    """The question text of every item (for decontamination), whatever the benchmark kind.
    Countdown tasks (``nums``, ``target``) give none: every Countdown prompt is the same template
    around a few numbers, so n-gram overlap would flag every training task."""
    texts = []
    for rec in _records(location, hub_config, hub_split):
        if "nums" in rec and "target" in rec and not any(rec.get(f) is not None for f in QUESTION_FIELDS):
            continue
        texts.append(str(_first_present(rec, QUESTION_FIELDS, location)))
    return texts


ItemBuilder = Callable[[list[dict], str, int], list[Item]]

LOADERS: dict[str, ItemBuilder] = {
    "math": lambda records, where, seed: math_items(records, where),
    "multiple-choice": choice_items,
    "yes-no": yes_no_items,
    "refusal": refusal_items,
    "ifeval": ifeval_items,
    "countdown": countdown_items,
    "mmlu-pro": mmlu_pro_items,
    "livecodebench": livecodebench_items,
    # Items for the harmfulness judge (workloads.judge scores them, not a scorer).
    "safety-judge": harmful_items,
}


def load_benchmark(
    location: str, kind: str, *, limit: int | None, seed: int, hub_config: str | None = None, hub_split: str = "test",
    released_from: str | None = None, released_until: str | None = None,
) -> list[Item]:
    """The first ``limit`` items after a seeded shuffle of the records, so a small slice is still a
    fair sample. A record that gives two items (HaluEval QA) keeps them next to each other, so an
    even limit takes whole pairs. ``released_from``/``released_until`` (ISO dates) keep the records
    whose ``contest_date`` lies in that window (LiveCodeBench is split by release date)."""
    if kind not in LOADERS:
        raise ValueError(f"unknown benchmark kind {kind!r} (known: {', '.join(LOADERS)})")
    records = _records(location, hub_config, hub_split)
    if released_from or released_until:
        records = in_window(records, location, released_from, released_until)
    rng = random.Random(seed)
    rng.shuffle(records)
    if limit is not None:
        records = records[:limit]  # no record gives fewer than one item
    items = LOADERS[kind](records, location, seed)
    return items if limit is None else items[:limit]


def items_table(items: list[Item]) -> pl.DataFrame:
    return pl.DataFrame([vars(i) for i in items], schema={"item_id": pl.String, "prompt": pl.String, "reference": pl.String})
