"""Unit tests for workloads/core/text.py: the thinking/final split and answer extraction."""

import pytest

from workloads.core.text import (
    SplitResponse,
    gsm8k_final_answer,
    join_reasoning,
    last_boxed,
    split_reasoning,
    strip_gsm8k_calculator,
)


@pytest.mark.parametrize(
    "response, opened_in_prompt, expected",
    [
        pytest.param(
            "<think>\n3 + 5 = 8\n</think>\nThe answer is \\boxed{8}.",
            False,
            SplitResponse("3 + 5 = 8", "The answer is \\boxed{8}.", True),
            id="closed_thinking_splits_at_close_tag",
        ),
        pytest.param(
            "  \n<think>a</think>b",
            False,
            SplitResponse("a", "b", True),
            id="leading_whitespace_before_open_tag_is_ignored",
        ),
        pytest.param(
            "3 + 5 = 8\n</think>\n\\boxed{8}",
            True,
            SplitResponse("3 + 5 = 8", "\\boxed{8}", True),
            id="prefill_opened_in_prompt_splits_without_open_tag",
        ),
        pytest.param(
            "still thinking about 3 + 5",
            True,
            SplitResponse("still thinking about 3 + 5", "", False),
            id="prefill_opened_in_prompt_unclosed_is_all_reasoning",
        ),
        pytest.param(
            "The answer is \\boxed{8}.",
            False,
            SplitResponse("", "The answer is \\boxed{8}.", False),
            id="no_thinking_block_whole_text_is_final",
        ),
        pytest.param(
            "<think>\nlet me see... \\boxed{8}",
            False,
            SplitResponse("let me see... \\boxed{8}", "", False),
            id="unclosed_thinking_has_no_final_answer",
        ),
        pytest.param(
            "<think>a</think>b</think>c",
            False,
            SplitResponse("a", "b</think>c", True),
            id="final_is_text_after_first_close_tag",
        ),
        pytest.param(
            "<think></think>\n42",
            False,
            SplitResponse("", "42", True),
            id="empty_thinking_block_is_closed",
        ),
    ],
)
def test_split_reasoning(response, opened_in_prompt, expected):
    assert split_reasoning(response, opened_in_prompt=opened_in_prompt) == expected


@pytest.mark.parametrize(
    "reasoning, final",
    [
        ("3 + 5 = 8", "\\boxed{8}"),
        ("line one\nline two\n\nline four", "The answer is 4."),
        ("", "just the answer"),
        ("thinking only", ""),
    ],
)
def test_join_then_split_round_trips(reasoning, final):
    joined = join_reasoning(reasoning, final)
    assert joined.startswith("<think>\n") and "\n</think>\n" in joined
    assert split_reasoning(joined) == SplitResponse(reasoning, final, True)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("so \\boxed{42}.", "42", id="simple"),
        pytest.param("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}", id="nested_braces_balanced"),
        pytest.param("\\boxed{\\frac{\\sqrt{3}}{2}} done", "\\frac{\\sqrt{3}}{2}", id="doubly_nested_braces"),
        pytest.param("\\fbox{7}", "7", id="fbox"),
        pytest.param("first \\boxed{1} then \\boxed{2}", "2", id="last_of_several_boxed"),
        pytest.param("\\boxed{1} then \\fbox{3}", "3", id="fbox_after_boxed_wins"),
        pytest.param("\\fbox{3} then \\boxed{4}", "4", id="boxed_after_fbox_wins"),
        pytest.param("no box here {x}", None, id="missing"),
        pytest.param("\\boxed{1 + {2}", None, id="unbalanced_braces"),
        pytest.param("\\boxed", None, id="boxed_without_brace"),
        pytest.param("\\boxed{}", "", id="empty_box_is_empty_string"),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "solution, expected",
    [
        pytest.param("She has 3 + 5 = 8.\n#### 8", "8", id="simple"),
        pytest.param("Total is 1,234,567 dollars.\n#### 1,234,567", "1234567", id="thousands_commas_removed"),
        pytest.param("first guess\n#### 5\nno wait\n#### 7", "7", id="last_of_multiple_markers"),
        pytest.param("#### -3  \n", "-3", id="trailing_whitespace_and_newline"),
        pytest.param("####12", "12", id="no_space_after_marker"),
        pytest.param("there is no marker, 12", None, id="missing_marker"),
        pytest.param("", None, id="empty"),
    ],
)
def test_gsm8k_final_answer(solution, expected):
    assert gsm8k_final_answer(solution) == expected


@pytest.mark.parametrize(
    "solution, expected",
    [
        pytest.param("Half is 48/2 = <<48/2=24>>24.", "Half is 48/2 = 24.", id="one_annotation"),
        pytest.param("<<3*4=12>>12 and <<12+1=13>>13", "12 and 13", id="several_annotations"),
        pytest.param("no annotation 1 < 2 > 0", "no annotation 1 < 2 > 0", id="untouched_without_annotation"),
        pytest.param("#### 24", "#### 24", id="keeps_final_marker"),
    ],
)
def test_strip_gsm8k_calculator(solution, expected):
    assert strip_gsm8k_calculator(solution) == expected
