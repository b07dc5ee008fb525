"""Unit tests for workloads/evaluation/scoring.py: the verdicts and the scorer registry."""

import pytest

from workloads.evaluation.registry import SCORERS, VERDICTS, verifier_version
from workloads.evaluation.scoring import MAX_SCORED_CHARS, bounded_scores
from workloads.evaluation.tasks.countdown import countdown_verdict
from workloads.evaluation.tasks.math_problems import MAX_LOGGED_CHARS, gold_parsable, math_verdict
from workloads.evaluation.tasks.multiple_choice import choice_letter, choice_reference, choice_verdict


@pytest.mark.parametrize(
    "final, gold",
    [
        pytest.param("\\boxed{0.5}", "\\frac{1}{2}", id="decimal_vs_frac_gold"),
        pytest.param("\\boxed{\\frac{1}{2}}", "0.5", id="frac_vs_decimal_gold"),
        pytest.param("So the answer is \\boxed{\\frac{3}{4}}.", "\\frac{3}{4}", id="boxed_nested_braces"),
        pytest.param("\\boxed{\\frac{3}{4}}", "0.75", id="boxed_frac_vs_decimal"),
        pytest.param("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", id="doubly_nested_braces"),
        pytest.param("\\boxed{(1,2]}", "(1,2]", id="half_open_interval"),
        pytest.param("\\boxed{72}", "72", id="boxed_integer_vs_plain_gold"),
        pytest.param("\\boxed{72}", "$72$", id="gold_already_in_dollars"),
        pytest.param("\\boxed{72}", "\\boxed{72}", id="gold_already_boxed"),
        pytest.param("\\boxed{1,000}", "1000", id="thousands_comma"),
        pytest.param("\\boxed{5\\text{ cm}}", "5", id="unit_in_text"),
        pytest.param("\\boxed{3 \\text{ meters}}", "3", id="unit_word_in_text"),
        pytest.param("\\boxed{5 \\mathrm{cm}}", "5", id="unit_in_mathrm"),
        pytest.param("\\boxed{90^\\circ}", "90", id="degrees"),
        pytest.param("\\boxed{10\\%}", "10", id="percent_sign"),
        pytest.param("\\boxed{\\$12.50}", "12.5", id="dollar_amount"),
        pytest.param("\\boxed{[2, 5)}", "[2,5)", id="interval_with_spaces"),
        pytest.param("\\boxed{x \\in [1, 3]}", "[1,3]", id="interval_as_membership"),
        pytest.param("\\boxed{\\dfrac{2}{4}}", "\\frac{1}{2}", id="unreduced_dfrac"),
    ],
)
def test_math_verdict_accepts_equivalent_forms(final, gold):
    assert math_verdict(final, gold) == (True, None)


@pytest.mark.parametrize(
    "final, gold",
    [
        pytest.param("\\boxed{71}", "72", id="wrong_integer"),
        pytest.param("\\boxed{(1,2)}", "(1,2]", id="open_vs_half_open_interval"),
        pytest.param("\\boxed{\\frac{1}{3}}", "0.5", id="wrong_fraction"),
        pytest.param("\\boxed{7 \\text{ dollars}}", "8", id="unit_does_not_rescue_a_wrong_number"),
    ],
)
def test_math_verdict_rejects_wrong_answers(final, gold):
    assert math_verdict(final, gold) == (False, None)


@pytest.mark.parametrize(
    "final, gold, expected",
    [
        pytest.param("", "72", (False, "no final answer"), id="empty_final_is_wrong_with_error"),
        pytest.param("  \n ", "72", (False, "no final answer"), id="blank_final_is_wrong_with_error"),
        pytest.param("I don't know.", "72", (False, "no parsable answer"), id="final_without_math_is_wrong"),
        pytest.param("\\boxed{72}", "", (None, "gold answer unparsable"), id="empty_gold_is_unjudgeable"),
        pytest.param("\\boxed{72}", "\\boxed{", (None, "gold answer unparsable"), id="broken_gold_is_unjudgeable"),
        pytest.param("", "", (None, "gold answer unparsable"), id="unparsable_gold_wins_over_empty_final"),
    ],
)
def test_math_verdict_errors(final, gold, expected):
    assert math_verdict(final, gold) == expected


