"""The rules of multiple-choice extraction, each tested in general (seeded random texts over every
option count, phrasing and order), not on one example:

- only letters among the item's options are ever returned;
- only a phrase that states an answer counts ("answer is X", "Answer: X"), not "answer X";
- which of several stated answers counts is the kind's protocol (the first, as the reference
  harnesses take it), and a form the protocol trusts more wins wherever it stands;
- a benchmark's stop sequences reach the engine's sampling parameters and the cell's definition.
"""

from __future__ import annotations

import copy
import json
import random
import sys
import types
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from assets.evaluation import cell_definition
from recipe_schema.loading import parse_recipe
from tests.stream_helpers import cell_fields
from workloads.evaluation.items import LETTERS
from workloads.evaluation.tasks.mmlu_pro import MMLU_PRO_PROTOCOL, mmlu_pro_verdict
from workloads.evaluation.tasks.multiple_choice import (
    CHOICE_PROTOCOL,
    ChoiceProtocol,
    choice_letter,
    choice_reference,
    choice_verdict,
)

ROOT = Path(__file__).resolve().parents[1]
COUNTS = range(2, 11)
PROTOCOLS = {"multiple-choice": CHOICE_PROTOCOL, "mmlu-pro": MMLU_PRO_PROTOCOL}


def _verdict(kind: str, final: str, answer: str, count: int):
    if kind == "mmlu-pro":
        return mmlu_pro_verdict(final, choice_reference(answer, count, category="math"))
    return choice_verdict(final, choice_reference(answer, count))


# --- phrasings ---------------------------------------------------------------------------------

OPENERS = ("", "So ", "Therefore, ", "Thus the final ", "After checking each option, the correct ", "\n")
ANSWER_WORDS = ("answer", "Answer", "ANSWER")
STATING = (" is ", " is: ", ": ", " : ", " is option ", ": choice ", " is\n", ":\n\n")
WRAPPERS = ("{x}", "({x})", "[{x}]", "**{x}**", "**({x})**", "$({x})$", "$\\text{{{x}}}$", "$\\textbf{{({x})}}$")
CLOSERS = ("", ".", ")", " because the others fail.", "\n\nDone.", " (the others are wrong)")
# "answer" before a letter without "is" or a colon, or with a negation: no statement of the letter.
NOT_STATING = (" ", " (", " - ", " to ", " was ", " is not ", " isn't ", ", ", " for ", " from ")
NOT_STATING_CLOSERS = (" is incorrect.", " was my first guess.", " does not hold.", " seems off.")
OTHER_FORMS = {
    "boxed": "\\boxed{{{x}}}",
    "emphasized": "**{x}**",
}


def stating(rng: random.Random, letter: str, connector: str | None = None) -> str:
    wrapper = rng.choice(WRAPPERS).format(x=letter)
    connector = connector or rng.choice(STATING)
    return rng.choice(OPENERS) + rng.choice(ANSWER_WORDS) + connector + wrapper + rng.choice(CLOSERS)


def not_stating(rng: random.Random, letter: str) -> str:
    opener = rng.choice(("The original ", "My earlier ", "Your ", "An ", "The expected "))
    return (
        opener + rng.choice(ANSWER_WORDS).lower() + rng.choice(NOT_STATING) + letter + rng.choice(NOT_STATING_CLOSERS)
    )


# --- only letters among the options ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
@pytest.mark.parametrize("count", COUNTS)
def test_a_letter_beyond_the_options_is_never_returned(kind, count):
    rng = random.Random(count)
    options = LETTERS[:count]
    for _ in range(300):
        statements = [stating(rng, rng.choice(LETTERS)) for _ in range(rng.randint(1, 4))]
        forms = [f.format(x=rng.choice(LETTERS)) for f in OTHER_FORMS.values()]
        text = "\n".join(rng.sample(statements + forms, len(statements) + len(forms)))
        chosen = choice_letter(text, options, PROTOCOLS[kind])
        assert chosen is None or chosen in options, (count, text, chosen)


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
@pytest.mark.parametrize("count", COUNTS)
def test_every_form_naming_a_letter_beyond_the_options_is_no_answer(kind, count):
    rng = random.Random(100 + count)
    for beyond in LETTERS[count:]:
        for form in (stating(rng, beyond), f"\\boxed{{{beyond}}}", f"**{beyond}**", f"{beyond}. an option text"):
            for answer in LETTERS[:count]:
                assert _verdict(kind, form, answer, count) == (False, "no option letter"), form


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
@pytest.mark.parametrize("count", COUNTS)
def test_a_statement_beyond_the_options_is_skipped_for_the_next_within_them(kind, count):
    rng = random.Random(200 + count)
    for _ in range(100):
        beyond, within = rng.choice(LETTERS[count:]), rng.choice(LETTERS[:count])
        text = stating(rng, beyond) + "\n" + stating(rng, within)
        assert choice_letter(text, LETTERS[:count], PROTOCOLS[kind]) == within, text


