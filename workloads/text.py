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
        text = stripped[len(THINK_OPEN):]
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


def strip_gsm8k_calculator(solution: str) -> str:
    """GSM8K solutions carry calculator annotations like ``<<48/2=24>>``; readers don't need them."""
    return re.sub(r"<<[^>]*>>", "", solution)
