"""Tests for workloads/verification/verify_pool.py: verdicts in worker processes under a hard time limit.

Workers import their verdict functions by name, so the misbehaving ones (a verdict that hangs, one
that kills its own process, one that raises) live in verify_pool_helpers, and the pools that need
them are pointed at ``TEST_REGISTRY``.
"""

import time

import polars as pl
import pytest
import verify_pool_helpers

from workloads.evaluation.registry import VERDICTS
from workloads.programs.verify import verify_traces
from workloads.verification.verify_pool import CRASHED, TIMEOUT, VerifierPool

TEST_REGISTRY = f"{verify_pool_helpers.__name__}:TEST_VERDICTS"

LIMIT_S = 2.0  # the limit where a test is about the limit
# How late past the limit a kill may come: the parent's wake-up on a loaded two-core machine.
KILL_SLACK_S = 1.0
# Far below the hanging verdict's 60 s: proof that nobody waited for it, even on a busy machine
# where starting a replacement worker takes seconds.
BATCH_BOUND_S = 25.0
GENEROUS_S = 30.0  # the limit where a test is about anything else: never reached, costs nothing

MIXED_ITEMS = [
    ("math", "\\boxed{72}", "72"),
    ("math", "\\boxed{0.5}", "\\frac{1}{2}"),
    ("math", "\\boxed{71}", "72"),
    ("math", "I don't know.", "72"),
    ("math", "", "3"),
    ("countdown", "<answer>(1 + 2) * 3</answer>", {"nums": [1, 2, 3], "target": 9}),
    ("countdown", "<answer>1 + 2 + 3</answer>", {"nums": [1, 2, 3], "target": 9}),
    ("multiple-choice", "\\boxed{B}", "B"),
    ("multiple-choice", "\\boxed{C}", "B"),
    ("math", "So it is \\boxed{\\frac{\\sqrt{3}}{2}}.", "\\frac{\\sqrt{3}}{2}"),
    ("math", "\\boxed{(1,2]}", "(1,2]"),
    ("math", "\\boxed{1,000}", "1000"),
]


def columns(items):
    kinds, finals, references = zip(*items, strict=True)
    return list(kinds), list(finals), list(references)


def sequential(items):
    return [VERDICTS[kind](final, reference) for kind, final, reference in items]


def test_results_come_back_in_input_order_and_equal_sequential_verdicts():
    items = MIXED_ITEMS * 3
    with VerifierPool(workers=2, timeout_s=GENEROUS_S) as pool:
        assert pool.verdicts(*columns(items)) == sequential(items)


def test_hanging_item_times_out_and_later_items_are_still_verified():
    items = [MIXED_ITEMS[0], ("hang", "", None), *MIXED_ITEMS[1:4]]
    with VerifierPool(workers=1, timeout_s=LIMIT_S, registry=TEST_REGISTRY) as pool:
        began = time.monotonic()
        results = pool.verdicts(*columns(items))
        elapsed = time.monotonic() - began
    assert results[1] == (None, TIMEOUT)
    assert LIMIT_S <= pool.item_seconds[1] < LIMIT_S + KILL_SLACK_S
    assert results[:1] + results[2:] == sequential(items[:1] + items[2:])
    assert elapsed < BATCH_BOUND_S


def test_crashing_worker_costs_only_its_item():
    items = [MIXED_ITEMS[0], ("crash", "", None), *MIXED_ITEMS[1:4], ("crash", "", None), MIXED_ITEMS[7]]
    with VerifierPool(workers=1, timeout_s=LIMIT_S, registry=TEST_REGISTRY) as pool:
        results = pool.verdicts(*columns(items))
    assert results[1] == results[5] == (None, CRASHED)
    kept = [0, 2, 3, 4, 6]
    assert [results[i] for i in kept] == sequential([items[i] for i in kept])


