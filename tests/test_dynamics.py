"""Unit tests for workloads/analysis/dynamics.py: curves per run and the dip-and-recovery numbers."""

import polars as pl
import pytest

from workloads.analysis.dynamics import curves, dip_and_recovery, dynamics_summary, under_optimized_warnings


@pytest.mark.parametrize(
    "steps, scores, expected",
    [
        pytest.param(
            [0, 10, 20, 30, 40],
            [0.5, 0.3, 0.2, 0.4, 0.6],
            {
                "base": 0.5,
                "min": 0.2,
                "min_step": 20,
                "dipped": True,
                "recovery_step": 40,
                "final_gain": 0.1,
                "final_step": 40,
            },
            id="dip_then_recovery",
        ),
        pytest.param(
            [0, 10, 20, 30],
            [0.5, 0.2, 0.3, 0.5],
            {
                "base": 0.5,
                "min": 0.2,
                "min_step": 10,
                "dipped": True,
                "recovery_step": 30,
                "final_gain": 0.0,
                "final_step": 30,
            },
            id="recovery_at_exactly_base_counts",
        ),
        pytest.param(
            [0, 10, 20, 30],
            [0.5, 0.2, 0.3, 0.4],
            {
                "base": 0.5,
                "min": 0.2,
                "min_step": 10,
                "dipped": True,
                "recovery_step": None,
                "final_gain": -0.1,
                "final_step": 30,
            },
            id="dip_never_recovered",
        ),
        pytest.param(
            [0, 10, 20, 30],
            [0.5, 0.6, 0.7, 0.8],
            {
                "base": 0.5,
                "min": 0.6,
                "min_step": 10,
                "dipped": False,
                "recovery_step": None,
                "final_gain": 0.3,
                "final_step": 30,
            },
            id="monotone_rise_never_dips",
        ),
        pytest.param(
            [0, 10, 20, 30, 40],
            [0.5, 0.1, 0.6, 0.1, 0.3],
            {
                "base": 0.5,
                "min": 0.1,
                "min_step": 10,
                "dipped": True,
                "recovery_step": 20,
                "final_gain": -0.2,
                "final_step": 40,
            },
            id="tied_minimum_takes_the_earliest_step",
        ),
        pytest.param(
            [0, 10, 20],
            [0.5, 0.6, 0.5],
            {
                "base": 0.5,
                "min": 0.5,
                "min_step": 20,
                "dipped": False,
                "recovery_step": None,
                "final_gain": 0.0,
                "final_step": 20,
            },
            id="falling_back_to_base_is_not_a_dip",
        ),
        pytest.param(
            [0],
            [0.4],
            {
                "base": 0.4,
                "min": 0.4,
                "min_step": 0,
                "dipped": False,
                "recovery_step": None,
                "final_gain": 0.0,
                "final_step": 0,
            },
            id="base_only",
        ),
    ],
)
def test_dip_and_recovery(steps, scores, expected):
    got = dip_and_recovery(steps, scores)
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value), key
        else:
            assert got[key] == value, key


@pytest.mark.parametrize(
    "steps, scores",
    [([10, 20], [0.5, 0.6]), ([], []), ([5], [0.1])],
    ids=["starts_at_step_10", "empty_curve", "single_nonzero_step"],
)
def test_dip_and_recovery_requires_curve_starting_at_step_0(steps, scores):
    with pytest.raises(ValueError, match="starts at step 0"):
        dip_and_recovery(steps, scores)


def _table(rows):
    return pl.DataFrame(
        [
            {
                "checkpoint": c,
                "benchmark": b,
                "metric": metric,
                "headline": True,
                "mean": m,
                "ci_low": m - 0.1,
                "ci_high": m + 0.1,
                "mean_tokens": t,
                "truncation_rate": 0.0,
            }
            for c, b, m, t, metric in (row if len(row) == 5 else (*row, "pass@1") for row in rows)
        ]
    )


def test_curves_parse_run_and_step_from_checkpoint_keys_and_sort():
    table = _table(
        [
            ("smollm2-135m__countdown-cot@step-00040", "math", 0.4, 100.0),
            ("smollm2-135m__countdown-cot@step-00000", "math", 0.2, 50.0),
            ("qwen__math-cot@step-00010", "math", 0.3, 70.0),
            ("smollm2-135m__countdown-cot@step-00008", "gsm8k", 0.1, 60.0),
            ("smollm2-135m__countdown-cot@step-00010", "math", 0.1, 80.0),
        ]
    )
    out = curves(table)
    assert out.columns == [
        "run",
        "step",
        "benchmark",
        "metric",
        "headline",
        "mean",
        "ci_low",
        "ci_high",
        "mean_tokens",
        "truncation_rate",
    ]
    assert out["step"].dtype == pl.Int64
    assert out.select("run", "step", "benchmark").rows() == [
        ("qwen__math-cot", 10, "math"),
        ("smollm2-135m__countdown-cot", 8, "gsm8k"),
        ("smollm2-135m__countdown-cot", 0, "math"),
        ("smollm2-135m__countdown-cot", 10, "math"),
        ("smollm2-135m__countdown-cot", 40, "math"),
    ]
    assert out.filter(pl.col("step") == 40)["mean"].to_list() == [0.4]