@pytest.mark.parametrize(
    "final, letter, expected",
    [
        pytest.param("\\boxed{B}", "B", (True, None), id="boxed_letter"),
        pytest.param("\\boxed{ (B) }", "B", (True, None), id="boxed_letter_in_parens"),
        pytest.param("\\boxed{C}", "B", (False, None), id="boxed_wrong_letter"),
        pytest.param("The answer is (B).", "B", (True, None), id="answer_is_letter"),
        pytest.param("Answer: B", "B", (True, None), id="answer_colon_letter"),
        pytest.param("\\boxed{A} \\boxed{B}", "B", (False, None), id="first_boxed_letter_counts_wrong"),
        pytest.param("\\boxed{B} \\boxed{A}", "B", (True, None), id="first_boxed_letter_counts"),
        pytest.param("\\boxed{B}", choice_reference("B", 4), (True, None), id="reference_with_option_count"),
        pytest.param("\\boxed{E}", choice_reference("B", 4), (False, "no option letter"), id="letter_beyond_options"),
        pytest.param(
            "The original answer C is wrong. Answer: B",
            choice_reference("B", 4),
            (True, None),
            id="answer_x_states_nothing",
        ),
        pytest.param("The answer is A. Final: \\boxed{B}", "B", (True, None), id="boxed_beats_stated"),
        pytest.param("B. Paris", "B", (True, None), id="leading_letter_with_period"),
        pytest.param("(B) Paris", "B", (True, None), id="leading_letter_in_parens"),
        pytest.param("Because Paris", "B", (False, "no option letter"), id="word_starting_with_letter_is_no_choice"),
        pytest.param("", "B", (False, "no option letter"), id="empty_final"),
        pytest.param("\\boxed{B}", "b", (None, "reference is not an option letter: 'b'"), id="lowercase_reference"),
        pytest.param("\\boxed{B}", "", (None, "reference is not an option letter: ''"), id="empty_reference"),
        pytest.param("\\boxed{B}", "AB", (None, "reference is not an option letter: 'AB'"), id="two_letter_reference"),
        pytest.param("\\boxed{B}", None, (None, "reference is not an option letter: None"), id="none_reference"),
    ],
)
def test_choice_verdict(final, letter, expected):
    assert choice_verdict(final, letter) == expected


def test_choice_verdict_does_not_read_pronoun_i_as_option():
    assert choice_verdict("Answer: I think it is B", "I") == (False, "no option letter")
    assert choice_verdict("Answer: I", "I") == (True, None)


@pytest.mark.parametrize(
    "final, reference, expected",
    [
        pytest.param("<answer>(1 + 2) * 3</answer>", {"nums": [1, 2, 3], "target": 9}, (True, None), id="correct"),
        pytest.param(
            "<answer>1 + 2 + 3 = 9</answer>",
            {"nums": [1, 2, 3], "target": 9},
            (False, "evaluates to 6, not 9"),
            id="wrong_value",
        ),
        pytest.param("no tags", {"nums": [1, 2, 3], "target": 9}, (False, "no <answer> equation"), id="no_answer_tag"),
        pytest.param(
            "<answer>1 + 2</answer>",
            {"nums": (1, 2), "target": "3"},
            (True, None),
            id="tuple_nums_and_string_target_accepted",
        ),
        pytest.param(
            "<answer>1</answer>",
            {"nums": [], "target": 1},
            (None, "task without numbers or target"),
            id="empty_nums_unjudgeable",
        ),
        pytest.param(
            "<answer>1</answer>",
            {"nums": [1], "target": None},
            (None, "task without numbers or target"),
            id="missing_target_unjudgeable",
        ),
        pytest.param("<answer>1</answer>", {}, (None, "task without numbers or target"), id="empty_reference"),
    ],
)
def test_countdown_verdict(final, reference, expected):
    assert countdown_verdict(final, reference) == expected


def test_scorer_registry_covers_every_verdict():
    assert set(SCORERS) == set(VERDICTS) >= {"math", "countdown", "multiple-choice", "yes-no", "refusal", "ifeval"}
    assert SCORERS["math"].__name__ == "math_score"


