import pytest

from resources.recipe import RecipeError, load_recipe
from tests.conftest import FULL_RECIPE, SMALL_RECIPE


def test_small_recipe_loads_and_names_its_runs():
    recipe = load_recipe(SMALL_RECIPE)
    assert recipe.runs == ["smollm2-135m__countdown-cot"]
    assert recipe.student_of("smollm2-135m__countdown-cot") == "smollm2-135m"


def test_full_recipe_carries_the_papers_protocol():
    recipe = load_recipe(FULL_RECIPE)
    tr = recipe.training
    assert (tr.learning_rate, tr.epochs, tr.global_batch_size, tr.max_length, tr.save_every) == (
        5e-5,
        8,
        256,
        20000,
        10,
    )
    assert recipe.queries["math"].size == 20480 and recipe.queries["countdown"].size == 20000
    assert recipe.generation.sampling.max_new_tokens == 16384
    assert recipe.evaluation.benchmarks["aime24"].n == 10
    assert len(recipe.runs) == 16
    assert recipe.queries["math"].references.location == "hub:AI-MO/NuminaMath-1.5"
    assert recipe.dataset_targets["math-cot"] == 20000


@pytest.mark.parametrize(
    "overrides, drop, message",
    [
        ({"training": {"learning_rat": 1e-4}}, (), "training.learning_rat: unknown key"),
        ({"training": {"epochs": "many"}}, (), "training.epochs: Input should be a valid number"),
        ({"generation": {"shards": 2.5}}, (), "generation.shards: Input should be a valid integer (got 2.5)"),
        ({"queries": {"math": {"location": "queries/nope.jsonl"}}}, (), "queries.math.location: file not found"),
        (
            {"evaluation": {"benchmarks": {"math500": {"location": "math/nope.jsonl"}}}},
            (),
            "evaluation.benchmarks.math500.location: file not found",
        ),
        ({"generation": {"shards": 1000}}, (), "generation.shards: 1000 shards for only 56 queries"),
        ({"queries": {"math": {"size": 0}}}, (), "queries.math.size: 0 is out of range: must be > 0"),
        ({"training": {"students": ["gpt-9"]}}, (), "training.students[0]: 'gpt-9' is not in `models`"),
        (
            {"training": {"datasets": ["math-cott"]}},
            (),
            "training.datasets[0]: Input should be 'math-cot', 'math-nocot'",
        ),
        (
            {"training": {"global_batch_size": 6, "per_device_batch_size": 4}},
            (),
            "training.global_batch_size: must be a multiple",
        ),
        (
            {"generation": {"teachers": {"math": {"backend": "countdown-solver"}}}},
            (),
            "generation.teachers.math.backend: the solver only answers countdown",
        ),
        ({}, ("seed",), "seed: required field is missing"),
        (
            {"models": {"smollm2-135m": {"source": "ftp"}}},
            (),
            "models.smollm2-135m.source: Input should be 'gguf-package'",
        ),
        ({"dataset_targets": {"math-cott": 5}}, (), "dataset_targets.math-cott: not a valid key"),
        (
            {"decontamination": {"min_overlap": 1.5}},
            (),
            "decontamination.min_overlap: 1.5 is out of range: must be in (0, 1]",
        ),
        (
            {"queries": {"countdown": {"references": {"location": "math/math500.jsonl"}}}},
            (),
            "queries.countdown.references: reference solutions are for math sources",
        ),
        (
            {"queries": {"math": {"references": {"location": "nope.jsonl"}}}},
            (),
            "queries.math.references.location: file not found",
        ),
        ({"evaluation": {"judge": None}}, (), "evaluation.judge: advbench is a safety-judge benchmark: name the judge"),
        (
            {"evaluation": {"judge": {"model": "gpt-judge"}}},
            (),
            "evaluation.judge.model: 'gpt-judge' is not in `models` (without base_url",
        ),
        (
            {"evaluation": {"judge": {"max_tokens": 0}}},
            (),
            "evaluation.judge.max_tokens: 0 is out of range: must be > 0",
        ),
        (
            {"evaluation": {"benchmarks": {"advbench": {"max_new_tokens": 0}}}},
            (),
            "evaluation.benchmarks.advbench.max_new_tokens: 0 is out of range: must be > 0",
        ),
        (
            {"evaluation": {"benchmarks": {"advbench": {"kind": "harm-o-meter"}}}},
            (),
            "evaluation.benchmarks.advbench.kind: Input should be 'math'",
        ),
    ],
)
def test_malformed_recipe_names_the_offending_field(write_recipe, overrides, drop, message):
    with pytest.raises(RecipeError, match=None) as err:
        load_recipe(write_recipe(overrides, drop=drop))
    assert message in str(err.value)


def test_missing_recipe_file_is_reported(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")


def test_data_folder_is_a_setting(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path))
    with pytest.raises(RecipeError, match=str(tmp_path)):
        load_recipe(write_recipe())


def test_training_keys_beyond_the_studys_reach_sft_config(write_recipe, tmp_path):
    from workloads.train import build_config

    extra = {"logging_steps": 5, "optim": "adamw_torch", "report_to": ["none"], "neftune_noise_alpha": 5.0}
    recipe = load_recipe(write_recipe({"training": extra}))
    config = build_config(recipe.training.model_dump(), str(tmp_path), seed=0)
    assert {key: getattr(config, key) for key in extra} == {**extra, "report_to": []}
    # The study's own names still map onto TRL's, and the global batch onto accumulation.
    assert (config.num_train_epochs, config.save_steps, config.lr_scheduler_type.value) == (2, 2, "cosine")
    assert config.gradient_accumulation_steps == 1 and config.per_device_train_batch_size == 8


@pytest.mark.parametrize(
    "training, message",
    [
        (
            {"reprot_to": ["wandb"]},
            "training.reprot_to: unknown key: neither a study setting nor a trl.SFTConfig field; "
            "did you mean 'report_to'?",
        ),
        ({"logging_steps": "often"}, "training.logging_steps: 'often' is not a valid float"),
        ({"num_train_epochs": 3}, "training.num_train_epochs: set it as training.epochs"),
        ({"output_dir": "/elsewhere"}, "training.output_dir: set by the training workload"),
        ({"fp16": True}, "training: trl.SFTConfig rejects these settings: At most one of fp16 and bf16"),
    ],
)
def test_training_keys_are_checked_by_trl_at_load(write_recipe, training, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe({"training": training}))
    assert message in str(err.value)


def test_lr_scheduler_choices_are_transformers_scheduler_types():
    from typing import get_args

    from transformers.trainer_utils import SchedulerType

    from resources.recipe import SchedulerType as RecipeSchedulers

    assert set(get_args(RecipeSchedulers)) == {s.value for s in SchedulerType}