def _curve(rows):
    return pl.DataFrame(
        [
            {"run": r, "step": s, "benchmark": b, "metric": "pass@1", "headline": True, "mean": m, "mean_tokens": t}
            for r, s, b, m, t in rows
        ],
        schema={
            "run": pl.String,
            "step": pl.Int64,
            "benchmark": pl.String,
            "metric": pl.String,
            "headline": pl.Boolean,
            "mean": pl.Float64,
            "mean_tokens": pl.Float64,
        },
    )


def test_dynamics_summary_flags_still_in_dip_and_length_still_rising():
    curve = _curve(
        [
            # run a / math: dipped, not back yet; tokens still rising
            ("a", 20, "math", 0.3, 300.0),
            ("a", 0, "math", 0.5, 100.0),
            ("a", 10, "math", 0.2, 200.0),
            # run a / gsm8k: dipped and recovered; tokens fell at the end
            ("a", 0, "gsm8k", 0.5, 100.0),
            ("a", 10, "gsm8k", 0.4, 300.0),
            ("a", 20, "gsm8k", 0.6, 200.0),
            # run b / math: never dipped; tokens flat
            ("b", 0, "math", 0.5, 100.0),
            ("b", 10, "math", 0.7, 100.0),
        ]
    )
    out = {(r["run"], r["benchmark"]): r for r in dynamics_summary(curve).iter_rows(named=True)}
    assert set(out) == {("a", "math"), ("a", "gsm8k"), ("b", "math")}
    a_math, a_gsm8k, b_math = out["a", "math"], out["a", "gsm8k"], out["b", "math"]
    assert (a_math["dipped"], a_math["recovery_step"], a_math["still_in_dip"]) == (True, None, True)
    assert a_math["min_step"] == 10 and a_math["length_still_rising"] is True
    assert (a_gsm8k["dipped"], a_gsm8k["recovery_step"], a_gsm8k["still_in_dip"]) == (True, 20, False)
    assert a_gsm8k["length_still_rising"] is False
    assert (b_math["dipped"], b_math["still_in_dip"], b_math["length_still_rising"]) == (False, False, False)


def test_under_optimized_warnings_name_each_unsettled_curve_and_why():
    curve = _curve(
        [
            ("a", 0, "math", 0.5, 100.0),
            ("a", 10, "math", 0.2, 200.0),
            ("a", 20, "math", 0.3, 300.0),
            ("b", 0, "math", 0.5, 100.0),
            ("b", 10, "math", 0.7, 100.0),
        ]
    )
    assert under_optimized_warnings(dynamics_summary(curve)) == ["a / math: still in the dip and length still rising"]


def test_dynamics_summary_skips_runs_without_a_base_evaluation():
    curve = _curve([("a", 10, "math", 0.3, 1.0), ("a", 20, "math", 0.4, 2.0), ("b", 0, "math", 0.5, 1.0)])
    out = dynamics_summary(curve)
    assert out["run"].to_list() == ["b"]
    row = out.row(0, named=True)
    assert (row["dipped"], row["still_in_dip"], row["length_still_rising"]) == (False, False, False)


def _samples(rows):
    """(checkpoint, benchmark, item_id, score) rows."""
    return pl.DataFrame(
        rows,
        schema={"checkpoint": pl.String, "benchmark": pl.String, "item_id": pl.String, "score": pl.Float64},
        orient="row",
    )


def test_paired_gain_compares_the_same_items_only():
    from workloads.analysis.dynamics import paired_gain

    samples = _samples(
        [
            ("r@step-00000", "m", "a", 1.0),
            ("r@step-00000", "m", "b", 0.0),
            ("r@step-00000", "m", "c", 0.0),
            ("r@step-00010", "m", "a", 1.0),
            ("r@step-00010", "m", "b", 1.0),
            ("r@step-00010", "m", "c", 1.0),
            ("r@step-00010", "m", "only-after", 0.0),
        ]
    )
    got = paired_gain(samples, "r@step-00000", "r@step-00010", benchmark="m")
    assert got["paired_items"] == 3
    assert got["gain"] == pytest.approx(2 / 3)
    assert got["gain_ci_low"] <= got["gain"] <= got["gain_ci_high"]


