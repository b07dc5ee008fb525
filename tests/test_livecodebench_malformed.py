"""Malformed but data-only LiveCodeBench tests make their own item unjudgeable (None), never the
batch fail: wrong types anywhere in a reference, bad method names, metadata that is not an object."""

from __future__ import annotations

import copy
import json
import random

import pytest

from workloads.evaluation.tasks.livecodebench import livecodebench_items, livecodebench_scores, livecodebench_verdict

SUM = "```python\nprint(sum(map(int, input().split())))\n```"
CASE = {"input": "2 3\n", "output": "5\n", "testtype": "stdin"}


def reference(public, private="[]", func_name=None, **extra) -> str:
    return json.dumps(
        {
            "question_id": "m",
            "public_test_cases": public,
            "private_test_cases": private,
            "func_name": func_name,
            **extra,
        }
    )


def functional(output: str = "5") -> str:
    return json.dumps([{"input": "2\n3", "output": output, "testtype": "functional"}])


MALFORMED = {
    "dict-for-list": reference(json.dumps(CASE)),
    "string-case": reference(json.dumps(["2 3"])),
    "int-input": reference(json.dumps([{**CASE, "input": 5}])),
    "none-input": reference(json.dumps([{**CASE, "input": None}])),
    "list-input": reference(json.dumps([{**CASE, "input": ["2", "3"]}])),
    "dict-output": reference(json.dumps([{**CASE, "output": {"a": 1}}])),
    "numeric-testtype": reference(json.dumps([{**CASE, "testtype": 7}])),
    "lone-surrogate": reference(json.dumps([{**CASE, "input": "\ud800"}])),
    "number-for-tests": reference(5),
    "missing-private": json.dumps({"question_id": "m", "public_test_cases": json.dumps([CASE])}),
    "functional-not-json": reference(functional("not json"), func_name="f"),
    "functional-no-name": reference(functional()),
    "functional-code-for-name": reference(functional(), func_name="f(); import os; os.system('x')"),
    "functional-list-name": reference(functional(), func_name=["f"]),
    "reference-list": "[]",
    "reference-null": "null",
    "reference-number": "5",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_reference_is_unjudgeable_with_a_reason(name):
    correct, why = livecodebench_verdict(SUM, MALFORMED[name])
    assert correct is None and why.startswith("reference unreadable")


def test_malformed_items_fail_alone_in_a_batch():
    references = [*MALFORMED.values(), reference(json.dumps([CASE]))]
    scores = livecodebench_scores([SUM] * len(references), references, workers=2)
    assert scores == [None] * len(MALFORMED) + [1.0]


WRONG_VALUES = (None, 0, 1.5, True, "", [], {}, [None], {"input": 1}, ["x"])


def test_any_field_replaced_by_a_wrong_type_never_raises():
    rng = random.Random(3)
    valid = {"question_id": "m", "public_test_cases": [dict(CASE)], "private_test_cases": "[]", "func_name": None}
    for _ in range(30):
        ref = copy.deepcopy(valid)
        target = rng.choice(["question_id", "public_test_cases", "private_test_cases", "func_name", "case"])
        if target == "case":
            ref["public_test_cases"][0][rng.choice(list(CASE))] = rng.choice(WRONG_VALUES)
        else:
            ref[target] = rng.choice(WRONG_VALUES)
        ref["public_test_cases"] = (
            json.dumps(ref["public_test_cases"]) if rng.random() < 0.5 else ref["public_test_cases"]
        )
        correct, why = livecodebench_verdict(SUM, json.dumps(ref))
        assert correct in (None, True, False) and (correct is not None or why)


@pytest.mark.parametrize("metadata", ["[1]", "not json", '{"func_name": 5}', ["func_name"], 7])
def test_metadata_that_is_not_an_object_loads_with_no_method_name(metadata):
    record = {
        "question_id": "q",
        "question_content": "Add.",
        "public_test_cases": json.dumps([CASE]),
        "private_test_cases": "[]",
        "metadata": metadata,
    }
    (item,) = livecodebench_items([record], "fixture")
    assert json.loads(item.reference)["func_name"] is None
