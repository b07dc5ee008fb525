"""What the dataset assets report: token counts from the tokenizer's input ids, and checks that
fail only where it matters and say so when there is nothing to check."""

from types import SimpleNamespace

import polars as pl
import pytest
from dagster import AssetCheckSeverity

from assets.datasets import _check_results, count_tokens
from workloads.data.sft_data import DATASET_SCHEMA
from workloads.training.tiny_model import build_tiny_model

CONVERSATION = [
    {"role": "user", "content": "Using the numbers [3, 5, 7], make 22. Each number once."},
    {"role": "assistant", "content": "<think>\n3 * 5 = 15, 15 + 7 = 22.\n</think>\n\n3 * 5 + 7 = 22"},
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = build_tiny_model(tmp_path_factory.mktemp("tok"), [m["content"] for m in CONVERSATION])
    return AutoTokenizer.from_pretrained(folder)


def test_token_count_is_the_length_of_the_rendered_chats_input_ids(tokenizer):
    table = pl.DataFrame({"messages": [CONVERSATION, CONVERSATION[:1]]})
    rendered = [tokenizer.apply_chat_template(m, tokenize=False) for m in table["messages"].to_list()]
    expected = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered]

    counted = count_tokens(table, tokenizer)["tokens"].to_list()

    assert counted == expected
    assert counted[0] > counted[1] > 10, "a count of an encoding's keys would read 2"


def _table(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DATASET_SCHEMA)


def _example(query_id: str, response: str) -> dict:
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": response}]
    return {
        "example_id": query_id,
        "query_id": query_id,
        "variant": "math-cot",
        "sample_idx": 0,
        "teacher": "t",
        "sampling_hash": "h",
        "messages": messages,
    }


RECIPE = SimpleNamespace(training=SimpleNamespace(datasets=["countdown-cot"]), dataset_targets={})
VERDICTS = pl.DataFrame({"query_id": ["a"], "sample_idx": [0], "correct": [True]})


@pytest.mark.parametrize(
    "variant, severity",
    [("countdown-cot", AssetCheckSeverity.ERROR), ("math-cot", AssetCheckSeverity.WARN)],
)
def test_an_empty_dataset_fails_only_where_training_consumes_it(variant, severity):
    results = {r.check_name: r for r in _check_results(RECIPE, variant, _table([]), VERDICTS)}
    assert not results["not_empty"].passed and results["not_empty"].severity == severity


def test_checks_over_examples_say_nothing_to_check_on_an_empty_dataset():
    results = {r.check_name: r for r in _check_results(RECIPE, "math-cot", _table([]), VERDICTS)}
    for name in ("thinking_format", "every_example_verified"):
        assert results[name].passed and results[name].description == "nothing to check: 0 examples", name


def test_checks_over_examples_count_the_bad_ones():
    table = _table([_example("a", "<think>x</think>y"), _example("b", "no thinking")])
    results = {r.check_name: r for r in _check_results(RECIPE, "math-cot", table, VERDICTS)}
    assert not results["thinking_format"].passed
    assert results["thinking_format"].description == "1 of 2 examples badly formatted"
    assert not results["every_example_verified"].passed
    assert results["every_example_verified"].metadata["unverified"].value == 1
