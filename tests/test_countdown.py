"""Unit tests for workloads/verification/countdown_rule.py: the answer rule, equation extraction and the solver."""

import json
import os
from pathlib import Path

import pytest

from recipe_schema.recipe import DATA_DIR_ENV, DEFAULT_DATA_DIR
from workloads.core.text import split_reasoning
from workloads.verification.countdown_rule import (
    check_equation,
    countdown_prompt,
    extract_equation,
    score_countdown,
    solve_countdown,
    solver_response,
)

COUNTDOWN_FILE = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR) / "queries" / "countdown_3to4_train.jsonl"


@pytest.mark.parametrize(
    "equation, nums, target, correct, reason_part",
    [
        pytest.param("(1 + 2) * 3", [1, 2, 3], 9, True, None, id="correct"),
        pytest.param("3 * (2 + 1)", [1, 2, 3], 9, True, None, id="correct_any_order_of_numbers"),
        pytest.param("44 + 19 + 35", [44, 19, 35], 98, True, None, id="correct_from_data"),
        pytest.param("1 + 2 + 3", [1, 2, 3], 7, False, "evaluates to 6, not 7", id="wrong_value"),
        pytest.param("1 + 1 + 3", [1, 2, 3], 5, False, "exactly once", id="reused_number"),
        pytest.param("1 + 2", [1, 2, 3], 3, False, "exactly once", id="missing_number"),
        pytest.param("1 + 2 + 3 + 4", [1, 2, 3], 10, False, "exactly once", id="extra_number"),
        pytest.param("x + 2", [1, 2], 3, False, "characters other than", id="letters_disallowed"),
        pytest.param("7 % 4", [7, 4], 3, False, "characters other than", id="modulo_disallowed"),
        pytest.param(
            "__import__('os').system('x')",
            [1],
            1,
            False,
            "characters other than",
            id="malicious_import_rejected_without_eval",
        ),
        pytest.param("().__class__", [1], 1, False, "characters other than", id="malicious_attribute_rejected"),
        pytest.param("2**10", [2, 10], 1024, False, "Pow", id="power_rejected"),
        pytest.param("9**9**9**9", [9, 9, 9, 9], 1, False, "Pow", id="power_tower_rejected_fast"),
        pytest.param("2 // 1", [2, 1], 2, False, "FloorDiv", id="floor_division_rejected"),
        pytest.param("-1 + 2", [1, 2], 1, False, "UnaryOp", id="unary_minus_rejected"),
        pytest.param("2.0 * 3", [2, 3], 6, False, "Constant", id="float_literal_rejected"),
        pytest.param("()", [1], 1, False, "Tuple", id="empty_tuple_rejected"),
        pytest.param("1 2", [1, 2], 3, False, None, id="syntax_error_rejected"),
        pytest.param("(1 + 2", [1, 2], 3, False, None, id="unbalanced_parenthesis_rejected"),
        pytest.param("", [1], 1, False, "characters other than", id="empty_rejected"),
        pytest.param("+".join(["1"] * 150), [1] * 150, 150, False, "too long", id="very_long_input_rejected"),
        pytest.param("(" * 150 + "1" + ")" * 150, [1], 1, False, "too long", id="deep_nesting_rejected_by_length"),
        pytest.param("1 / (2 - 2)", [1, 2, 2], 0, False, "division by zero", id="division_by_zero"),
        pytest.param("3 / 2 * 4", [3, 2, 4], 6, True, None, id="non_integer_intermediate_is_exact"),
        pytest.param("1 / 3 * 3", [1, 3, 3], 1, True, None, id="thirds_are_exact_fractions"),
        pytest.param("7 / 2", [7, 2], 3, False, "evaluates to 7/2", id="non_integer_result_is_wrong"),
        # Exact comparison: no float tolerance lets a near miss through, however near.
        pytest.param("1000001 / 1000000", [1000001, 1000000], 1, False, "not 1", id="a_millionth_off_is_wrong"),
        pytest.param("999999999 / 1000000000", [999999999, 1000000000], 1, False, "not 1", id="a_billionth_under"),
        pytest.param("(1 / 3 + 1 / 3) * 3 / 2", [1, 3, 1, 3, 3, 2], 1, True, None, id="exact_thirds_sum_to_one"),
    ],
)
def test_check_equation(equation, nums, target, correct, reason_part):
    ok, reason = check_equation(equation, nums, target)
    assert ok is correct
    if correct:
        assert reason is None
    else:
        assert reason  # a rejection always says why
        if reason_part is not None:
            assert reason_part in reason