@pytest.mark.parametrize("count", COUNTS)
def test_every_letter_within_the_options_is_read(count):
    rng = random.Random(300 + count)
    for kind, protocol in PROTOCOLS.items():
        for letter in LETTERS[:count]:
            for _ in range(20):
                text = stating(rng, letter)
                assert choice_letter(text, LETTERS[:count], protocol) == letter, (kind, text)
                assert _verdict(kind, text, letter, count) == (True, None)


# --- only stated answers -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_random_phrasings_that_state_an_answer_are_read(kind):
    rng = random.Random(1)
    for _ in range(2000):
        count = rng.choice(COUNTS)
        letter = rng.choice(LETTERS[:count])
        text = stating(rng, letter)
        assert choice_letter(text, LETTERS[:count], PROTOCOLS[kind]) == letter, text


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_random_phrasings_that_do_not_state_an_answer_are_not_read(kind):
    rng = random.Random(2)
    for _ in range(2000):
        count = rng.choice(COUNTS)
        text = not_stating(rng, rng.choice(LETTERS[:count]))
        assert choice_letter(text, LETTERS[:count], PROTOCOLS[kind]) is None, text


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_a_letter_mentioned_without_a_statement_does_not_hide_the_stated_one(kind):
    rng = random.Random(3)
    for _ in range(1000):
        count = rng.choice(COUNTS)
        mentioned, stated = rng.sample(LETTERS[:count], 2)
        text = not_stating(rng, mentioned) + " " + stating(rng, stated)
        assert choice_letter(text, LETTERS[:count], PROTOCOLS[kind]) == stated, text


# --- first or last -----------------------------------------------------------------------------


STATED = ("answer-is", "answer-colon", "boxed")


def _picking(protocol: ChoiceProtocol, pick: str) -> ChoiceProtocol:
    return ChoiceProtocol(tuple((form, pick if form in STATED else p) for form, p in protocol.forms))


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_both_kinds_take_the_first_stated_answer_as_their_reference_harnesses_do(kind):
    picks = dict(PROTOCOLS[kind].forms)
    assert {picks[form] for form in STATED} == {"first"}


@pytest.mark.parametrize("pick", ["first", "last"])
@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_of_several_stated_answers_the_protocols_pick_counts(kind, pick):
    protocol = _picking(PROTOCOLS[kind], pick)
    rng = random.Random(4)
    for _ in range(1000):
        count = rng.choice(COUNTS)
        letters = [rng.choice(LETTERS[:count]) for _ in range(rng.randint(2, 5))]
        connector = rng.choice(STATING)  # one form: across forms, the protocol's precedence decides
        text = "\n\n".join(stating(rng, letter, connector) for letter in letters)
        assert choice_letter(text, LETTERS[:count], protocol) == (letters[0] if pick == "first" else letters[-1])


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_an_invented_next_question_does_not_change_the_verdict(kind):
    # A base model answers, then writes and answers questions of its own in the same form. (In a
    # form the protocol trusts more, the invented answer would count: the stop sequences end the
    # response before it.)
    rng = random.Random(5)
    for _ in range(500):
        count = rng.choice(COUNTS)
        answer, *invented = (rng.choice(LETTERS[:count]) for _ in range(rng.randint(2, 4)))
        connector = rng.choice(STATING)
        blocks = [f"Question: Another one?\nOptions: A. x B. y\n{stating(rng, x, connector)}" for x in invented]
        text = "\n\n".join([stating(rng, answer, connector), *blocks])
        assert _verdict(kind, text, answer, count) == (True, None), text


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_a_more_trusted_form_wins_wherever_it_stands(kind):
    protocol = PROTOCOLS[kind]
    rng = random.Random(6)
    for _ in range(500):
        count = rng.choice(COUNTS)
        boxed, stated = rng.sample(LETTERS[:count], 2)
        parts = [f"\\boxed{{{boxed}}}", stating(rng, stated)]
        text = "\n".join(rng.sample(parts, 2))
        order = [form for form, _ in protocol.forms]
        trusted = boxed if order.index("boxed") < order.index("answer-is") else stated
        assert choice_letter(text, LETTERS[:count], protocol) == trusted, text


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_without_a_statement_the_last_letter_alone_in_bold_counts_and_any_statement_beats_it(kind):
    # A response weighing the options in bold ends on its pick, as the harnesses' own fallback
    # (the last letter standing) assumes.
    rng = random.Random(8)
    for _ in range(500):
        count = rng.choice(COUNTS)
        weighed = [rng.choice(LETTERS[:count]) for _ in range(rng.randint(2, 5))]
        text = " ".join(f"**{x}**{rng.choice(['', ':', ' seems off,'])} reason." for x in weighed)
        assert choice_letter(text, LETTERS[:count], PROTOCOLS[kind]) == weighed[-1], text
        stated = rng.choice(LETTERS[:count])
        with_statement = rng.choice([stating(rng, stated) + "\n" + text, text + "\n" + stating(rng, stated)])
        assert choice_letter(with_statement, LETTERS[:count], PROTOCOLS[kind]) == stated, with_statement


