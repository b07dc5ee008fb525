"""Multiple choice with lettered options (GPQA-Diamond, TruthfulQA MC1): options shown in a seeded
per-question order, and the chosen letter read from the final text."""

from __future__ import annotations

import hashlib
import random
import re

from workloads.core.prompts import EVAL_CHOICE_INSTRUCTION
from workloads.evaluation.items import DEFAULT_LAYOUT, LETTERS, Item, Layout, first_present, stable_id
from workloads.evaluation.scoring import final_tail
from workloads.evaluation.spec import BenchmarkKind


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
        question = str(first_present(rec, ("Question",), where)).strip()
        options = [(str(rec["Correct Answer"]).strip(), 1)]
        for name in GPQA_INCORRECT:
            options.append((str(first_present(rec, (name,), where)).strip(), 0))
        return question, options
    question = str(first_present(rec, ("question",), where))
    targets = first_present(rec, ("mc1_targets",), where)
    if isinstance(targets, dict) and set(targets) == {"choices", "labels"}:  # the hub's layout
        return question, list(zip(targets["choices"], targets["labels"], strict=True))
    return question, list(targets.items())


def choice_items(records: list[dict], where: str, seed: int, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
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
        items.append(Item(stable_id(question), prompt, correct[0] if len(correct) == 1 else ""))
    return items


_BOXED_LETTER = re.compile(r"\\boxed\{\s*\(?([A-Z])\)?\s*\}")


# "Answer: B", "answer is (B)", "The final answer is: B". "I" followed by a lowercase word or an
# apostrophe is the pronoun ("Answer: I think it is B", "I'm"), not option I.
_STATED_LETTER = re.compile(r"(?i:answer)(?:\s+is)?\s*:?\s*\(?(?!I\s+[a-z]|I')([A-Z])(?![\w'])")


# A bold or italic span holding only a letter: "**B**", "**(B)**", "*B.*", "__B__".
_EMPHASIZED_LETTER = re.compile(r"(\*{1,2}|_{1,2})\s*\(?([A-Z])\)?[.:)]?\s*\1(?![\w*])")


_LEADING_LETTER = re.compile(r"^\s*\(?([A-Z])[.)]\s")


_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}")


def choice_letter(final: str) -> str | None:
    """The chosen option: the last boxed letter; else the last stated one ("answer is X", "Answer:
    X", markdown emphasis ignored: "The answer is **B**", "**Answer: B**"); else the last letter
    standing alone in bold or italics ("**B**"); else a response that opens with "X." or "(X)" (how
    small models answer a lettered list)."""
    final = final_tail(final)
    found = _BOXED_LETTER.findall(final) or _STATED_LETTER.findall(_EMPHASIS.sub("", final))
    if found:
        return found[-1]
    emphasized = _EMPHASIZED_LETTER.findall(final)
    if emphasized:
        return emphasized[-1][1]
    leading = _LEADING_LETTER.match(final)
    return leading.group(1) if leading else None


def choice_verdict(final: str, letter: str) -> tuple[bool | None, str | None]:
    if not re.fullmatch(r"[A-Z]", letter or ""):
        return None, f"reference is not an option letter: {letter!r}"
    chosen = choice_letter(final)
    if chosen is None:
        return False, "no option letter"
    return chosen == letter, None


KIND = BenchmarkKind("multiple-choice", load=choice_items, verdict=choice_verdict)
