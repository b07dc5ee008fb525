"""MMLU-Pro (hub layout ``TIGER-Lab/MMLU-Pro``, test split of 12,032 questions): items, verdict
and per-category results.

A record has ``question_id``, ``question``, ``options`` (a list of up to 10 option texts),
``answer`` (the correct letter, A-J), ``answer_index`` (its 0-based position), ``cot_content``,
``category`` (one of :data:`CATEGORIES`) and ``src``. Options are shown in the hub's order, as the
benchmark's own protocol does (it does not permute them), without trailing "N/A" padding (which
its harness drops); the seed picks the items only. The reference is ``{"answer": letter,
"options": count, "category": category}`` as JSON; a cell reports the accuracy of each category
beside the headline.

The letter is read as MMLU-Pro's reference harness reads it: the first "answer is (X)", else the
first "Answer: X", then (where the harness falls back to the last letter standing anywhere) the
first boxed letter, the last letter alone in bold, or a leading "X." (``MMLU_PRO_PROTOCOL``). Its
generation stops at "Question:" (the harness's stop sequence; a recipe sets it as the benchmark's
``stop``).
"""

from __future__ import annotations

import json

from workloads.core.prompts import EVAL_CHOICE_INSTRUCTION
from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout
from workloads.evaluation.spec import BenchmarkKind
from workloads.evaluation.tasks.multiple_choice import (
    ChoiceProtocol,
    choice_reference,
    letter_verdict,
    read_choice_reference,
)

LETTERS = "ABCDEFGHIJ"
# What pads a question with fewer options to 10, where a copy of the dataset does so.
PADDING = "N/A"
CATEGORIES = (
    "biology",
    "business",
    "chemistry",
    "computer science",
    "economics",
    "engineering",
    "health",
    "history",
    "law",
    "math",
    "other",
    "philosophy",
    "physics",
    "psychology",
)

# The reference harness's order: "answer is (X)" before "Answer: X", the first of each; its last
# resort, the last capital A-J standing anywhere, is replaced by the forms that state a letter.
MMLU_PRO_PROTOCOL = ChoiceProtocol(
    (
        ("answer-is", "first"),
        ("answer-colon", "first"),
        ("boxed", "first"),
        ("emphasized", "last"),
        ("leading", "first"),
    )
)


def category_metric(category: str) -> str:
    return "accuracy_" + category.replace(" ", "_")


METRICS = ("pass@1", *(category_metric(c) for c in CATEGORIES))


def mmlu_pro_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    items = []
    for rec in records:
        missing = [f for f in ("question_id", "question", "options", "answer", "category") if f not in rec]
        if missing:
            raise BenchmarkDataError(f"{where}: not an MMLU-Pro record, missing {missing}; fields: {sorted(rec)}")
        qid, options, answer = rec["question_id"], list(rec["options"]), str(rec["answer"]).strip()
        while options and str(options[-1]).strip() == PADDING:  # not options: the harness drops them too
            options.pop()
        if not 1 <= len(options) <= len(LETTERS):
            raise BenchmarkDataError(f"{where}: question {qid}: {len(options)} options (1 to {len(LETTERS)} allowed)")
        index = rec.get("answer_index")
        if answer not in LETTERS[: len(options)] or (index is not None and LETTERS[int(index)] != answer):
            raise BenchmarkDataError(
                f"{where}: question {qid}: answer {answer!r} and answer_index {index} disagree "
                f"or fall outside its {len(options)} options"
            )
        category = str(rec["category"]).strip().lower()
        if category not in CATEGORIES:
            raise BenchmarkDataError(
                f"{where}: question {qid}: unknown category {category!r} (known: {', '.join(CATEGORIES)})"
            )
        lines = "\n".join(f"{LETTERS[i]}. {str(text).strip()}" for i, text in enumerate(options))
        prompt = f"{str(rec['question']).strip()}\n\n{lines}\n\n{EVAL_CHOICE_INSTRUCTION}"
        reference = choice_reference(answer, len(options), category=category)
        items.append(Item(f"mmlu-pro-{qid}", prompt, reference))
    return items


def _reference(reference: str) -> tuple[str, str, str] | None:
    """The correct letter, the item's option letters and its category. A reference without an
    option count (written before references carried one) allows A-J, the benchmark's letters."""
    try:
        ref = json.loads(reference)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(ref, dict) or ref.get("category") not in CATEGORIES:
        return None
    letters = read_choice_reference(reference, most=len(LETTERS))
    return None if letters is None else (*letters, ref["category"])


def mmlu_pro_verdict(final: str, reference: str) -> tuple[bool | None, str | None]:
    ref = _reference(reference)
    if ref is None:
        return None, f"reference is not an MMLU-Pro answer: {reference!r}"
    answer, options, _ = ref
    return letter_verdict(final, answer, options, MMLU_PRO_PROTOCOL)


def mmlu_pro_details(final: str, reference: str) -> dict | None:
    """Whether the answer was right, filed under its category's accuracy."""
    ref = _reference(reference)
    correct, _ = mmlu_pro_verdict(final, reference)
    return None if ref is None or correct is None else {category_metric(ref[2]): correct}


# Accuracy over all questions first, then each category's.
KIND = BenchmarkKind(
    "mmlu-pro", load=mmlu_pro_items, verdict=mmlu_pro_verdict, details=mmlu_pro_details, metrics=METRICS
)
