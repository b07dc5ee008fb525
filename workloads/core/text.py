"""Splitting responses into thinking and final answer, and finding the answer in the final part.

One rule everywhere: the final answer is the text after the first ``</think>``. A response that
opened a thinking block and never closed it has no final answer: its whole text is reasoning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class SplitResponse:
    reasoning: str
    final: str
    think_closed: bool


def split_reasoning(response: str, *, opened_in_prompt: bool = False) -> SplitResponse:
    """Split a completion into (reasoning, final, think_closed).

    ``opened_in_prompt`` says the prompt already ended with ``<think>`` (a thinking prefill), so the
    completion starts inside the thinking block even though it carries no opening tag.
    """
    text = response
    stripped = text.lstrip()
    inside = opened_in_prompt
    if stripped.startswith(THINK_OPEN):
        text = stripped[len(THINK_OPEN) :]
        inside = True
    if THINK_CLOSE in text:
        reasoning, final = text.split(THINK_CLOSE, 1)
        return SplitResponse(reasoning.strip(), final.strip(), True)
    if inside:
        return SplitResponse(text.strip(), "", False)
    # No thinking block at all: the whole completion is the answer.
    return SplitResponse("", text.strip(), False)


def join_reasoning(reasoning: str, final: str) -> str:
    """The assistant message a CoT training example carries: thinking kept in the target."""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n{final}"


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:].removeprefix("\\boxed").removeprefix("\\fbox")
    if not rest.lstrip().startswith("{"):
        # \boxed 5: a box around the single token that follows
        token = rest.split()
        return token[0] if token else None
    i = text.find("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


_GSM8K_ANSWER = re.compile(r"####\s*([^#\n]+)")


def gsm8k_final_answer(solution: str) -> str | None:
    """The number after the last ``####`` of a GSM8K-style solution, thousands commas removed."""
    found = _GSM8K_ANSWER.findall(solution)
    answer = found[-1].replace(",", "").strip() if found else ""
    return answer or None


# Where a source keeps a gold answer: the field itself, a GSM8K solution ending in "#### answer",
# the first element of a list field (``final_answer: ["…"]``), or the last ``\\boxed{}`` of a
# solution field.
ANSWER_FORMATS = ("plain", "gsm8k", "first", "last-boxed")


def extract_answer(value: object, answer_format: str) -> str | None:
    """The gold answer in a field's value, by ``answer_format`` (one of :data:`ANSWER_FORMATS`),
    whitespace stripped; None when the value holds none (null, empty list, no box)."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer_format {answer_format!r} (known: {', '.join(ANSWER_FORMATS)})")
    if value is None:
        return None
    if answer_format == "first":
        if isinstance(value, str) or not hasattr(value, "__len__"):
            raise TypeError(f"expected a list of answers, got {type(value).__name__}: {str(value)[:80]!r}")
        value = value[0] if len(value) else None
        if value is None:
            return None
    # A gold answer is text or a number; a list or mapping here is a layout mistake, not an answer.
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"expected a text or number answer, got {type(value).__name__}: {str(value)[:80]!r}")
    text = str(value)
    if answer_format == "gsm8k":
        text = gsm8k_final_answer(text) or ""
    elif answer_format == "last-boxed":
        text = last_boxed(text) or ""
    return text.strip() or None


def strip_gsm8k_calculator(solution: str) -> str:
    """GSM8K solutions carry calculator annotations like ``<<48/2=24>>``; readers don't need them."""
    return re.sub(r"<<[^>]*>>", "", solution)