@pytest.mark.parametrize(
    "kind, completions, references, expected",
    [
        pytest.param(
            "math",
            ["\\boxed{1}", "\\boxed{2}", "\\boxed{3}", ""],
            ["1", "1", "", "4"],
            [1.0, 0.0, None, 0.0],
            id="math_none_for_unparsable_gold",
        ),
        pytest.param(
            "countdown",
            ["<answer>1 + 2</answer>", "<answer>1 * 2</answer>", "<answer>1</answer>"],
            [{"nums": [1, 2], "target": 3}, {"nums": [1, 2], "target": 3}, {"nums": [], "target": 1}],
            [1.0, 0.0, None],
            id="countdown_none_for_task_without_numbers",
        ),
        pytest.param(
            "multiple-choice",
            ["\\boxed{A}", "\\boxed{A}", "\\boxed{A}"],
            ["A", "B", "?"],
            [1.0, 0.0, None],
            id="choice_none_for_non_letter_reference",
        ),
        pytest.param("math", [], [], [], id="empty_input"),
    ],
)
def test_scorers_return_floats_or_none(kind, completions, references, expected):
    scores = SCORERS[kind](completions, references)
    assert scores == expected
    assert all(s is None or type(s) is float for s in scores)


@pytest.mark.parametrize(
    "kind, reference",
    [("math", "1"), ("countdown", {"nums": [1], "target": 1}), ("multiple-choice", "A")],
)
@pytest.mark.parametrize("extra", ["completion", "reference"])
def test_scorers_reject_length_mismatch(kind, reference, extra):
    completions, references = ["\\boxed{1}"], [reference]
    if extra == "completion":
        completions.append("\\boxed{2}")
    else:
        references.append(reference)
    with pytest.raises(ValueError):
        SCORERS[kind](completions, references)


@pytest.mark.parametrize(
    "kind, expected_prefix",
    [
        ("math", "math-verify@"),
        ("countdown", "countdown-rule@"),
        ("multiple-choice", "multiple-choice@"),
        ("yes-no", "yes-no@"),
        ("refusal", "refusal@"),
        ("ifeval", "lm-eval-ifeval@"),
    ],
)
def test_verifier_version_names_the_verifier(kind, expected_prefix):
    assert verifier_version(kind).startswith(expected_prefix)


@pytest.mark.parametrize("kind, library", [("math", "+math-verify==0."), ("ifeval", "+lm_eval==0.")])
def test_verifier_version_carries_the_deciding_librarys_version(kind, library):
    assert library in verifier_version(kind)


# --- defects found on third-party data: each case is the general form, not one instance ------


@pytest.mark.parametrize("gold", ["2x", "\\frac{1}{2}", "3.5", "(1, 2)", "-7"])
@pytest.mark.parametrize("padding", [("", "\n"), (" ", " "), ("\n", "\n"), ("\t", "\r\n"), ("  \n", "\n\n")])
def test_gold_with_surrounding_whitespace_parses_as_the_stripped_gold(gold, padding):
    padded = f"{padding[0]}{gold}{padding[1]}"
    assert gold_parsable(padded)
    assert math_verdict(f"\\boxed{{{gold}}}", padded) == (True, None)
    assert math_verdict(f"\\boxed{{{gold}}}", padded) == math_verdict(f"\\boxed{{{gold}}}", gold)


def test_gold_with_trailing_newline_does_not_credit_a_truncated_answer():
    assert math_verdict("\\boxed{2}", "2x\n") == (False, None)


@pytest.mark.parametrize("letter", ["A", "B", "D", "J"])
@pytest.mark.parametrize(
    "template",
    [
        "Answer: **{x}**",
        "The answer is **{x}**",
        "**{x}**",
        "**({x})**",
        "**{x}.**",
        "*{x}*",
        "__{x}__",
        "**Answer: {x}**",
        "**Answer:** {x}",
        "The correct answer is **({x})**.",
        "Final answer: **{x}**",
        "Let me think.\n\n**{x}**",
        "**{x}) the third option**\n\nSo the answer is **{x}**",
        "The answer is: {x}",
        "answer is {x}",
        "ANSWER: {x}",
    ],
)
def test_choice_letter_reads_bold_and_stated_letters_in_their_general_forms(letter, template):
    assert choice_letter(template.format(x=letter)) == letter


@pytest.mark.parametrize(
    "final, letter",
    [
        pytest.param("Option **A** looks tempting, but the answer is **C**.", "C", id="stated_beats_earlier_bold"),
        pytest.param("**Step 1** ... **C**", "C", id="bold_words_are_not_letters"),
        pytest.param("**I think** it is B. Answer: **B**", "B", id="bold_pronoun_is_not_option_i"),
        pytest.param("**A** or **B**? \\boxed{D}", "D", id="boxed_beats_bold"),
    ],
)
def test_choice_letter_precedence_with_emphasis(final, letter):
    assert choice_letter(final) == letter