def test_mmlu_pro_reads_answer_is_before_answer_colon_as_its_harness_does():
    rng = random.Random(7)
    for _ in range(500):
        count = rng.choice(COUNTS)
        first, second = rng.sample(LETTERS[:count], 2)
        text = f"Answer: {first}\n{rng.choice(OPENERS)}the answer is ({second})"
        assert choice_letter(text, LETTERS[:count], MMLU_PRO_PROTOCOL) == second


def test_the_first_statement_is_read_within_a_bounded_head():
    from workloads.evaluation.scoring import MAX_SCORED_CHARS

    filler = ("x " * 40 + "\n") * (3 * MAX_SCORED_CHARS // 80)
    assert choice_letter("The answer is (B).\n" + filler, "ABCD") == "B"
    assert choice_letter(filler + "The answer is (B).", "ABCD") is None
    last = ChoiceProtocol((("answer-is", "last"),))
    assert choice_letter("The answer is (B).\n" + filler, "ABCD", last) is None
    assert choice_letter(filler + "The answer is (B).", "ABCD", last) == "B"


# --- references --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    ["", "?", "AB", "b", None, json.dumps({"answer": "E", "options": 4}), json.dumps({"answer": "A", "options": 27})],
)
def test_a_reference_that_is_no_letter_among_its_options_is_unjudgeable(reference):
    assert choice_verdict("\\boxed{A}", reference) == (None, f"reference is not an option letter: {reference!r}")


def test_a_bare_letter_reference_still_reads_with_every_letter_an_option():
    assert choice_verdict("\\boxed{K}", "K") == (True, None)
    assert mmlu_pro_verdict("\\boxed{J}", json.dumps({"answer": "J", "category": "math"})) == (True, None)
    assert mmlu_pro_verdict("\\boxed{K}", json.dumps({"answer": "A", "category": "math"})) == (
        False,
        "no option letter",
    )


# --- stop sequences ----------------------------------------------------------------------------


def _full_recipe_data() -> dict:
    return yaml.safe_load((ROOT / "recipes" / "full.yaml").read_text())


def test_every_recipe_stops_mmlu_pro_where_its_harness_does():
    found = 0
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "evaluation" not in data:  # a table beside the recipes (throughput), not a recipe
            continue
        recipe = parse_recipe(data, check_files=False)
        for name, bench in recipe.evaluation.benchmarks.items():
            if bench.kind == "mmlu-pro":
                found += 1
                assert "Question:" in bench.stop, f"{path.name}: {name}"
    assert found


@pytest.mark.parametrize("stop", [[""], "Question:", [1]])
def test_a_malformed_stop_list_is_refused_naming_the_field(stop):
    data = _full_recipe_data()
    data["evaluation"]["benchmarks"]["mmlu-pro"]["stop"] = stop
    with pytest.raises((ValidationError, ValueError), match="stop"):
        parse_recipe(data, check_files=False)


def test_changing_a_benchmarks_stop_sequences_changes_its_definition_only(small_recipe):
    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["truthfulqa-mc1"].stop = ["Question:"]
    for name in small_recipe.evaluation.benchmarks:
        same = cell_definition(changed, name) == cell_definition(small_recipe, name)
        assert same == (name != "truthfulqa-mc1"), name


class _Recorded:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_the_cells_stop_sequences_reach_the_engines_sampling_params(monkeypatch, tmp_path):
    from workloads.evaluation.cells import evaluate_cell
    from workloads.programs.inputs import EvalCell

    # The engine builds vLLM's SamplingParams; a stand-in module records what it is given.
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=_Recorded))
    seen = []

    class Completion:
        def __init__(self, text):
            self.text, self.token_ids, self.finish_reason = text, [1, 2], "stop"

    class Engine:
        def get_tokenizer(self):
            return types.SimpleNamespace(apply_chat_template=lambda messages, **kw: messages[0]["content"])

        def generate(self, prompts, params, use_tqdm):
            seen.append(params)
            return [types.SimpleNamespace(outputs=[Completion("The answer is (B).")]) for _ in prompts]

    fixture = ROOT / "tests" / "fixtures" / "mmlu_pro_test.jsonl"
    fields = cell_fields(
        kind="mmlu-pro",
        category="out-of-domain",
        label_values={},
        location=str(fixture),
        samples_path=str(tmp_path / "s"),
        table_path=str(tmp_path / "t"),
    )
    sampling = {"n": 1, "temperature": 0.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "max_new_tokens": 32}
    for stop in (["Question:", "\n\nQ:"], []):
        seen.clear()
        table, report = evaluate_cell(
            Engine(), "run@step-00000", "mmlu-pro", EvalCell(**fields, stop=stop), sampling, 0
        )
        # One generate call, a request per item, each carrying the cell's stop list (none when empty).
        assert len(seen) == 1 and seen[0] and {tuple(p.kwargs["stop"] or ()) for p in seen[0]} == {tuple(stop)}
        assert report["items"] == table.height > 0


@pytest.mark.slow
def test_vllms_sampling_params_carry_the_stop_sequences():
    from workloads.inference.engine import sampling_params

    sampling = {"n": 1, "temperature": 0.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "max_new_tokens": 8}
    assert sampling_params(sampling, stop=["Question:"]).stop == ["Question:"]
    assert sampling_params(sampling).stop == []