@pytest.mark.parametrize(
    "final, expected",
    [
        pytest.param("<answer>(1 + 2) * 3</answer>", "(1 + 2) * 3", id="plain"),
        pytest.param("<answer> 1 + 2 = 3 </answer>", "1 + 2", id="target_suffix_dropped"),
        pytest.param("<answer>1</answer> no, <answer>2 * 3</answer>", "2 * 3", id="last_of_several_tags"),
        pytest.param("<answer>1 +\n2</answer>", "1 +\n2", id="multiline_answer"),
        pytest.param("<answer></answer>", None, id="empty_tag"),
        pytest.param("<answer>= 3</answer>", None, id="only_target_suffix"),
        pytest.param("the equation is 1 + 2", None, id="no_tag"),
        pytest.param("<answer>1 + 2", None, id="unclosed_tag"),
    ],
)
def test_extract_equation(final, expected):
    assert extract_equation(final) == expected


@pytest.mark.parametrize(
    "final, nums, target, correct",
    [
        pytest.param("<answer>1 + 2 = 3</answer>", [1, 2], 3, True, id="suffix_equation_verifies"),
        pytest.param("<answer>1 + 2</answer>", [1, 2], 4, False, id="wrong_value"),
        pytest.param("1 + 2", [1, 2], 3, False, id="no_answer_tag_is_wrong"),
    ],
)
def test_score_countdown(final, nums, target, correct):
    ok, reason = score_countdown(final, nums, target)
    assert ok is correct
    assert (reason is None) is correct


def test_countdown_prompt_names_numbers_and_target():
    prompt = countdown_prompt([44, 19, 35], 98)
    assert "[44, 19, 35]" in prompt and "equals 98" in prompt and "<answer>" in prompt


@pytest.mark.parametrize(
    "nums, target",
    [
        ([1, 2, 3], 9),
        ([8, 2, 2], 2),
        ([24, 2, 3], 4),
        ([6, 3, 2], 1),
        ([44, 19, 35], 98),
        ([5, 5], 10),
    ],
)
def test_solver_answer_verifies_on_solvable_tasks(nums, target):
    response = solver_response(nums, target)
    split = split_reasoning(response)
    assert split.think_closed and split.reasoning.startswith(f"I need to reach {target}")
    assert score_countdown(split.final, nums, target) == (True, None)


@pytest.mark.parametrize("nums, target", [([12, 3, 4], 1), ([96, 39, 28, 32], 15)])
def test_solver_parenthesises_compound_divisor(nums, target):
    trace = solve_countdown(nums, target)
    assert trace.equation is not None
    assert check_equation(trace.equation, nums, target) == (True, None)


@pytest.mark.parametrize("nums, target", [([1, 1, 1], 1000), ([2, 3], 7)])
def test_unsolvable_task_yields_no_answer(nums, target):
    trace = solve_countdown(nums, target)
    assert trace.equation is None
    assert trace.lines[-1] == "No combination reaches the target."
    response = solver_response(nums, target)
    assert "<answer>" not in response
    assert score_countdown(split_reasoning(response).final, nums, target)[0] is False


def test_solver_trace_is_capped_and_counts_the_rest():
    trace = solve_countdown([1, 1, 1, 1], 1000, max_logged=5)
    tries = [line for line in trace.lines if line.lstrip().startswith(("Try", "That does not work"))]
    assert len(tries) == 5
    assert any(line.startswith("... ") and line.endswith(" more attempts ...") for line in trace.lines)


def test_solver_answers_on_first_100_data_rows_all_verify():
    if not COUNTDOWN_FILE.exists():
        pytest.fail(f"Countdown data file absent: {COUNTDOWN_FILE} (the shared data folder is part of the setup)")
    with COUNTDOWN_FILE.open() as fh:
        rows = [json.loads(line) for _, line in zip(range(100), fh, strict=False)]
    assert len(rows) == 100
    answered, failures = 0, []
    for row in rows:
        response = solver_response(row["nums"], row["target"])
        if "<answer>" not in response:
            continue
        answered += 1
        ok, reason = score_countdown(split_reasoning(response).final, row["nums"], row["target"])
        if not ok:
            failures.append((row, extract_equation(response), reason))
    assert answered > 0
    assert failures == []


@pytest.mark.parametrize(
    "unit",
    [
        pytest.param("<answer>1 + ", id="unclosed_open_tags"),
        pytest.param("</answer>", id="close_tags_only"),
        pytest.param("<answer><answer>", id="nested_opens"),
        pytest.param("<answer>x</answer><answer>", id="closed_then_open"),
    ],
)
def test_extract_equation_is_linear_on_adversarial_tags(unit):
    # A quadratic scan takes seconds at 64 KB and hours at 4 MB; a linear one, milliseconds.
    import time

    final = unit * (4_000_000 // len(unit)) + "<answer>1 + 2</answer>"
    started = time.perf_counter()
    assert extract_equation(final) == "1 + 2"
    assert time.perf_counter() - started < 2.0  # generous: a linear scan of 4 MB on a loaded machine