def test_exception_in_verdict_function_becomes_verifier_error():
    with VerifierPool(workers=1, timeout_s=GENEROUS_S, registry=TEST_REGISTRY) as pool:
        results = pool.verdicts(*columns([("raise", "", None), MIXED_ITEMS[0]]))
    assert results == [(None, "verifier error: ZeroDivisionError: boom"), (True, None)]


@pytest.mark.parametrize("gold", ["", "\\boxed{", "$$", "\\text{}"])
def test_unparsable_gold_is_unjudgeable_never_wrong(gold):
    with VerifierPool(workers=1, timeout_s=GENEROUS_S) as pool:
        results = pool.verdicts(["math", "math"], ["\\boxed{72}", ""], [gold, gold])
    assert results == [(None, "gold answer unparsable")] * 2


ADVERSARIAL = {
    "power_tower": "\\boxed{9^{9^{9^{9}}}}",
    "nested_fraction_5000_deep": "\\boxed{" + "\\frac{1}{1+" * 5000 + "1" + "}" * 5000 + "}",
    "huge_exponent": "\\boxed{10^{10^{10}}}",
    "factorial_of_huge": "\\boxed{(10^{10})!}",
}


def test_adversarial_math_inputs_get_a_verdict_within_the_limit():
    names = list(ADVERSARIAL)
    with VerifierPool(workers=2, timeout_s=LIMIT_S) as pool:
        pool.verdicts(*columns(MIXED_ITEMS[:2]))
        began = time.monotonic()
        results = pool.verdicts(["math"] * len(names), [ADVERSARIAL[name] for name in names], ["1"] * len(names))
        elapsed = time.monotonic() - began
    for name, (correct, _), seconds in zip(names, results, pool.item_seconds, strict=True):
        assert correct is not True, name
        assert seconds < LIMIT_S + KILL_SLACK_S, name
    assert elapsed < BATCH_BOUND_S


def test_hanging_and_crashing_items_among_many_leave_no_item_unanswered():
    items = MIXED_ITEMS[:6] + [("hang", "", None), ("crash", "", None)] + MIXED_ITEMS[6:]
    with VerifierPool(workers=2, timeout_s=LIMIT_S, registry=TEST_REGISTRY) as pool:
        results = pool.verdicts(*columns(items))
        # The pool keeps working after replacing workers.
        again = pool.verdicts(*columns(MIXED_ITEMS))
    assert results[6:8] == [(None, TIMEOUT), (None, CRASHED)]
    assert results[:6] + results[8:] == sequential(MIXED_ITEMS)
    assert again == sequential(MIXED_ITEMS)


def test_unknown_kind_and_length_mismatch_are_rejected_before_any_work():
    with VerifierPool(workers=1) as pool:
        with pytest.raises(ValueError, match="no verdict function"):
            pool.verdicts(["math", "astrology"], ["", ""], ["1", "1"])
        with pytest.raises(ValueError, match="lengths differ"):
            pool.verdicts(["math"], ["", ""], ["1"])
        assert pool.verdicts([], [], []) == []


def test_verify_traces_runs_through_the_pool_and_keeps_unparsable_gold_null():
    queries = pl.DataFrame(
        {
            "query_id": ["q1", "q2", "q3"],
            "source": ["gsm", "gsm", "cd"],
            "answer": ["72", "", None],
            "nums": [None, None, [1, 2, 3]],
            "target": [None, None, 9],
        }
    )
    traces = pl.DataFrame(
        {
            "query_id": ["q1", "q1", "q2", "q3"],
            "sample_idx": [0, 1, 0, 0],
            "final": ["\\boxed{72}", "\\boxed{71}", "\\boxed{72}", "<answer>(1 + 2) * 3</answer>"],
        }
    )
    verdicts = verify_traces(traces, queries, {"gsm": "math", "cd": "countdown"}, workers=2, timeout_s=GENEROUS_S)
    assert verdicts["correct"].to_list() == [True, False, None, True]
    assert verdicts["error"].to_list() == [None, None, "gold answer unparsable", None]
