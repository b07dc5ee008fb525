"""The hand-off from an asset to its program is a typed model: a renamed, missing or unknown key fails
here, where it is written, not on the compute."""

import pytest
from pydantic import ValidationError

from resources.launchers.compute import workload_module
from tests.stream_helpers import cell_fields
from workloads.programs import PROGRAMS
from workloads.programs.inputs import (
    EvalCell,
    EvaluateInputs,
    GenerateInputs,
    PrepareModelInputs,
    ProgramInputs,
    TrainInputs,
    VerifyInputs,
)

CELL = cell_fields(category="reasoning", n=2, limit=10, label_values={"safe": "comply"})
EXAMPLES = [
    PrepareModelInputs(spec={"source": "gguf"}, output_dir="/m", seed=0),
    GenerateInputs(
        queries_path="/q",
        parts_dir="/p",
        output_path="/o",
        sources={"gsm8k": {"loader": "gsm8k", "teacher": {"backend": "vllm"}, "endpoint": None}},
        sampling={"temperature": 0.6},
        chunk_size=8,
    ),
    VerifyInputs(traces_path="/t", queries_path="/q", output_path="/o", loaders={"gsm8k": "gsm8k"}),
    TrainInputs(
        run="r", dataset="d", dataset_path="/d", model_dir="/m", output_dir="/o", training={"epochs": 1}, seed=0
    ),
    EvaluateInputs(
        checkpoint="r@step-00002",
        endpoint={"model": "/m"},
        cells={"math500": EvalCell(**CELL)},
        kinds={"math500": "math"},
        sampling={"temperature": 0.6, "max_new_tokens": 64},
        seed=0,
        judge=None,
        judge_cache="/j",
    ),
]


def test_every_program_has_its_inputs_model_and_nothing_else_does():
    assert sorted(type(example).program for example in EXAMPLES) == sorted(PROGRAMS)
    assert {cls.program for cls in ProgramInputs.__subclasses__()} == set(PROGRAMS)


@pytest.mark.parametrize("inputs", EXAMPLES, ids=lambda i: i.program)
def test_inputs_survive_the_trip_through_pipes_extras(inputs):
    assert type(inputs).from_extras(inputs.to_extras()) == inputs


@pytest.mark.parametrize("inputs", EXAMPLES, ids=lambda i: i.program)
def test_a_renamed_key_is_refused_naming_both_keys(inputs):
    extras = inputs.to_extras()
    key = next(iter(extras))
    extras[key + "_renamed"] = extras.pop(key)
    with pytest.raises(ValidationError) as raised:
        type(inputs).from_extras(extras)
    assert key in str(raised.value) and key + "_renamed" in str(raised.value)


def test_an_eval_cell_missing_a_field_is_refused():
    with pytest.raises(ValidationError, match="table_path"):
        EvalCell(**{k: v for k, v in CELL.items() if k != "table_path"})


def test_the_recipe_benchmark_entry_fills_an_eval_cell_exactly(small_recipe):
    """A field added to the recipe's benchmark entry must be added to EvalCell (or dropped by the
    asset on purpose): the asset passes the entry whole."""
    bench = next(iter(small_recipe.evaluation.benchmarks.values()))
    entry = bench.model_dump(exclude={"checkpoints", "location"})
    EvalCell(**entry, location="x", definition="d", samples_path="s", table_path="t")


@pytest.mark.parametrize("name", ["scoring", "inputs", "../train", "train.py", ""])
def test_the_launcher_starts_programs_only(name):
    with pytest.raises(ValueError, match="not a program"):
        workload_module(name)


def test_the_launcher_starts_each_program_by_its_module():
    assert workload_module("train") == "workloads.programs.train"
