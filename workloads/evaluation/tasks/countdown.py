"""Held-out Countdown tasks, checked by the Countdown rule (``workloads.verification.countdown_rule``)."""

from __future__ import annotations

import json

from workloads.evaluation.items import (
    DEFAULT_LAYOUT,
    BenchmarkDataError,
    Item,
    Layout,
    first_present,
    integer_field,
    stable_id,
)
from workloads.evaluation.spec import BenchmarkKind
from workloads.verification.countdown_rule import countdown_prompt, score_countdown


def countdown_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Held-out Countdown tasks (``nums``, ``target``) in the training prompt's wording; the
    reference is ``{"nums": [...], "target": N}`` as JSON."""
    items = []
    for rec in records:
        raw_nums = first_present(rec, ("nums",), where)
        if isinstance(raw_nums, (str, bytes)) or not hasattr(raw_nums, "__iter__"):
            raise BenchmarkDataError(f"{where}: field 'nums' is not a list of numbers: {raw_nums!r}")
        nums = [integer_field(n, where, "nums", minimum=1) for n in raw_nums]
        if not nums:
            raise BenchmarkDataError(f"{where}: field 'nums' is empty")
        target = integer_field(first_present(rec, ("target",), where), where, "target", minimum=0)
        prompt = countdown_prompt(nums, target)
        items.append(Item(stable_id(prompt), prompt, json.dumps({"nums": nums, "target": target})))
    return items


def countdown_verdict(final: str, reference: dict | str) -> tuple[bool | None, str | None]:
    """The Countdown rule. The reference is the task (``nums``, ``target``) as a mapping, or as the
    JSON string an evaluation item carries."""
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except json.JSONDecodeError:
            return None, "reference is not a Countdown task"
    if not isinstance(reference, dict):
        return None, "reference is not a Countdown task"
    nums, target = reference.get("nums"), reference.get("target")
    if not nums or target is None:
        return None, "task without numbers or target"
    try:
        nums, target = [int(n) for n in nums], int(target)
    except (TypeError, ValueError):
        return None, "task numbers or target not integers"
    return score_countdown(final, nums, target)  # linear extraction, equation capped: no cut needed


KIND = BenchmarkKind("countdown", load=countdown_items, verdict=countdown_verdict, verifier="countdown-rule")
