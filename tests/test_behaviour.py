"""Reasoning-behaviour measures against hand-labelled responses."""

from __future__ import annotations

import pytest

from workloads.evaluation.behaviour import LEXICON_VERSION, behaviour, repeated_ngram_share

# (response, truncated, hand labels: backtracking / verification / exploration moves in the thinking)
LABELLED = [
    (
        "<think>3 + 5 = 8. Wait, the target is 9. That's wrong. Let me recheck: 4 + 5 = 9.</think>4 + 5 = 9",
        False,
        (3, 0, 0),
    ),
    (
        "<think>x = 4. Let me verify by plugging it back: 2*4 + 1 = 9. Double-check the sign: fine.</think>x = 4",
        False,
        (0, 2, 0),
    ),
    (
        "<think>Try 6 * 4 = 24. Alternatively, 8 * 3 = 24. What if we use division? Another approach is 12 + 12."
        "</think>6 * 4",
        False,
        (0, 0, 3),
    ),
    ("<think>The answer is 12 since 3 times 4 is 12.</think>12", False, (0, 0, 0)),
    # The Countdown search solver's own wording: a dead end and an abandoned branch.
    (
        "<think>\nTry 6 + 4 = 10, leaving 3, 10.\n  Try 3 * 10 = 30: not 24, dead end.\n"
        "  That does not work; backtrack.\nTry 6 * 4 = 24: that is the target.\n</think>\n<answer>6 * 4</answer>",
        False,
        (2, 0, 0),
    ),
    ("The capital is Paris. I waited a long while; the waiter checked nothing.", False, (0, 0, 0)),
]


@pytest.mark.parametrize("response, truncated, labels", LABELLED)
def test_lexicon_counts_match_the_hand_labels(response, truncated, labels):
    from workloads.core.text import split_reasoning

    split = split_reasoning(response)
    words = len((split.reasoning or split.final).split())
    got = behaviour(response, truncated)
    counts = tuple(round(got[f"{m}_per_1k"] * words / 1000) for m in ("backtracking", "verification", "exploration"))
    assert counts == labels


def test_a_truncated_response_that_repeats_itself_loops():
    loop = "<think>" + "so we add 3 and then we subtract 3 and get back " * 60
    got = behaviour(loop, truncated=True)
    assert got["looping"] == 1.0 and got["repeated_ngram_share"] > 0.9
    assert behaviour(loop, truncated=False)["looping"] == 0.0  # finished: long-winded, not looping
    varied = "<think>" + " ".join(f"step {i} gives {i * i}" for i in range(200))
    assert behaviour(varied, truncated=True)["looping"] == 0.0


def test_the_thinking_share_splits_the_words():
    assert behaviour("<think>one two three</think>four", False)["thinking_share"] == 0.75
    assert behaviour("no thinking at all", False)["thinking_share"] == 0.0


@pytest.mark.parametrize(
    "words, share", [("a b c d e f g h".split(), 0.0), (("a b c d " * 4).split(), 5 / 9), (["a"] * 3, 0.0)]
)
def test_repeated_ngram_share(words, share):
    assert repeated_ngram_share(words) == pytest.approx(share)


def test_the_lexicon_is_versioned():
    assert LEXICON_VERSION.startswith("behaviour-lexicon-")


def test_the_measures_reach_the_eval_table_the_curves_and_the_comparison():
    import polars as pl

    from workloads.analysis.dynamics import comparison_table, curves
    from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize

    def sample(step: int, response: str) -> dict:
        return {
            "checkpoint": f"s__countdown-cot@step-{step:05d}",
            "benchmark": "math500",
            "item_id": "q1",
            "sample_idx": 0,
            "response": response,
            "score": 1.0,
            "tokens": 10,
            "truncated": False,
            "think_closed": True,
            "details": None,
        }

    plain = "<think>two plus two is four.</think>4"
    backtracks = "<think>two plus two is five. Wait, that's wrong. It is four.</think>4"
    samples = pl.DataFrame([sample(0, plain), sample(10, backtracks)], schema=EVAL_SAMPLE_SCHEMA)
    table = summarize(samples, {"math500": "math"})
    rates = dict(zip(table["checkpoint"], table["backtracking_per_1k"], strict=True))
    assert rates["s__countdown-cot@step-00000"] == 0.0
    assert rates["s__countdown-cot@step-00010"] == pytest.approx(1 / 11 * 1000)  # one move in 11 words
    curve = curves(table)
    assert curve["backtracking_per_1k"].to_list() == table["backtracking_per_1k"].to_list()
    row = comparison_table(curve).row(0, named=True)
    assert row["backtracking_per_1k_base"] == 0.0 and row["backtracking_per_1k_final"] > 50
    assert row["thinking_share_final"] == pytest.approx(11 / 12)

    from workloads.analysis.dynamics import behaviour_transfer

    transfer = behaviour_transfer(comparison_table(curve), {"math500": "out-of-domain"}).row(0, named=True)
    assert transfer["category"] == "out-of-domain" and transfer["score_gain"] == 0.0
    assert transfer["backtracking_per_1k_change"] == pytest.approx(1 / 11 * 1000)
    assert transfer["mean_tokens_change"] == 0.0
