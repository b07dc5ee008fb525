"""Scorer versions move with behaviour.

Each kind's verdicts on a fixed table of inputs are pinned together with the version string they
were produced under. A change of behaviour with the same version fails here; so does a new version
(re-pin both after checking that the new verdicts are the intended ones). The version is derived
from the code (``workloads.core.code_version``), so the pin can only go stale in one direction: code
changed, version moved, and this test asks a person to look at the verdicts.
"""

import json
import textwrap

import pytest

import workloads.evaluation.scoring as scoring
import workloads.evaluation.tasks.math_problems as math_problems
import workloads.evaluation.tasks.mmlu_pro as mmlu_pro
import workloads.evaluation.tasks.multiple_choice as multiple_choice
import workloads.evaluation.tasks.refusal as refusal
import workloads.verification.countdown_rule as countdown
from workloads.core.code_version import _tree, code_digest
from workloads.evaluation.registry import VERDICTS, verifier_version
from workloads.evaluation.versions import benchmark_version


def _stdin_test(output: str) -> str:
    test = {"input": "", "output": output, "testtype": "stdin"}
    return json.dumps({"question_id": "pin", "public_test_cases": json.dumps([test]), "private_test_cases": "[]"})


def _ifeval_record(key: int) -> str:
    return json.dumps(
        {"key": key, "prompt": "p", "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]}
    )


# kind -> (version, [(final, reference, verdict)])
GOLDEN = {
    "math": (
        "math-verify@972841ec86d7+math-verify==0.9.0",
        [
            ("\\boxed{2x}", "2x\n", (True, None)),
            ("\\boxed{2}", "2x\n", (False, None)),
            ("The answer is $\\frac{1}{2}$", "0.5", (True, None)),
            ("\\boxed{3}", "4", (False, None)),
            ("", "1", (False, "no final answer")),
            ("\\boxed{1}", "", (None, "gold answer unparsable")),
            ("\\boxed{" + "\\frac{1}{1+" * 5000 + "1" + "}" * 5001, "1", (False, "no parsable answer")),
        ],
    ),
    "countdown": (
        "countdown-rule@c544727cd2bc",
        [
            ("<answer>(1 + 2) * 3</answer>", {"nums": [1, 2, 3], "target": 9}, (True, None)),
            (
                "<answer>1000001 / 1000000</answer>",
                {"nums": [1000001, 1000000], "target": 1},
                (False, "evaluates to 1000001/1000000, not 1"),
            ),
            ("<answer>1 + ", {"nums": [1], "target": 1}, (False, "no <answer> equation")),
            (
                "<answer>1 + 1</answer>",
                {"nums": [1, 2], "target": 2},
                (False, "uses [1, 1], must use [1, 2] exactly once"),
            ),
        ],
    ),
    "multiple-choice": (
        "multiple-choice@2aa8e0ba7e0e",
        [
            ("Answer: **B**", "B", (True, None)),
            ("**C**", "C", (True, None)),
            ("The answer is (A).", "B", (False, None)),
            ("Answer: I think it is B", "I", (False, "no option letter")),
            ("\\boxed{D}", "D", (True, None)),
            ("nothing", "A", (False, "no option letter")),
            # Moved with the option count, the stated forms and the first statement counting:
            ("\\boxed{E}", '{"answer": "B", "options": 4}', (False, "no option letter")),
            ("The original answer C is wrong.", '{"answer": "C", "options": 4}', (False, "no option letter")),
            ("The answer is (B).\n\nThe answer is (C).", '{"answer": "B", "options": 4}', (True, None)),
            ("\\boxed{A} \\boxed{B}", "B", (False, None)),
            ("The answer is I because", '{"answer": "I", "options": 10}', (True, None)),
            ("The answer is $\\text{(C)}$.", '{"answer": "C", "options": 4}', (True, None)),
            ("**A**: no. **C**: yes.", '{"answer": "C", "options": 4}', (True, None)),
            (
                "\\boxed{B}",
                '{"answer": "E", "options": 4}',
                (None, "reference is not an option letter: " + repr('{"answer": "E", "options": 4}')),
            ),
        ],
    ),
    "yes-no": (
        "yes-no@5e4d7edc7e62",
        [
            ("Yes.", "Yes", (True, None)),
            ("No, it is fine.", "Yes", (False, None)),
            ("Nothing to add", "No", (False, "no yes/no")),
            ("maybe", "Yes", (False, "no yes/no")),
        ],
    ),
    "refusal": (
        "refusal@25a9098008bc",
        [
            ("I'm sorry, but I can't help.", "refuse", (True, None)),
            ("Sure! Here is how.", "comply", (True, None)),
            ("Hmm. I cannot do that.", "comply", (False, None)),
            ("", "refuse", (False, "no final answer")),
        ],
    ),
    "ifeval": (
        "lm-eval-ifeval@2c06b5825201+lm_eval==0.4.13",
        [("hello world", _ifeval_record(1), (True, None)), ("HELLO", _ifeval_record(2), (False, None))],
    ),
    "livecodebench": (
        "livecodebench@654732034c94",
        [
            ("```python\nprint(pow(2, 64))\n```", _stdin_test("18446744073709551616\n"), (True, None)),
            ("```python\nprint(10**9 + 8)\n```", _stdin_test("1000000007\n"), (False, "test 1/1 failed")),
            ("```python\nprint()\nprint(bisect_left([1, 5], 5))\nexit()\n```", _stdin_test("1\n"), (True, None)),
            ("no code", _stdin_test("1"), (False, "no code block")),
            ("```python\nprint(1)\n```", "{}", (None, "reference unreadable: 'question_id'")),
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(GOLDEN))
def test_scorer_behaviour_is_pinned_with_its_version(kind):
    pinned_version, cases = GOLDEN[kind]
    verdicts = [VERDICTS[kind](final, reference) for final, reference, _ in cases]
    expected = [verdict for _, _, verdict in cases]
    version = verifier_version(kind)
    if verdicts != expected:
        assert version != pinned_version, (
            f"{kind}: the verdicts changed but the version did not ({version}); the version must cover "
            "everything the verdict depends on"
        )
    assert (version, verdicts) == (pinned_version, expected), (
        f"{kind}: version {pinned_version} -> {version}. Check the verdicts below are the intended ones, "
        f"then pin the new version and verdicts together: {verdicts}"
    )


def test_every_kind_with_a_verdict_is_pinned_or_registered_after_the_table():
    # Kinds added later (MMLU-Pro) pin themselves in their own test files.
    assert set(GOLDEN) <= set(VERDICTS)


@pytest.mark.parametrize(
    "kind, module, name, value",
    [
        pytest.param("refusal", refusal, "REFUSAL_PHRASES", (*refusal.REFUSAL_PHRASES, "nope"), id="refusal_phrases"),
        pytest.param("refusal", refusal, "REFUSAL_OPENING_SENTENCES", 3, id="refusal_window"),
        pytest.param(
            "multiple-choice",
            multiple_choice,
            "_FORMS",
            {**multiple_choice._FORMS, "emphasized": multiple_choice.re.compile("x")},
            id="choice_pattern",
        ),
        pytest.param(
            "multiple-choice",
            multiple_choice,
            "CHOICE_PROTOCOL",
            multiple_choice.ChoiceProtocol((("boxed", "last"), *multiple_choice.CHOICE_PROTOCOL.forms[1:])),
            id="choice_first_or_last",
        ),
        pytest.param(
            "mmlu-pro",
            mmlu_pro,
            "MMLU_PRO_PROTOCOL",
            multiple_choice.ChoiceProtocol((("boxed", "first"), ("answer-is", "first"), ("answer-colon", "first"))),
            id="mmlu_pro_precedence",
        ),
        pytest.param(
            "mmlu-pro",
            multiple_choice,
            "_FORMS",
            {**multiple_choice._FORMS, "answer-is": multiple_choice.re.compile("x")},
            id="shared_choice_pattern",
        ),
        pytest.param("countdown", countdown, "_MAX_EQUATION_CHARS", 100, id="countdown_helper_module_constant"),
        pytest.param("math", scoring, "MAX_SCORED_CHARS", 10, id="length_bound"),
        pytest.param("math", math_problems, "final_tail", lambda text: text, id="helper_function_replaced"),
    ],
)
def test_verifier_version_moves_with_what_the_verdict_reads(monkeypatch, kind, module, name, value):
    before = verifier_version(kind)
    monkeypatch.setattr(module, name, value)
    assert verifier_version(kind) != before


@pytest.mark.parametrize(
    "kind, module, name, value",
    [
        ("math", math_problems, "EVAL_MATH_INSTRUCTION", "Answer in a box."),
        ("multiple-choice", multiple_choice, "EVAL_CHOICE_INSTRUCTION", "Pick one."),
        ("refusal", refusal, "SAFETY_PROMPT_FIELDS", ("prompt",)),
    ],
)
def test_benchmark_version_moves_with_prompts_and_extraction(monkeypatch, kind, module, name, value):
    before = benchmark_version(kind)
    monkeypatch.setattr(module, name, value)
    assert benchmark_version(kind) != before


def test_benchmark_version_of_one_kind_ignores_another_kinds_scorer(monkeypatch):
    before = benchmark_version("countdown")
    monkeypatch.setattr(refusal, "REFUSAL_PHRASES", ("nope",))
    assert benchmark_version("countdown") == before


def test_benchmark_version_is_stable_and_names_the_scorer():
    assert benchmark_version("math") == benchmark_version("math")
    assert benchmark_version("math").startswith(verifier_version("math") + "/")
    assert benchmark_version("safety-judge").startswith("safety-judge/")


def _function_from(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # source of our own making, for getsource
    function = namespace["f"]
    function.__module__ = "workloads.fixture"
    return function


def test_digest_ignores_comments_docstrings_and_formatting_but_not_code(tmp_path, monkeypatch):
    import linecache

    plain = "def f(x):\n    return x + 1\n"
    noted = 'def f(x):\n    """Adds one."""\n    # a comment\n    return (\n        x + 1\n    )\n'
    changed = "def f(x):\n    return x + 2\n"
    trees = []
    for name, source in (("a", plain), ("b", noted), ("c", changed)):
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        linecache.checkcache(str(path))
        trees.append(_tree(_function_from(tmp_path, name, source)))
    assert trees[0] == trees[1] != trees[2]
    assert code_digest(_function_from(tmp_path, "a", plain)) == code_digest(_function_from(tmp_path, "b", noted))
