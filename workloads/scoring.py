"""Scorers: pure functions ``(completions, references) -> list[float | None]``, in a registry.

A completion is the final part of a response (text after ``</think>``). ``None`` means the
reference itself can't be parsed, so the item can't be judged: it is counted, never "wrong".
Each scorer has a verdict twin returning ``(correct, error)`` for the verdicts table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from workloads.countdown import score_countdown

MATH_VERIFIER = "math-verify"


def _math_verify_version() -> str:
    from importlib.metadata import version

    return version("math-verify")


def _parse_gold(gold: str):
    from math_verify import parse

    return parse(gold if "$" in gold or "\\boxed" in gold else f"${gold}$")


def gold_parsable(gold: str) -> bool:
    """Whether math-verify can read a gold answer at all (queries without one are dropped)."""
    return bool(gold) and bool(_parse_gold(gold))


def math_verdict(final: str, gold: str) -> tuple[bool | None, str | None]:
    """math-verify on the final text against the gold answer (wrapped as LaTeX math)."""
    from math_verify import parse, verify

    parsed_gold = _parse_gold(gold)
    if not parsed_gold:
        return None, "gold answer unparsable"
    if not final.strip():
        return False, "no final answer"
    parsed = parse(final)
    if not parsed:
        return False, "no parsable answer"
    return bool(verify(parsed_gold, parsed)), None


def countdown_verdict(final: str, reference: dict) -> tuple[bool | None, str | None]:
    nums, target = reference.get("nums"), reference.get("target")
    if not nums or target is None:
        return None, "task without numbers or target"
    return score_countdown(final, list(nums), int(target))


_BOXED_LETTER = re.compile(r"\\boxed\{\s*\(?([A-Z])\)?\s*\}")
# "I" followed by a lowercase word is the pronoun ("Answer: I think it is B"), not option I.
_STATED_LETTER = re.compile(r"(?:answer is|Answer:)\s*\(?(?!I\s+[a-z])([A-Z])\b")
_LEADING_LETTER = re.compile(r"^\s*\(?([A-Z])[.)]\s")


def choice_letter(final: str) -> str | None:
    """The chosen option: the last boxed letter, else the last "answer is X", else a response
    that opens with "X." or "(X)" (how small models answer a lettered list)."""
    for pattern in (_BOXED_LETTER, _STATED_LETTER):
        found = pattern.findall(final)
        if found:
            return found[-1]
    leading = _LEADING_LETTER.match(final)
    return leading.group(1) if leading else None


def choice_verdict(final: str, letter: str) -> tuple[bool | None, str | None]:
    if not re.fullmatch(r"[A-Z]", letter or ""):
        return None, f"reference is not an option letter: {letter!r}"
    chosen = choice_letter(final)
    if chosen is None:
        return False, "no option letter"
    return chosen == letter, None


Verdict = Callable[[str, object], tuple[bool | None, str | None]]

VERDICTS: dict[str, Verdict] = {
    "math": math_verdict,
    "countdown": countdown_verdict,
    "multiple-choice": choice_verdict,
}


def _as_scorer(verdict: Verdict) -> Callable[[Sequence[str], Sequence[object]], list[float | None]]:
    def scorer(completions: Sequence[str], references: Sequence[object]) -> list[float | None]:
        scores = []
        for completion, reference in zip(completions, references, strict=True):
            correct, _ = verdict(completion, reference)
            scores.append(None if correct is None else float(correct))
        return scores

    scorer.__name__ = verdict.__name__.replace("verdict", "score")
    return scorer


SCORERS = {name: _as_scorer(verdict) for name, verdict in VERDICTS.items()}


def verifier_version(kind: str) -> str:
    if kind == "math":
        return f"{MATH_VERIFIER}=={_math_verify_version()}"
    if kind == "countdown":
        from workloads.countdown import SOLVER_VERSION

        return f"countdown-rule=={SOLVER_VERSION}"
    return f"{kind}==1"
