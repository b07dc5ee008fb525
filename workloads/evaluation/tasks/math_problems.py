"""Math word problems with a final answer (MATH-500, AIME, AMC, GSM8K): items, and math-verify's
verdict on the final text against the gold answer."""

from __future__ import annotations

import logging

from workloads.core.prompts import EVAL_MATH_INSTRUCTION
from workloads.core.text import extract_answer, gsm8k_final_answer
from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout, first_present, stable_id
from workloads.evaluation.scoring import final_tail
from workloads.evaluation.spec import BenchmarkKind

MATH_VERIFIER = "math-verify"


# How much of one math-verify log message reaches the logs: on a parsing timeout it logs its whole
# input, one line of up to MAX_SCORED_CHARS per item.
MAX_LOGGED_CHARS = 300


class _CappedMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LOGGED_CHARS:
            record.msg, record.args = f"{message[:MAX_LOGGED_CHARS]}... [{len(message)} characters]", None
        return True


def cap_math_verify_logs() -> None:
    """Cap math-verify's log messages (a logger's filter sees only that logger's own records, so
    each of its modules' loggers gets one)."""
    for name in ("math_verify.parser", "math_verify.grader", "math_verify.metric", "math_verify.utils"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _CappedMessages) for f in logger.filters):
            logger.addFilter(_CappedMessages())


cap_math_verify_logs()


def _parse_gold(gold: str):
    from math_verify import parse

    gold = gold.strip()  # "2x\n" wrapped as "$2x\n$" would parse as 2
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
    parsed = parse(final_tail(final))
    if not parsed:
        return False, "no parsable answer"
    return bool(verify(parsed_gold, parsed)), None


def math_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    items = []
    for rec in records:
        problem = str(first_present(rec, ("problem", "question"), where))
        names = (layout.answer_field,) if layout.answer_field else ("answer", "gt_answer")
        raw = first_present(rec, names, where)
        try:
            answer = extract_answer(raw, layout.answer_format)
        except TypeError as err:
            raise BenchmarkDataError(f"{where}: field {names[0]!r}: {err}") from None
        if answer is None:
            shown = str(raw)[:80]
            raise BenchmarkDataError(f"{where}: no {layout.answer_format} answer in field {names[0]!r}: {shown!r}")
        if layout.answer_format == "plain" and "####" in answer:  # GSM8K keeps the solution; the answer follows ####
            answer = gsm8k_final_answer(answer) or answer
        if answer.endswith(".0") and answer[:-2].lstrip("-").isdigit():  # AMC23 stores 27 as "27.0"
            answer = answer[:-2]
        items.append(Item(stable_id(problem), f"{problem}\n\n{EVAL_MATH_INSTRUCTION}", answer))
    return items


KIND = BenchmarkKind("math", load=math_items, verdict=math_verdict, verifier=MATH_VERIFIER, libraries=(MATH_VERIFIER,))
