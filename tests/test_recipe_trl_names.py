"""A training section may use TRL's own names (as TRL's and open-r1's recipes do) for the study's
settings; it loads to the same recipe, and a setting given in both spellings is an error naming both."""

import pytest
import yaml

from recipe_schema.errors import RecipeError
from recipe_schema.loading import parse_recipe
from recipe_schema.trl_settings import TRL_NAMES
from tests.conftest import SMALL_RECIPE

# The study's settings and a value for each that differs from the small recipe's.
STUDY_VALUES = {
    "lr_scheduler": "linear",
    "epochs": 3,
    "per_device_batch_size": 4,
    "save_every": 5,
    "max_length": 1024,
}
# Settings TRL and the study spell alike: they load as they are.
SHARED = {"learning_rate": 1e-4, "warmup_ratio": 0.05, "weight_decay": 0.1, "max_grad_norm": 0.5}


def _training(**settings) -> dict:
    data = yaml.safe_load(SMALL_RECIPE.read_text())
    for name in (*STUDY_VALUES, "global_batch_size"):
        data["training"].pop(name, None)
    data["training"].update(settings)
    return data


def test_every_trl_name_maps_to_a_study_setting():
    assert set(TRL_NAMES.values()) == set(STUDY_VALUES)


def test_a_recipe_in_trl_names_equals_the_study_named_one():
    trl_named = {trl: STUDY_VALUES[ours] for trl, ours in TRL_NAMES.items() if trl != "max_seq_length"}
    trl_named["max_length"] = STUDY_VALUES["max_length"]
    study = parse_recipe(_training(**STUDY_VALUES, **SHARED, global_batch_size=8), check_files=False)
    trl = parse_recipe(_training(**trl_named, **SHARED, gradient_accumulation_steps=2), check_files=False)
    assert trl.training == study.training
    assert trl.training.model_extra == {}


@pytest.mark.parametrize(("trl_name", "ours"), sorted(TRL_NAMES.items()))
def test_each_trl_name_alone_sets_its_study_setting(trl_name, ours):
    recipe = parse_recipe(_training(**{trl_name: STUDY_VALUES[ours]}, global_batch_size=8), check_files=False)
    assert getattr(recipe.training, ours) == STUDY_VALUES[ours]


@pytest.mark.parametrize(("trl_name", "ours"), sorted(TRL_NAMES.items()))
def test_both_spellings_of_one_setting_name_both(trl_name, ours):
    data = _training(**{trl_name: STUDY_VALUES[ours], ours: STUDY_VALUES[ours]}, global_batch_size=8)
    with pytest.raises(RecipeError, match=f"training.{trl_name}: {trl_name} \\(TRL's name\\) and {ours} \\(the study"):
        parse_recipe(data, check_files=False)


def test_gradient_accumulation_becomes_the_global_batch():
    data = _training(per_device_train_batch_size=2, gradient_accumulation_steps=4)
    assert parse_recipe(data, check_files=False).training.global_batch_size == 8
    data["training"]["global_batch_size"] = 8
    with pytest.raises(RecipeError, match="gradient_accumulation_steps \\(TRL's\\) and global_batch_size"):
        parse_recipe(data, check_files=False)
    data = _training(gradient_accumulation_steps=0)
    with pytest.raises(RecipeError, match="training.gradient_accumulation_steps: 0 is not a positive integer"):
        parse_recipe(data, check_files=False)
