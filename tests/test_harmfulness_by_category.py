"""Harmfulness per category: a judged cell whose items carry a category (HEx-PHI's 11 files)
reports each category's harmfulness rate with a bootstrap CI beside the overall numbers, and the
dynamics read every such rate as lower-is-better."""

import json

import polars as pl
import pytest

from workloads.analysis.dynamics import comparison_table, curves, dynamics_summary
from workloads.evaluation.cells import score_cell
from workloads.evaluation.items import Layout
from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize
from workloads.evaluation.registry import lower_is_better

KINDS = {"harm": "safety-judge", "math": "math"}


def _samples(rows, *, checkpoint="r__math-cot@step-00000", benchmark="harm"):
    """``rows``: (item, category or None, [judge scores of its samples])."""
    return pl.DataFrame(
        [
            {
                "checkpoint": checkpoint,
                "benchmark": benchmark,
                "item_id": item,
                "sample_idx": idx,
                "response": "",
                "score": score,
                "tokens": 10,
                "truncated": False,
                "think_closed": True,
                "details": json.dumps({"judge_reply": "#thescore: x"} | ({"category": category} if category else {})),
            }
            for item, category, scores in rows
            for idx, score in enumerate(scores)
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )


@pytest.mark.parametrize(
    "metric, expected",
    [
        ("harmfulness_rate", True),
        ("harmfulness_rate/category_3", True),
        ("judge_score", True),
        ("over_refusal_rate", True),
        ("refusal_rate", False),
        ("pass@1", False),
        ("accuracy_math", False),
        ("pass@1/category_3", False),
    ],
)
def test_a_per_category_metric_goes_the_way_of_its_overall_metric(metric, expected):
    assert lower_is_better(metric) is expected


@pytest.mark.parametrize(
    "rows, expected",
    [
        pytest.param(
            [("a", "fraud", [5.0, 1.0]), ("b", "fraud", [5.0]), ("c", "malware", [2.0])],
            {"harmfulness_rate/fraud": 0.75, "harmfulness_rate/malware": 0.0},
            id="item_mean_over_samples_then_over_the_categorys_items",
        ),
        pytest.param(
            [("a", "category_10", [5.0]), ("b", "category_2", [1.0]), ("c", "category_1", [5.0])],
            {
                "harmfulness_rate/category_1": 1.0,
                "harmfulness_rate/category_2": 0.0,
                "harmfulness_rate/category_10": 1.0,
            },
            id="numbered_categories_in_numeric_order",
        ),
        pytest.param(
            [("a", "fraud", [5.0]), ("b", "malware", [None])],
            {"harmfulness_rate/fraud": 1.0, "harmfulness_rate/malware": None},
            id="a_category_nothing_judged_in_has_no_rate_not_zero",
        ),
        pytest.param([("a", None, [5.0]), ("b", None, [1.0])], {}, id="items_without_a_category_add_nothing"),
    ],
)
def test_judged_cells_report_harmfulness_per_category_after_the_overall_metrics(rows, expected):
    table = summarize(_samples(rows), KINDS)
    assert table["metric"].to_list() == ["harmfulness_rate", "judge_score", *expected]
    assert table["headline"].to_list() == [True, False] + [False] * len(expected)
    got = {r["metric"]: r for r in table.iter_rows(named=True)}
    for metric, mean in expected.items():
        assert got[metric]["mean"] == (pytest.approx(mean) if mean is not None else None)
        if mean is not None:
            assert got[metric]["ci_low"] <= mean <= got[metric]["ci_high"]


def test_a_category_interval_resamples_that_categorys_items_only():
    # fraud: 20 items, half harmful; malware: 20 items, none harmful.
    rows = [(f"f{i:02d}", "fraud", [5.0 if i % 2 else 1.0]) for i in range(20)]
    rows += [(f"m{i:02d}", "malware", [1.0]) for i in range(20)]
    got = {r["metric"]: r for r in summarize(_samples(rows), KINDS, seed=1).iter_rows(named=True)}
    fraud, malware, overall = got["harmfulness_rate/fraud"], got["harmfulness_rate/malware"], got["harmfulness_rate"]
    assert fraud["mean"] == pytest.approx(0.5) and overall["mean"] == pytest.approx(0.25)
    assert fraud["ci_low"] < 0.5 < fraud["ci_high"]
    assert (malware["ci_low"], malware["ci_high"]) == (0.0, 0.0)  # no malware item was harmful in any resample
    # Twice as many items overall: its interval is the narrower one.
    assert overall["ci_high"] - overall["ci_low"] < fraud["ci_high"] - fraud["ci_low"]


def test_only_judged_kinds_are_split_by_category():
    rows = [("a", "algebra", [1.0]), ("b", "geometry", [0.0])]
    assert summarize(_samples(rows, benchmark="math"), KINDS)["metric"].to_list() == ["pass@1"]


def test_hex_phi_categories_reach_the_cell_table_through_the_judge(tmp_path):
    folder = tmp_path / "HEx-PHI"
    folder.mkdir()
    for c in (1, 2, 10):
        (folder / f"category_{c}.csv").write_text("".join(f"harmful request {c}.{i}\n" for i in range(3)))
    items = load_benchmark(str(folder), "safety-judge", limit=None, seed=0, layout=Layout(csv_header=False))

    def judge(requests, replies):  # category 2's requests are answered harmfully, the rest refused
        scores = [5.0 if " 2." in r else 1.0 for r in requests]
        return scores, [f"#thescore: {int(s)}" for s in scores], {}

    finals = [["I can't help with that."] * 2 for _ in items]
    scores, details, _ = score_cell("safety-judge", items, finals, judge=judge)
    samples = pl.DataFrame(
        [
            {
                "checkpoint": "r__math-cot@step-00000",
                "benchmark": "harm",
                "item_id": item.item_id,
                "sample_idx": j,
                "response": "",
                "score": s,
                "tokens": 5,
                "truncated": False,
                "think_closed": True,
                "details": json.dumps(d),
            }
            for item, per_scores, per_details in zip(items, scores, details, strict=True)
            for j, (s, d) in enumerate(zip(per_scores, per_details, strict=True))
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )
    got = {r["metric"]: r["mean"] for r in summarize(samples, KINDS).iter_rows(named=True)}
    assert got == {
        "harmfulness_rate": pytest.approx(1 / 3),
        "judge_score": pytest.approx(7 / 3),
        "harmfulness_rate/category_1": 0.0,
        "harmfulness_rate/category_2": 1.0,
        "harmfulness_rate/category_10": 0.0,
    }


def test_dynamics_compare_category_rates_as_lower_is_better_and_follow_only_scores():
    base = [("a", "fraud", [1.0]), ("b", "malware", [1.0]), ("c", "fraud", [1.0])]
    later = [("a", "fraud", [5.0]), ("b", "malware", [1.0]), ("c", "fraud", [1.0])]
    tables = pl.concat(
        [
            summarize(_samples(base, checkpoint="r__math-cot@step-00000"), KINDS),
            summarize(_samples(later, checkpoint="r__math-cot@step-00010"), KINDS),
            summarize(_samples([("q", None, [0.0])], checkpoint="r__math-cot@step-00000", benchmark="math"), KINDS),
            summarize(_samples([("q", None, [1.0])], checkpoint="r__math-cot@step-00010", benchmark="math"), KINDS),
        ]
    )
    curve = curves(tables)
    comparison = {r["metric"]: r for r in comparison_table(curve).iter_rows(named=True)}
    assert comparison["harmfulness_rate/fraud"]["gain"] == pytest.approx(0.5)
    assert comparison["harmfulness_rate/malware"]["gain"] == 0.0
    assert {m for m, r in comparison.items() if r["lower_is_better"]} == {
        "harmfulness_rate",
        "judge_score",
        "harmfulness_rate/fraud",
        "harmfulness_rate/malware",
    }
    assert dynamics_summary(curve)["benchmark"].to_list() == ["math"]
