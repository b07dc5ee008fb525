"""MMLU-Pro on a local file laid out like TIGER-Lab/MMLU-Pro: items, verdicts and per-category
accuracy next to the headline."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize
from workloads.evaluation.registry import DETAILS, SCORERS, VERDICTS, verifier_version
from workloads.evaluation.tasks.mmlu_pro import mmlu_pro_items

FIXTURE = str(Path(__file__).parent / "fixtures" / "mmlu_pro_test.jsonl")


def test_items_show_all_options_in_the_hub_order():
    items = load_benchmark(FIXTURE, "mmlu-pro", limit=None, seed=0)
    law = next(i for i in items if json.loads(i.reference)["category"] == "law")
    assert "J. " in law.prompt and law.prompt.index("A. ") < law.prompt.index("J. ")
    assert {json.loads(i.reference)["category"] for i in items} == {"law", "math", "computer science"}


@pytest.mark.parametrize(
    "record, problem",
    [
        ({"answer": "K"}, "disagree"),
        ({"answer_index": 2}, "disagree"),
        ({"category": "astrology"}, "unknown category"),
        ({"options": []}, "0 options"),
    ],
)
def test_inconsistent_records_are_refused_with_the_question_named(record, problem):
    base = {
        "question_id": 7,
        "question": "q",
        "options": ["x", "y"],
        "answer": "A",
        "answer_index": 0,
        "category": "math",
        "src": "s",
    }
    with pytest.raises(ValueError, match=problem) as err:
        mmlu_pro_items([{**base, **record}], "mmlu.jsonl")
    assert "question 7" in str(err.value)


def test_per_category_accuracy_beside_the_headline():
    items = load_benchmark(FIXTURE, "mmlu-pro", limit=None, seed=0)
    answers = {json.loads(i.reference)["category"]: json.loads(i.reference)["answer"] for i in items}
    finals = []
    for item in items:
        ref = json.loads(item.reference)
        finals.append(f"\\boxed{{{ref['answer']}}}" if ref["category"] != "law" else "\\boxed{A}")
    assert answers["law"] != "A"
    refs = [i.reference for i in items]
    scores = SCORERS["mmlu-pro"](finals, refs)
    details = [DETAILS["mmlu-pro"](f, r) for f, r in zip(finals, refs, strict=True)]
    samples = pl.DataFrame(
        [
            {
                "checkpoint": "run@step-00000",
                "benchmark": "mmlu-pro",
                "item_id": i.item_id,
                "sample_idx": 0,
                "response": f,
                "score": s,
                "tokens": 3,
                "truncated": False,
                "think_closed": True,
                "details": json.dumps(d),
            }
            for i, f, s, d in zip(items, finals, scores, details, strict=True)
        ],
        schema=EVAL_SAMPLE_SCHEMA,
    )
    table = summarize(samples, {"mmlu-pro": "mmlu-pro"})
    means = dict(zip(table["metric"], table["mean"], strict=True))
    assert means["pass@1"] == pytest.approx(2 / 3)
    assert means["accuracy_law"] == 0.0 and means["accuracy_math"] == 1.0
    assert means["accuracy_computer_science"] == 1.0 and means["accuracy_biology"] is None
    assert table.filter(pl.col("headline"))["metric"].to_list() == ["pass@1"]


def _ref(answer: str, options: int | None = 10, category: str = "math") -> str:
    return json.dumps({"answer": answer, "category": category} | ({"options": options} if options else {}))


# MMLU-Pro's verdicts pinned with their version (see tests/test_scorer_versions.py). The version
# moved from mmlu-pro@976b6baee3ec when extraction learned the option count, stated forms only,
# and the reference harness's order (the first "answer is (X)", then the first "Answer: X").
MMLU_PRO_VERSION = "mmlu-pro@63f43f3c9ffb"
MMLU_PRO_CASES = [
    ("The answer is (C).", _ref("C"), (True, None)),
    ("\\boxed{B}", _ref("B", options=4), (True, None)),
    ("\\boxed{E}", _ref("B", options=4), (False, "no option letter")),
    ("Answer: K", _ref("A"), (False, "no option letter")),
    ("Answer: I think it is B", _ref("I"), (False, "no option letter")),
    ("The answer is $\\textbf{(G)}$", _ref("G"), (True, None)),
    ("The original answer H is incorrect.", _ref("H"), (False, "no option letter")),
    ("The answer is (B).\n\nQuestion: Next?\nThe answer is (C).", _ref("B"), (True, None)),
    ("Answer: C\nSo the answer is (D).", _ref("D"), (True, None)),
    ("\\boxed{A} but the answer is (F)", _ref("F"), (True, None)),
    ("**A** is tempting, **E** holds.", _ref("E"), (True, None)),
    ("\\boxed{J}", _ref("J", options=None), (True, None)),  # a reference from before option counts: A-J
    ("\\boxed{J}", _ref("J", options=9), (None, f"reference is not an MMLU-Pro answer: {_ref('J', options=9)!r}")),
    ("x", "B", (None, "reference is not an MMLU-Pro answer: 'B'")),
]


def test_mmlu_pro_verdicts_are_pinned_with_their_version():
    verdicts = [VERDICTS["mmlu-pro"](final, reference) for final, reference, _ in MMLU_PRO_CASES]
    expected = [verdict for _, _, verdict in MMLU_PRO_CASES]
    if verdicts != expected:
        assert verifier_version("mmlu-pro") != MMLU_PRO_VERSION, "verdicts changed under the same version"
    assert (verifier_version("mmlu-pro"), verdicts) == (MMLU_PRO_VERSION, expected)


def test_items_carry_their_option_count_and_only_those_letters_are_read():
    items = load_benchmark(FIXTURE, "mmlu-pro", limit=None, seed=0)
    for item in items:
        ref = json.loads(item.reference)
        shown = [line[0] for line in item.prompt.split("\n") if line[1:3] == ". "]
        assert ref["options"] == len(shown) and shown == list("ABCDEFGHIJ"[: len(shown)])
        beyond = "ABCDEFGHIJK"[ref["options"]]
        assert VERDICTS["mmlu-pro"](f"The answer is ({beyond}).", item.reference) == (False, "no option letter")


def test_trailing_padding_options_are_not_options():
    record = {
        "question_id": 5,
        "question": "q",
        "options": ["x", "y", "N/A", "z", " N/A", "N/A"],
        "answer": "B",
        "answer_index": 1,
        "category": "math",
    }
    [item] = mmlu_pro_items([record], "mmlu.jsonl")
    assert json.loads(item.reference)["options"] == 4 and "D. z" in item.prompt and "E. " not in item.prompt
    assert VERDICTS["mmlu-pro"]("The answer is (E).", item.reference) == (False, "no option letter")
    with pytest.raises(ValueError, match="outside its 4 options"):
        mmlu_pro_items([{**record, "answer": "E", "answer_index": 4}], "mmlu.jsonl")
