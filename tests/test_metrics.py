"""Unit tests for workloads/evaluation/metrics.py: the metrics of eval cells and the bootstrap CI."""

import json
import math
import random

import polars as pl
import pytest

from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, bootstrap_ci, summarize

KINDS = {
    "bench": "math",
    "math": "math",
    "gsm8k": "math",
    "harm": "safety-judge",
    "ifeval": "ifeval",
    "xstest": "refusal",
}


def _sample(
    item,
    idx,
    score,
    *,
    checkpoint="run@step-00000",
    benchmark="bench",
    tokens=10,
    truncated=False,
    think_closed=True,
    details=None,
):
    return {
        "checkpoint": checkpoint,
        "benchmark": benchmark,
        "item_id": item,
        "sample_idx": idx,
        "response": "",
        "score": score,
        "tokens": tokens,
        "truncated": truncated,
        "think_closed": think_closed,
        "details": json.dumps(details) if details is not None else None,
    }


def _frame(rows):
    return pl.DataFrame(rows, schema=EVAL_SAMPLE_SCHEMA)


def test_pass_at_1_averages_samples_within_item_then_items():
    # item a: 4 samples, 1 correct (0.25); item b: 1 sample, correct (1.0).
    # Per item then over items: (0.25 + 1.0) / 2 = 0.625; a flat mean over samples would be 0.4.
    rows = [_sample("a", i, s) for i, s in enumerate([1.0, 0.0, 0.0, 0.0])] + [_sample("b", 0, 1.0)]
    row = summarize(_frame(rows), KINDS).row(0, named=True)
    assert row["metric"] == "pass@1"
    assert row["mean"] == pytest.approx(0.625)
    assert row["items"] == 2 and row["samples"] == 5 and row["unjudgeable"] == 0


def test_one_row_per_checkpoint_and_benchmark_in_input_order():
    rows = [
        _sample("a", 0, 1.0, checkpoint="r@step-00002", benchmark="math"),
        _sample("a", 0, 0.0, checkpoint="r@step-00002", benchmark="gsm8k"),
        _sample("a", 0, 0.0, checkpoint="r@step-00000", benchmark="math"),
        _sample("b", 0, 1.0, checkpoint="r@step-00002", benchmark="math"),
    ]
    out = summarize(_frame(rows), KINDS)
    assert out.select("checkpoint", "benchmark", "mean").rows() == [
        ("r@step-00002", "math", 1.0),
        ("r@step-00002", "gsm8k", 0.0),
        ("r@step-00000", "math", 0.0),
    ]


def _varied_rows(items=40, samples=4, seed=3):
    rng = random.Random(seed)
    rows = []
    for i in range(items):
        p = rng.random()
        rows += [_sample(f"i{i:03d}", s, float(rng.random() < p)) for s in range(samples)]
    return rows


def test_ci_brackets_the_mean():
    row = summarize(_frame(_varied_rows()), KINDS).row(0, named=True)
    assert 0.0 <= row["ci_low"] < row["mean"] < row["ci_high"] <= 1.0


@pytest.mark.parametrize(
    "flags, truncation_rate, unclosed_rate",
    [
        ([(False, True)] * 4, 0.0, 0.0),
        ([(True, False), (False, True), (False, True), (False, True)], 0.25, 0.25),
        ([(True, False), (True, False), (False, False), (False, True)], 0.5, 0.75),
    ],
)
def test_truncation_and_unclosed_thinking_rates_are_over_samples(flags, truncation_rate, unclosed_rate):
    rows = [
        _sample(f"i{k % 2}", k, 1.0, tokens=10 * (k + 1), truncated=t, think_closed=c) for k, (t, c) in enumerate(flags)
    ]
    row = summarize(_frame(rows), KINDS).row(0, named=True)
    assert row["truncation_rate"] == pytest.approx(truncation_rate)
    assert row["unclosed_thinking_rate"] == pytest.approx(unclosed_rate)
    assert row["mean_tokens"] == pytest.approx(25.0)  # (10 + 20 + 30 + 40) / 4


def test_unjudgeable_samples_are_counted_not_scored_wrong():
    rows = [_sample("a", 0, 1.0), _sample("a", 1, None), _sample("b", 0, None), _sample("c", 0, 0.0)]
    row = summarize(_frame(rows), KINDS).row(0, named=True)
    assert row["unjudgeable"] == 2
    assert row["items"] == 2  # b has no judged sample
    assert row["mean"] == pytest.approx(0.5)  # a: 1.0, c: 0.0; a's null sample does not count as 0
    assert row["samples"] == 4


def test_all_unjudgeable_gives_no_mean_or_ci():
    row = summarize(_frame([_sample("a", 0, None), _sample("b", 0, None)]), KINDS).row(0, named=True)
    assert (row["mean"], row["ci_low"], row["ci_high"], row["items"], row["unjudgeable"]) == (None, None, None, 0, 2)


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_bootstrap_ci_is_deterministic_for_a_seed(seed):
    rng = random.Random(5)
    values = [rng.random() for _ in range(30)]
    assert len(set(values)) == 30
    assert bootstrap_ci(values, seed=seed) == bootstrap_ci(values, seed=seed)


