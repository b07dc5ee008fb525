"""The cost estimate: counts from the recipe and its plan, tokens from budgets or measured lengths,
GPU-hours from the throughput table."""

import json

import polars as pl
import pytest

from assets.keys import Keys
from assets.study_plan import DEFAULT_THROUGHPUT, Measured, benchmark_items, dense_items, estimate, measure
from recipe_schema.loading import load_recipe
from resources.storage import LocalStorage
from tests.conftest import FULL_RECIPE
from workloads.planning.cost import Throughput, ThroughputError, totals


@pytest.fixture
def table():
    return Throughput.load(DEFAULT_THROUGHPUT)


@pytest.mark.parametrize(
    ("params_b", "row"), [(0.1, 1.7), (1.7, 1.7), (2.5, 1.7), (3.0, 4), (10, 8), (12, 14), (70, 32)]
)
def test_generation_rate_comes_from_the_nearest_size_on_a_log_scale(table, params_b, row):
    assert table.tokens_per_second("H100-80GB", params_b) == table.generation["H100-80GB"][row]


def test_training_hours_follow_six_flops_per_parameter_and_token_eight_with_checkpointing(table):
    hours = table.training_gpu_hours("H100-80GB", 8.0, 1e9, checkpointing=False)
    assert hours == pytest.approx(6 * 8e9 * 1e9 / (989e12 * table.training_mfu) / 3600)
    assert table.training_gpu_hours("H100-80GB", 8.0, 1e9, checkpointing=True) == pytest.approx(hours * 8 / 6)


def test_a_bad_throughput_table_or_gpu_is_named(tmp_path, table):
    bad = tmp_path / "t.yaml"
    bad.write_text("gpus: {X: {bf16_tflops: 1}}\ndefault_gpu: X\n")
    with pytest.raises(ThroughputError, match="t.yaml: training_mfu: required field is missing"):
        Throughput.load(bad)
    with pytest.raises(ThroughputError, match="'B300' is not in the throughput table"):
        table.tokens_per_second("B300", 8)


def _small_items(recipe):
    return {b: benchmark_items(recipe, b) for b in recipe.evaluation.benchmarks}


def test_evaluation_counts_every_planned_cell_of_every_run(small_recipe, table, write_recipe):
    # 16 examples x 2 epochs / 8 per step = 4 steps, a save every 2: checkpoints 0, 2, 4.
    lines = estimate(small_recipe, table, "H100-80GB", _small_items(small_recipe))
    evaluation = {x.item: x for x in lines if x.stage == "evaluation"}
    assert evaluation["math500"].generations == 6 * 3 and evaluation["advbench"].generations == 4 * 3
    assert evaluation["advbench"].budget_tokens == 4 * 3 * 128
    assert evaluation["engine starts"].length == "3 checkpoints"
    sparse = load_recipe(write_recipe({"evaluation": {"checkpoints": {"every": 2}}}))
    sparse_lines = estimate(sparse, table, "H100-80GB", _small_items(sparse))
    assert totals(sparse_lines)["evaluation"]["generations"] == 28 * 2  # steps 0 and 4


def test_measured_lengths_replace_the_assumed_ones(small_recipe, table):
    items = _small_items(small_recipe)
    assumed = {x.item: x for x in estimate(small_recipe, table, "H100-80GB", items)}
    measured = {
        x.item: x
        for x in estimate(
            small_recipe, table, "H100-80GB", items, Measured(eval_tokens={"math500": 100.0}, trace_tokens=50.0)
        )
    }
    assert assumed["math500"].length == "budget x 0.30" and assumed["math500"].expected_tokens == 18 * 256 * 0.3
    assert measured["math500"].length == "measured" and measured["math500"].expected_tokens == 18 * 100
    assert measured["math500"].gpu_hours == pytest.approx(assumed["math500"].gpu_hours * 100 / (256 * 0.3))
    assert measured["math (smollm2-135m)"].expected_tokens == 128 * 50