def test_a_dip_is_significant_only_when_its_interval_is_below_zero():
    from workloads.analysis.dynamics import with_intervals

    items = [f"i{k}" for k in range(30)]
    rows = [("r@step-00000", "m", i, 1.0) for i in items]
    rows += [("r@step-00010", "m", i, 0.0) for i in items]  # every item lost: a real dip
    rows += [("r@step-00020", "m", i, 1.0) for i in items]
    curve = curves(
        _table([("r@step-00000", "m", 1.0, 10.0), ("r@step-00010", "m", 0.0, 10.0), ("r@step-00020", "m", 1.0, 10.0)])
    )
    got = with_intervals(dynamics_summary(curve), curve, _samples(rows)).row(0, named=True)
    assert got["dip_significant"] is True and got["dip_ci_high"] < 0
    assert got["final_gain_ci_low"] == got["final_gain_ci_high"] == 0.0
    # Every resampled curve dips at step 10 and is back at step 20.
    assert (got["recovery_step_ci_low"], got["recovery_step_ci_high"], got["recovery_support"]) == (20, 20, 1.0)
    assert (got["base_ci_low"], got["base_ci_high"], got["min_ci_low"], got["min_ci_high"]) == (1.0, 1.0, 0.0, 0.0)


def _curve_samples(final_scores):
    """30 items: all right at step 0, all wrong at step 10, ``final_scores`` at step 20."""
    items = [f"i{k:02d}" for k in range(30)]
    rows = [("r@step-00000", "m", i, 1.0) for i in items] + [("r@step-00010", "m", i, 0.0) for i in items]
    return _samples(rows + [("r@step-00020", "m", i, v) for i, v in zip(items, final_scores, strict=True)])


@pytest.mark.parametrize(
    "final_scores, support",
    [
        pytest.param([1.0] * 30, (1.0, 1.0), id="back_for_sure"),
        pytest.param([1.0] * 18 + [0.0] * 12, (0.0, 0.0), id="still_below_base_in_every_resample"),
        # Back only when the one failing item is not drawn: (29/30)^30, about 0.36 of resamples.
        pytest.param([1.0] * 29 + [0.0], (0.25, 0.5), id="back_in_some_resamples"),
    ],
)
def test_recovery_support_is_the_share_of_resampled_curves_that_came_back(final_scores, support):
    from workloads.analysis.dynamics import curve_intervals

    got = curve_intervals(_curve_samples(final_scores), "r", "m", [0, 10, 20])
    assert support[0] <= got["recovery_support"] <= support[1]
    if got["recovery_support"] == 0.0:
        assert got["recovery_step_ci_low"] is None and got["recovery_step_ci_high"] is None


def test_curve_intervals_use_only_items_answered_at_every_step():
    from workloads.analysis.dynamics import curve_intervals

    rows = [
        ("r@step-00000", "m", "a", 1.0),
        ("r@step-00010", "m", "a", 1.0),
        ("r@step-00000", "m", "b", 0.0),
    ]  # b has no answer at step 10: left out
    got = curve_intervals(_samples(rows), "r", "m", [0, 10])
    assert (got["base_ci_low"], got["base_ci_high"]) == (1.0, 1.0)
    assert curve_intervals(_samples(rows[2:]), "r", "m", [0, 10])["base_ci_low"] is None


def test_comparison_and_reasoning_vs_safety_tables_line_up_runs():
    from workloads.analysis.dynamics import comparison_table, reasoning_vs_safety

    curve = curves(
        _table(
            [
                ("s1__math-cot@step-00000", "math500", 0.2, 10.0),
                ("s1__math-cot@step-00010", "math500", 0.5, 10.0),
                ("s1__math-cot@step-00000", "harm", 0.1, 10.0, "harmfulness_rate"),
                ("s1__math-cot@step-00010", "harm", 0.4, 10.0, "harmfulness_rate"),
                ("s1__reference@step-00000", "math500", 0.2, 10.0),
                ("s1__reference@step-00010", "math500", 0.1, 10.0),
            ]
        )
    )
    comparison = comparison_table(curve)
    cot = comparison.filter((pl.col("dataset") == "math-cot") & (pl.col("benchmark") == "math500")).row(0, named=True)
    assert (cot["student"], cot["base"], cot["final"], cot["gain"]) == ("s1", 0.2, 0.5, pytest.approx(0.3))
    harm = comparison.filter(pl.col("benchmark") == "harm").row(0, named=True)
    assert harm["lower_is_better"] is True and not cot["lower_is_better"]
    table = reasoning_vs_safety(comparison, {"math500": "reasoning", "harm": "safety"})
    by_dataset = {r["dataset"]: r for r in table.iter_rows(named=True)}
    assert by_dataset["math-cot"]["reasoning_gain"] == pytest.approx(0.3)
    assert by_dataset["math-cot"]["harmfulness_rate_change"] == pytest.approx(0.3)
    assert by_dataset["reference"]["reasoning_gain"] == pytest.approx(-0.1)
    assert by_dataset["reference"]["harmfulness_rate_change"] is None


def test_dip_and_recovery_leaves_out_metrics_where_lower_is_better():
    curve = curves(
        _table(
            [
                ("r@step-00000", "harm", 0.1, 10.0, "harmfulness_rate"),
                ("r@step-00010", "harm", 0.4, 10.0, "harmfulness_rate"),
                ("r@step-00000", "math", 0.5, 10.0),
                ("r@step-00010", "math", 0.3, 10.0),
            ]
        )
    )
    assert dynamics_summary(curve)["benchmark"].to_list() == ["math"]
