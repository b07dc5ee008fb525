"""Multiple choice with lettered options (GPQA-Diamond, TruthfulQA MC1): options shown in a seeded
per-question order, and the chosen letter read from the final text.

What counts as the chosen letter is the kind's protocol (:class:`ChoiceProtocol`): which forms of
statement are read, in which precedence, and whether the first or the last statement of a form
counts. Only letters among the item's options are ever returned, so an item's reference carries its
option count (:func:`choice_reference`)."""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Literal, NamedTuple

from workloads.core.prompts import EVAL_CHOICE_INSTRUCTION
from workloads.evaluation.items import (
    DEFAULT_LAYOUT,
    LETTERS,
    BenchmarkDataError,
    Item,
    Layout,
    first_present,
    stable_id,
)
from workloads.evaluation.scoring import MAX_SCORED_CHARS, final_tail
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


def choice_reference(answer: str, options: int, **more) -> str:
    """An item's reference: the correct letter and how many options the item shows (the letters a
    response may choose among), as JSON, with any further fields a kind keeps."""
    return json.dumps({"answer": answer, "options": options, **more})


def choice_items(records: list[dict], where: str, seed: int, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Multiple choice, options shown in a seeded per-question order with letters. Two layouts:
    TruthfulQA (``question``, ``mc1_targets``: option text -> 1 if correct) and GPQA (``Question``,
    ``Correct Answer``, ``Incorrect Answer 1..3``). The reference is the correct letter and the
    option count (:func:`choice_reference`), or "" when not exactly one option is correct."""
    items = []
    for rec in records:
        question, options = _choice_options(rec, where)
        if len(options) > len(LETTERS):
            raise BenchmarkDataError(f"{where}: {len(options)} options, more than the {len(LETTERS)} letters A-Z")
        order = option_order(question, len(options), seed)
        shown = [options[i] for i in order]
        correct = [LETTERS[i] for i, (_, label) in enumerate(shown) if label == 1]
        lines = "\n".join(f"{LETTERS[i]}. {text}" for i, (text, _) in enumerate(shown))
        prompt = f"{question}\n\n{lines}\n\n{EVAL_CHOICE_INSTRUCTION}"
        reference = choice_reference(correct[0], len(shown)) if len(correct) == 1 else ""
        items.append(Item(stable_id(question), prompt, reference))
    return items


# A chosen letter: a capital standing alone. "I" followed by an apostrophe or a lowercase word is the
# pronoun ("Answer: I think it is B", "I'm"), not option I, unless that word cannot follow the
# pronoun ("The answer is I because ...").
_NOT_AFTER_PRONOUN = r"(?:because|since|as|is|and|or|but|which|so|for|from|of|in|on|with)\b"
_LETTER = r"(?!I\s+(?!" + _NOT_AFTER_PRONOUN + r")[a-z]|I')(?P<letter>[A-Z])(?![\w'])"

# Only a phrase that states an answer counts: "answer" followed by "is" or a colon ("The answer is
# (B)", "Answer: B", "The final answer is: option B"). "answer" alone before a letter does not
# ("The original answer H is incorrect" says nothing about H being chosen).
# Before the letter: "option"/"choice", and LaTeX wrapping ("$(B)$", "$\\text{B}$").
_OPTION_WORD = r"(?:(?i:option|choice)\s*)?(?:\$\s*)?(?:\\text(?:bf)?\{\s*)?[(\[]?\s*"
_FORMS = {
    "answer-is": re.compile(r"\b(?i:answer)\s+(?i:is)\s*:?\s*" + _OPTION_WORD + _LETTER),
    "answer-colon": re.compile(r"\b(?i:answer)\s*:\s*" + _OPTION_WORD + _LETTER),
    "boxed": re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{\s*)?\(?(?P<letter>[A-Z])\)?\s*\}(?:\s*\})?"),
    # A bold or italic span holding only a letter: "**B**", "**(B)**", "*B.*", "__B__".
    "emphasized": re.compile(r"(?P<mark>\*{1,2}|_{1,2})\s*\(?(?P<letter>[A-Z])\)?[.:)]?\s*(?P=mark)(?![\w*])"),
    # A response that opens with "B." or "(B)" (how small models answer a lettered list).
    "leading": re.compile(r"\A\s*\(?(?P<letter>[A-Z])[.)]\s"),
}
# The stated forms are read with markdown emphasis removed ("The answer is **B**", "**Answer:** B").
_READ_WITHOUT_EMPHASIS = frozenset({"answer-is", "answer-colon"})
_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}")


class ChoiceProtocol(NamedTuple):
    """How a kind reads the chosen letter: the forms of statement, most trusted first (a later form
    is read only when no earlier one names an option), each with which of its matches counts when a
    response has several (``first`` or ``last``). A stated answer counts first, as the reference
    harnesses take it: a model's answer to the question comes before anything it writes after it
    (a base model goes on to invent and answer new questions); ``last`` would favour
    self-corrections. A letter alone in bold is no statement, only a fallback: the last counts, as
    the harnesses' own fallback takes the last letter (a response that weighs the options in bold
    ends on the one it picks)."""

    forms: tuple[tuple[str, Literal["first", "last"]], ...]


_STATED_FIRST = (("answer-is", "first"), ("answer-colon", "first"))
_FALLBACKS = (("emphasized", "last"), ("leading", "first"))

# GPQA's baseline harness and OpenAI's simple-evals take the first "answer is (X)" / "Answer: X";
# this study's prompt asks for a boxed letter, so the first boxed letter is trusted above both.
CHOICE_PROTOCOL = ChoiceProtocol((("boxed", "first"), *_STATED_FIRST, *_FALLBACKS))


def scored_text(final: str, pick: str) -> str:
    """The bounded part of a final text a verdict reads: the first whole lines within
    ``MAX_SCORED_CHARS`` when the first answer counts, else the last (``final_tail``)."""
    if pick == "last":
        return final_tail(final)
    if len(final) <= MAX_SCORED_CHARS:
        return final
    head = final[:MAX_SCORED_CHARS]
    line = head.rfind("\n")
    return head[:line] if line >= 0 else ""


def choice_letter(final: str, options: str = LETTERS, protocol: ChoiceProtocol = CHOICE_PROTOCOL) -> str | None:
    """The chosen option among ``options`` (the item's letters), read by ``protocol``; None when the
    response states none of them. A statement naming a letter outside the options is not an answer."""
    text = scored_text(final, protocol.forms[0][1])  # bounded where the most trusted form is read
    plain = _EMPHASIS.sub("", text)
    for form, pick in protocol.forms:
        found = [
            m.group("letter")
            for m in _FORMS[form].finditer(plain if form in _READ_WITHOUT_EMPHASIS else text)
            if m.group("letter") in options
        ]
        if found:
            return found[0] if pick == "first" else found[-1]
    return None


def read_choice_reference(reference: object, most: int = len(LETTERS)) -> tuple[str, str] | None:
    """The correct letter and the item's option letters from a reference: :func:`choice_reference`'s
    JSON, or a bare letter (references written before they carried the option count; every letter
    up to the ``most`` the benchmark can show is then an option). None when it is neither, or its
    answer is not among its options."""
    if isinstance(reference, str) and re.fullmatch(r"[A-Z]", reference):
        answer, count = reference, most
    else:
        try:
            ref = json.loads(reference) if isinstance(reference, str) else None
        except json.JSONDecodeError:
            return None
        if not isinstance(ref, dict):
            return None
        answer, count = ref.get("answer"), ref.get("options", most)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= most:
            return None
    options = LETTERS[:count]
    return (answer, options) if isinstance(answer, str) and len(answer) == 1 and answer in options else None


def letter_verdict(final: str, answer: str, options: str, protocol: ChoiceProtocol) -> tuple[bool, str | None]:
    chosen = choice_letter(final, options, protocol)
    if chosen is None:
        return False, "no option letter"
    return chosen == answer, None


def choice_verdict(final: str, reference: str) -> tuple[bool | None, str | None]:
    ref = read_choice_reference(reference)
    if ref is None:
        return None, f"reference is not an option letter: {reference!r}"
    return letter_verdict(final, *ref, CHOICE_PROTOCOL)


KIND = BenchmarkKind("multiple-choice", load=choice_items, verdict=choice_verdict)
