"""Unit tests for workloads/evaluation/loading.py: option shuffling, item builders and the loader."""

import json

import pytest

from workloads.core.prompts import EVAL_CHOICE_INSTRUCTION, EVAL_MATH_INSTRUCTION
from workloads.evaluation.items import LETTERS, BenchmarkDataError
from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.tasks.math_problems import math_items
from workloads.evaluation.tasks.multiple_choice import choice_items, option_order


@pytest.mark.parametrize("count", [1, 2, 4, 13])
@pytest.mark.parametrize("seed", [0, 1])
def test_option_order_is_a_stable_permutation(count, seed):
    order = option_order("What is the capital of France?", count, seed)
    assert sorted(order) == list(range(count))
    assert option_order("What is the capital of France?", count, seed) == order


def test_option_order_differs_by_seed_and_question():
    by_seed = {tuple(option_order("Q?", 8, seed)) for seed in range(5)}
    by_question = {tuple(option_order(f"Q{i}?", 8, 0)) for i in range(5)}
    assert len(by_seed) > 1 and len(by_question) > 1


def test_option_order_is_pinned():
    # Changing the shuffle silently changes every multiple-choice prompt and reference letter.
    # Values computed once (sha256 of seed and question seeds random.Random) and pinned.
    assert option_order("What is the capital of France?", 4, 0) == [1, 2, 3, 0]
    assert option_order("What is the capital of France?", 4, 1) == [2, 0, 3, 1]
    assert option_order("Q?", 8, 0) == [7, 6, 2, 3, 4, 0, 1, 5]


DICT_RECORD = {"question": "Capital of France?", "mc1_targets": {"Paris": 1, "Lyon": 0, "Nice": 0, "Lille": 0}}
HUB_RECORD = {
    "question": "Capital of France?",
    "mc1_targets": {"choices": ["Paris", "Lyon", "Nice", "Lille"], "labels": [1, 0, 0, 0]},
}


def _options(prompt: str) -> dict[str, str]:
    lines = prompt.split("\n\n")[1].split("\n")
    return {line[0]: line[3:] for line in lines}