def test_measure_reads_mean_lengths_from_what_the_study_produced(small_recipe, tmp_path):
    storage, keys = LocalStorage(root=str(tmp_path)), Keys(small_recipe)
    run = small_recipe.runs[0]
    storage.write_bytes(keys.manifest(run), json.dumps({"run": run, "step": 2, "uri": "/c"}).encode() + b"\n")
    for step, tokens in ((0, 10.0), (2, 30.0)):
        storage.write_table(
            keys.eval_table(f"{run}@step-{step:05d}", "math500"),
            pl.DataFrame({"metric": ["pass@1", "other"], "headline": [True, False], "mean_tokens": [tokens, 999.0]}),
        )
    storage.write_table(keys.dataset("countdown-cot"), pl.DataFrame({"tokens": [100, 300, 200]}))
    found = measure(small_recipe, storage)
    assert found.eval_tokens == {"math500": 20.0}
    assert found.examples == {"countdown-cot": 3} and found.example_tokens == {"countdown-cot": 200.0}
    assert found.trace_tokens is None


def test_the_full_recipe_plan_costs_a_fraction_of_the_dense_grid(table):
    recipe = load_recipe(FULL_RECIPE, check_files=False)
    items = {b: benchmark_items(recipe, b) for b in recipe.evaluation.benchmarks}
    planned = totals(estimate(recipe, table, "H100-80GB", items))
    dense = totals(estimate(recipe, table, "H100-80GB", dense_items(recipe, items), follow_plan=False))
    # 16 runs x 65 checkpoints x the paper's benchmarks: over 40 million generations on the dense grid.
    assert dense["evaluation"]["generations"] > 40e6
    assert planned["evaluation"]["generations"] < dense["evaluation"]["generations"] / 8
    assert all(planned[stage]["gpu_hours"] > 0 for stage in ("generation", "training", "evaluation"))


def test_the_estimate_command_prints_each_stage_and_the_total(capsys):
    from orchestration.cli import main

    assert main(["estimate", "--recipe", str(FULL_RECIPE), "--gpu", "H200-141GB", "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "on H200-141GB" in out
    for stage in ("generation", "training", "evaluation", "total"):
        assert f"│ {stage}" in out
    assert "GPU-hours; the dense grid (every checkpoint, every item): " in out


def test_a_benchmark_of_unknown_size_is_named_and_left_out_of_the_totals(small_recipe, table, write_recipe):
    from assets.study_plan import UNPRICED

    unlimited = load_recipe(write_recipe(drop=("evaluation.benchmarks.math500.limit",)))
    items = {b: benchmark_items(unlimited, b) for b in unlimited.evaluation.benchmarks}
    assert items["math500"] is None
    lines = {x.item: x for x in estimate(unlimited, table, "H100-80GB", items)}
    assert lines["math500"].length == UNPRICED and lines["math500"].generations == 0
    assert benchmark_items(unlimited, "math500", count_local=True) == 500  # the local copy of MATH-500


@pytest.mark.parametrize(
    ("release", "released_from", "released_until", "expected"),
    [
        ("release_v5", None, None, 880),  # the whole release
        ("release_v5", "2024-08-01", "2025-01-31", 880 - 612),  # after release_v3, to the end of v5
        ("release_v4", "2024-06-01", None, 713 - 511),
        ("release_v5", None, "2024-03-31", 400),
        ("release_v3", "2023-05-01", None, 612),  # from the first problems
        ("release_v5", "2024-08-15", None, None),  # mid-month: not a release boundary
        ("release_v5", "2024-07-01", None, None),  # June is not a release's last month
        ("release_v5", None, "2024-10-31", None),
        ("release_v9", None, None, None),  # a release the card does not list
    ],
)
def test_livecodebench_items_follow_the_cumulative_releases(release, released_from, released_until, expected):
    from assets.study_plan import livecodebench_item_count

    assert livecodebench_item_count(release, released_from, released_until) == expected


def test_the_full_recipes_livecodebench_window_is_priced():
    recipe = load_recipe(FULL_RECIPE, check_files=False)
    assert benchmark_items(recipe, "livecodebench") == 268