def test_bootstrap_ci_depends_on_the_seed():
    values = [float(i % 3 == 0) for i in range(50)]
    assert len({bootstrap_ci(values, seed=s) for s in range(5)}) > 1


@pytest.mark.parametrize(
    "values, expected",
    [
        ([0.7], (0.7, 0.7)),
        ([1.0, 1.0, 1.0], (1.0, 1.0)),
        ([0.0] * 10, (0.0, 0.0)),
    ],
    ids=["single_value", "all_ones", "all_zeros"],
)
def test_bootstrap_ci_of_constant_values_is_a_point(values, expected):
    assert bootstrap_ci(values) == pytest.approx(expected)


def test_bootstrap_ci_of_nothing_is_nan():
    lo, hi = bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_bootstrap_ci_is_ordered_and_widens_with_level(level):
    values = [float(i % 4 == 0) for i in range(40)]
    lo, hi = bootstrap_ci(values, level=level)
    wide_lo, wide_hi = bootstrap_ci(values, level=0.999)
    assert min(values) <= wide_lo <= lo <= sum(values) / len(values) <= hi <= wide_hi <= max(values)


def test_summarize_ci_is_reproducible_for_a_seed():
    frame = _frame(_varied_rows(items=200, samples=2, seed=1))
    cis = {summarize(frame, KINDS, seed=0).select("ci_low", "ci_high").row(0) for _ in range(20)}
    assert len(cis) == 1


def _by_metric(table):
    return {r["metric"]: r for r in table.iter_rows(named=True)}


def test_judged_cells_report_harmfulness_rate_first_and_the_mean_judge_score():
    # item a: scores 5 and 1 (harmful in half its samples); item b: 3; item c: unparsed judge reply.
    rows = [
        _sample("a", 0, 5.0, benchmark="harm"),
        _sample("a", 1, 1.0, benchmark="harm"),
        _sample("b", 0, 3.0, benchmark="harm"),
        _sample("c", 0, None, benchmark="harm"),
    ]
    table = summarize(_frame(rows), KINDS)
    assert table["metric"].to_list() == ["harmfulness_rate", "judge_score"]
    assert table["headline"].to_list() == [True, False]
    got = _by_metric(table)
    assert got["harmfulness_rate"]["mean"] == pytest.approx((0.5 + 0.0) / 2)
    assert got["judge_score"]["mean"] == pytest.approx((3.0 + 3.0) / 2)
    assert got["judge_score"]["unjudgeable"] == 1 and got["judge_score"]["items"] == 2


def test_ifeval_reports_prompt_level_per_prompt_and_instruction_level_pooled_over_instructions():
    # Prompt p1 has 3 instructions (strict: 1 followed; loose: 3), p2 has 1 (strict and loose: followed).
    p1 = {
        "prompt_level_strict_acc": False,
        "inst_level_strict_acc": [True, False, False],
        "prompt_level_loose_acc": True,
        "inst_level_loose_acc": [True, True, True],
    }
    p2 = {
        "prompt_level_strict_acc": True,
        "inst_level_strict_acc": [True],
        "prompt_level_loose_acc": True,
        "inst_level_loose_acc": [True],
    }
    rows = [
        _sample("p1", 0, 0.0, benchmark="ifeval", details=p1),
        _sample("p2", 0, 1.0, benchmark="ifeval", details=p2),
    ]
    got = _by_metric(summarize(_frame(rows), KINDS))
    assert got["prompt_level_strict_acc"]["mean"] == pytest.approx(0.5)
    assert got["prompt_level_loose_acc"]["mean"] == pytest.approx(1.0)
    assert got["inst_level_strict_acc"]["mean"] == pytest.approx(2 / 4)  # not (1/3 + 1) / 2
    assert got["inst_level_loose_acc"]["mean"] == pytest.approx(1.0)
    assert got["prompt_level_strict_acc"]["headline"] and not got["inst_level_strict_acc"]["headline"]


def test_refusal_cells_split_over_refusal_of_safe_prompts_from_refusal_of_unsafe_ones():
    rows = [
        _sample("safe1", 0, 0.0, benchmark="xstest", details={"over_refusal_rate": True}),
        _sample("safe2", 0, 1.0, benchmark="xstest", details={"over_refusal_rate": False}),
        _sample("unsafe1", 0, 1.0, benchmark="xstest", details={"refusal_rate": True}),
    ]
    got = _by_metric(summarize(_frame(rows), KINDS))
    assert got["pass@1"]["mean"] == pytest.approx(2 / 3)
    assert got["over_refusal_rate"]["mean"] == pytest.approx(0.5)
    assert got["refusal_rate"]["mean"] == pytest.approx(1.0)


def test_weighted_bootstrap_resamples_items_but_weighs_them():
    values, weights = [1.0, 0.0], [3.0, 1.0]
    lo, hi = bootstrap_ci(values, weights=weights, seed=0)
    assert lo == 0.0 and hi == 1.0  # a resample may hold either item alone
    assert bootstrap_ci([0.5] * 5, weights=[1, 2, 3, 4, 5]) == pytest.approx((0.5, 0.5))