@pytest.mark.parametrize("record", [DICT_RECORD, HUB_RECORD], ids=["dict_layout", "hub_layout"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_choice_items_reference_is_the_correct_letter(record, seed):
    [item] = choice_items([record], "test", seed)
    options = _options(item.prompt)
    assert sorted(options.values()) == ["Lille", "Lyon", "Nice", "Paris"]
    assert list(options) == list(LETTERS[:4])
    assert options[json.loads(item.reference)["answer"]] == "Paris"
    assert item.prompt.startswith("Capital of France?\n\n")
    assert item.prompt.endswith(EVAL_CHOICE_INSTRUCTION)
    shown = [
        dict(enumerate(["Paris", "Lyon", "Nice", "Lille"]))[i] for i in option_order("Capital of France?", 4, seed)
    ]
    assert list(options.values()) == shown


def test_choice_items_both_layouts_give_the_same_item():
    assert choice_items([DICT_RECORD], "t", 0) == choice_items([HUB_RECORD], "t", 0)


@pytest.mark.parametrize(
    "targets",
    [{"a": 1, "b": 1}, {"a": 0, "b": 0}],
    ids=["two_correct", "none_correct"],
)
def test_choice_items_without_exactly_one_correct_has_empty_reference(targets):
    [item] = choice_items([{"question": "Q?", "mc1_targets": targets}], "t", 0)
    assert item.reference == ""


def test_choice_items_missing_field_names_it():
    with pytest.raises(BenchmarkDataError, match="mc1_targets"):
        choice_items([{"question": "Q?"}], "bench.json", 0)


@pytest.mark.parametrize(
    "record, reference",
    [
        pytest.param({"problem": "p", "answer": "27.0"}, "27", id="float_string_integer"),
        pytest.param({"problem": "p", "answer": 27.0}, "27", id="float_value_integer"),
        pytest.param({"problem": "p", "answer": "-4.0"}, "-4", id="negative_float_integer"),
        pytest.param({"problem": "p", "answer": "2.50"}, "2.50", id="real_decimal_kept"),
        pytest.param({"problem": "p", "answer": "\\frac{1}{2}"}, "\\frac{1}{2}", id="latex_kept"),
        pytest.param({"question": "q", "answer": "Half of 36 is <<36/2=18>>18.\n#### 18"}, "18", id="gsm8k_solution"),
        pytest.param({"question": "q", "answer": "#### 1,800"}, "1800", id="gsm8k_commas"),
        pytest.param({"problem": "p", "gt_answer": "5"}, "5", id="gt_answer_field"),
        pytest.param({"problem": "p", "answer": None, "gt_answer": "6"}, "6", id="null_answer_falls_back"),
    ],
)
def test_math_items_reference(record, reference):
    [item] = math_items([record], "test")
    assert item.reference == reference
    problem = record.get("problem") or record.get("question")
    assert item.prompt == f"{problem}\n\n{EVAL_MATH_INSTRUCTION}"


def test_math_items_id_is_stable_and_depends_on_problem():
    a1, a2, b = math_items(
        [{"problem": "A", "answer": "1"}, {"problem": "A", "answer": "2"}, {"problem": "B", "answer": "1"}], "t"
    )
    assert a1.item_id == a2.item_id != b.item_id
    assert len(a1.item_id) == 16


def test_math_items_missing_field_names_the_benchmark():
    with pytest.raises(BenchmarkDataError, match="aime.jsonl: no field any of"):
        math_items([{"problem": "p"}], "aime.jsonl")


MATH_ROWS = [{"problem": f"What is {i} + {i}?", "answer": f"{2 * i}.0"} for i in range(10)]


@pytest.fixture
def math_jsonl(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in MATH_ROWS))
    return str(path)


@pytest.mark.parametrize("limit", [1, 3, 10, 50])
def test_load_benchmark_limit_takes_a_seeded_sample(math_jsonl, limit):
    items = load_benchmark(math_jsonl, "math", limit=limit, seed=0)
    assert len(items) == min(limit, len(MATH_ROWS))
    assert len({i.item_id for i in items}) == len(items)
    everything = {i.item_id: i for i in load_benchmark(math_jsonl, "math", limit=None, seed=0)}
    assert len(everything) == len(MATH_ROWS)
    assert all(everything[i.item_id] == i for i in items)
    assert load_benchmark(math_jsonl, "math", limit=limit, seed=0) == items


def test_load_benchmark_limit_is_a_shuffled_not_leading_slice(math_jsonl):
    firsts = {tuple(i.item_id for i in load_benchmark(math_jsonl, "math", limit=3, seed=s)) for s in range(5)}
    assert len(firsts) > 1
    assert all(item.reference.isdigit() for item in load_benchmark(math_jsonl, "math", limit=None, seed=0))


def test_load_benchmark_reads_a_json_list_of_choice_records(tmp_path):
    path = tmp_path / "mc.json"
    path.write_text(json.dumps([DICT_RECORD, {"question": "2 + 2?", "mc1_targets": {"4": 1, "5": 0}}]))
    items = load_benchmark(str(path), "multiple-choice", limit=None, seed=0)
    by_question = {i.prompt.split("\n")[0]: i for i in items}
    assert set(by_question) == {"Capital of France?", "2 + 2?"}
    assert _options(by_question["2 + 2?"].prompt)[json.loads(by_question["2 + 2?"].reference)["answer"]] == "4"
    assert sorted(_options(by_question["2 + 2?"].prompt).values()) == ["4", "5"]


def test_load_benchmark_rejects_json_that_is_not_a_list(tmp_path):
    path = tmp_path / "mc.json"
    path.write_text(json.dumps({"question": "Q?"}))
    with pytest.raises(ValueError, match="expected a JSON list of records"):
        load_benchmark(str(path), "multiple-choice", limit=None, seed=0)


def test_load_benchmark_rejects_unknown_kind(math_jsonl):
    with pytest.raises(ValueError, match="unknown benchmark kind 'essay'"):
        load_benchmark(math_jsonl, "essay", limit=None, seed=0)


def test_load_benchmark_jsonl_dict_layout_keeps_each_questions_own_options(tmp_path):
    path = tmp_path / "mc.jsonl"
    records = [DICT_RECORD, {"question": "2 + 2?", "mc1_targets": {"4": 1, "5": 0}}]
    path.write_text("\n".join(json.dumps(r) for r in records))
    items = load_benchmark(str(path), "multiple-choice", limit=None, seed=0)
    by_question = {i.prompt.split("\n")[0]: i for i in items}
    assert sorted(_options(by_question["2 + 2?"].prompt).values()) == ["4", "5"]