@pytest.mark.parametrize(
    "kind, reference",
    [("math", "42"), ("multiple-choice", "B"), ("yes-no", "Yes"), ("countdown", {"nums": [1, 2], "target": 3})],
)
def test_scorers_read_only_a_bounded_tail_of_a_runaway_final(kind, reference):
    answer = {
        "math": "\\boxed{42}",
        "multiple-choice": "\\boxed{B}",
        "yes-no": "Yes",
        "countdown": "<answer>1 + 2</answer>",
    }[kind]
    head = ("x " * 40 + "\n") * (3 * MAX_SCORED_CHARS // 80)
    # Where the first stated answer counts (multiple choice), the bounded part read is the head.
    reads_first = kind == "multiple-choice"
    assert VERDICTS[kind](head + answer, reference)[0] is not reads_first
    if kind != "countdown":  # Countdown's extraction is linear and needs no cut
        # An answer beyond the bound is not read: what is scored is a bounded tail (or head).
        assert VERDICTS[kind](answer + "\n" + head, reference)[0] is reads_first


@pytest.mark.parametrize("inner", ["\\frac{1}{1+", "1+", "(", "x \\cdot "])
@pytest.mark.parametrize("gold", ["1", "2"])
def test_a_cut_never_leaves_a_fragment_of_a_long_answer_that_reads_as_the_gold(inner, gold):
    # One line longer than the bound: its tail (closing braces after a gold-looking number) must not count.
    depth = 2 * MAX_SCORED_CHARS // len(inner)
    final = "\\boxed{" + inner * depth + gold + "}" * depth + "}"
    assert math_verdict(final, gold)[0] is not True


def test_math_verify_log_messages_are_capped(caplog):
    import logging

    caplog.set_level(logging.WARNING)
    logging.getLogger("math_verify.parser").warning("Timeout during parsing: %s", "y" * 100_000)
    [record] = [r for r in caplog.records if r.name == "math_verify.parser"]
    assert len(record.getMessage()) < MAX_LOGGED_CHARS + 100
    assert "100024 characters" in record.getMessage()


def test_bounded_scores_time_out_hanging_items_and_go_on():
    import time

    from workloads.verification.verify_pool import VerifierPool

    with VerifierPool(workers=2, timeout_s=1.0, registry="tests.verify_pool_helpers:TEST_VERDICTS") as pool:
        started = time.monotonic()
        assert bounded_scores("hang", ["a", "b"], ["Yes", "No"], pool=pool) == ([None, None], 2)
        assert time.monotonic() - started < 30  # each item stopped at its limit, not after its 60 s sleep
        assert bounded_scores("yes-no", ["Yes", "Yes"], ["Yes", "No"], pool=pool) == ([1.0, 0.0], 0)


def test_an_eval_cell_scored_with_a_pool_counts_the_samples_that_ran_out_of_time(monkeypatch):
    import workloads.evaluation.registry as registry
    from tests.verify_pool_helpers import hang_verdict
    from workloads.evaluation.cells import score_cell
    from workloads.evaluation.items import Item
    from workloads.evaluation.spec import BenchmarkKind
    from workloads.verification.verify_pool import VerifierPool

    # A kind whose verdict never returns, registered for this test only (the pool's workers read
    # their verdicts from the test registry by name).
    hang = BenchmarkKind("hang", load=registry.KINDS["yes-no"].load, verdict=hang_verdict)
    monkeypatch.setitem(registry.KINDS, "hang", hang)

    items = [Item("a", "q1", "Yes"), Item("b", "q2", "No")]
    finals = [["Yes.", "No."], ["No", "Yes"]]
    with VerifierPool(workers=2, timeout_s=5.0) as pool:
        scores, _, counts = score_cell("yes-no", items, finals, pool=pool)
    assert scores == [[1.0, 0.0], [1.0, 0.0]] and counts == {"scoring_timeouts": 0}
    with VerifierPool(workers=2, timeout_s=1.0, registry="tests.verify_pool_helpers:TEST_VERDICTS") as pool:
        scores, _, counts = score_cell("hang", items, finals, pool=pool)
    assert scores == [[None, None], [None, None]] and counts == {"scoring_timeouts": 4}
