"""LiveCodeBench on a local file laid out like the hub's code_generation_lite: loading, the
release-date window, safe decoding of compressed tests, and pass/fail by running code."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.registry import SCORERS, VERDICTS
from workloads.evaluation.tasks.livecodebench import decode_test_cases, extract_code, same_stdout

FIXTURE = str(Path(__file__).parent / "fixtures" / "livecodebench_code_generation_lite.jsonl")

SUM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
LARGEST = (
    "Here it is.\n```python\nclass Solution:\n    def largestElement(self, nums: List[int]) -> int:\n"
    "        return max(nums)\n```"
)
REVERSE = "```python\nimport sys\nwords = sys.stdin.read().split()[1:]\nprint('\\n'.join(reversed(words)))\n```"


def items_by_id(**window):
    return {i.item_id: i for i in load_benchmark(FIXTURE, "livecodebench", limit=None, seed=0, **window)}


def test_items_carry_the_hub_test_cases_and_the_starter_code():
    items = items_by_id()
    assert set(items) == {"lcb-abc900_a", "lcb-9001", "lcb-1999A"}
    assert "class Solution" in items["lcb-9001"].prompt and "standard input" in items["lcb-abc900_a"].prompt
    reference = json.loads(items["lcb-9001"].reference)
    assert reference["func_name"] == "largestElement"
    assert not reference["private_test_cases"].startswith("[")  # kept compressed, as on the hub


@pytest.mark.parametrize(
    "window, ids",
    [
        ({"released_from": "2024-01-01"}, {"lcb-abc900_a", "lcb-1999A"}),
        ({"released_until": "2024-08-10"}, {"lcb-9001", "lcb-abc900_a"}),
        ({"released_from": "2024-08-11", "released_until": "2025-01-15"}, {"lcb-1999A"}),
    ],
)
def test_the_release_window_keeps_problems_by_contest_date(window, ids):
    assert set(items_by_id(**window)) == ids


@pytest.mark.parametrize(
    "item_id, answer, passed",
    [
        ("lcb-abc900_a", SUM, 1.0),
        ("lcb-abc900_a", SUM.replace("a + b", "a * b"), 0.0),  # passes no test
        ("lcb-abc900_a", SUM.replace("a + b", "5"), 0.0),  # passes the public test only
        ("lcb-9001", LARGEST, 1.0),
        ("lcb-9001", LARGEST.replace("max(nums)", "nums[-1]"), 0.0),  # right on the public test only
        ("lcb-1999A", REVERSE, 1.0),
        ("lcb-1999A", "I would reverse the words.", 0.0),  # no code
        ("lcb-abc900_a", "```python\nwhile True:\n    pass\n```", 0.0),
        ("lcb-abc900_a", "```python\nimport os\nos.kill(os.getppid(), 9)\nprint(5)\n```", 0.0),
    ],
    ids=[
        "sum",
        "wrong",
        "public-only",
        "call-based",
        "call-public-only",
        "multi-line",
        "no-code",
        "loops",
        "kills-parent",
    ],
)
def test_a_response_passes_only_when_every_test_passes(item_id, answer, passed):
    item = items_by_id()[item_id]
    assert SCORERS["livecodebench"]([answer], [item.reference]) == [passed]


def test_a_pickle_that_would_run_code_is_refused():
    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    hostile = base64.b64encode(zlib.compress(pickle.dumps([Boom()]))).decode()
    with pytest.raises(ValueError, match="plain data only"):
        decode_test_cases(hostile, "problem x")
    reference = json.dumps({"question_id": "x", "public_test_cases": "[]", "private_test_cases": hostile})
    assert VERDICTS["livecodebench"](SUM, reference)[0] is None  # unjudgeable, never run


def test_a_compression_bomb_is_refused(monkeypatch):
    import workloads.evaluation.tasks.livecodebench as lcb

    monkeypatch.setattr(lcb, "MAX_TESTS_BYTES", 1000)
    bomb = base64.b64encode(zlib.compress(pickle.dumps("x" * 100_000))).decode()
    with pytest.raises(ValueError, match="MiB once decompressed"):
        decode_test_cases(bomb, "problem y")


@pytest.mark.parametrize(
    "got, want, same",
    [
        ("5\n", "5", True),
        ("1 2  3\n", "1 2 3\n", True),
        ("0.1000000000\n", "0.1\n", True),
        ("5\n6\n", "5\n", False),
        ("yes", "Yes", False),
    ],
)
def test_stdout_comparison(got, want, same):
    assert same_stdout(got, want) is same


def test_the_last_code_block_is_the_solution():
    assert extract_code("```python\nx = 1\n```\nbetter:\n```\nx = 2\n```") == "x = 2\n"


def test_many_responses_are_scored_in_parallel_in_order():
    from workloads.evaluation.tasks.livecodebench import livecodebench_scores

    items = items_by_id()
    pairs = [(SUM, "lcb-abc900_a"), (REVERSE, "lcb-abc900_a"), (LARGEST, "lcb-9001"), (REVERSE, "lcb-1999A")] * 2
    scores = livecodebench_scores([a for a, _ in pairs], [items[i].reference for _, i in pairs], workers=2)
    assert scores == [1.0, 0.0, 1.0, 1.0] * 2


def test_the_evaluation_scores_a_cell_of_both_kinds():
    from workloads.evaluation.cells import score_cell

    code = items_by_id()
    scores, _, _ = score_cell("livecodebench", [code["lcb-abc900_a"]], [[SUM, "no code"]])
    assert scores == [[1.0, 0.0]]
    mmlu = load_benchmark(str(Path(FIXTURE).parent / "mmlu_pro_test.jsonl"), "mmlu-pro", limit=None, seed=0)
    answer = json.loads(mmlu[0].reference)["answer"]
    scores, details, _ = score_cell("mmlu-pro", mmlu[:1], [[f"\\boxed{{{answer}}}"]])
    assert scores == [[1.0]] and list(details[0][0].values()) == [True]
