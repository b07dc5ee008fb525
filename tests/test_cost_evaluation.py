"""The evaluation-throughput factor of the cost table: evaluation's share of the generation rates,
with the derivation the estimate prints."""

import pytest
import yaml

from assets.study_plan import DEFAULT_THROUGHPUT
from workloads.planning.cost import Throughput, ThroughputError


def test_the_default_table_prices_evaluation_with_its_measured_factor_and_says_where_it_comes_from():
    table = Throughput.load(DEFAULT_THROUGHPUT)
    raw = yaml.safe_load(open(DEFAULT_THROUGHPUT).read())["evaluation_throughput"]
    assert table.evaluation_factor == raw["factor"]
    rate = table.tokens_per_second("H100-80GB", 8)
    assert table.evaluation_tokens_per_second("H100-80GB", 8) == pytest.approx(rate * raw["factor"])
    note = table.evaluation_note()
    assert f"{raw['factor']:.2f} x the generation rates" in note and "benchmarks/eval_throughput.py" in note


def _with(tmp_path, entry):
    data = yaml.safe_load(open(DEFAULT_THROUGHPUT).read())
    if entry is None:
        data.pop("evaluation_throughput")
    else:
        data["evaluation_throughput"] = entry
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_table_without_the_factor_prices_evaluation_at_the_generation_rates(tmp_path):
    table = Throughput.load(_with(tmp_path, None))
    assert table.evaluation_tokens_per_second("H100-80GB", 8) == table.tokens_per_second("H100-80GB", 8)
    assert "not measured" in table.evaluation_note()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"factor": 0, "derivation": "x"}, "evaluation_throughput.factor: must be in"),
        ({"factor": 1.5, "derivation": "x"}, "evaluation_throughput.factor: must be in"),
        ({"factor": 0.5}, "derivation: required field is missing"),
    ],
)
def test_a_bad_factor_is_named(tmp_path, entry, message):
    with pytest.raises(ThroughputError, match=message):
        Throughput.load(_with(tmp_path, entry))
