"""The one composition root: recipe + environment -> Definitions."""

from __future__ import annotations

import os

from dagster import Definitions

from assets import analysis, datasets, evaluation, generation, models, queries, training
from jobs.refinement import build_refinement_sensor
from jobs.study import build_checkpoint_sensor, build_eval_refresh_schedule, build_jobs
from orchestration.environments import resources_for
from recipe_schema.recipe import PROJECT_ROOT, Recipe, load_recipe

RECIPE_ENV = "STUDY_RECIPE"
DEFAULT_RECIPE = PROJECT_ROOT / "recipes" / "small.yaml"


def build_definitions(recipe: Recipe, env: str | None = None) -> Definitions:
    # Each stage module builds its assets and their checks from the recipe.
    stages = (models, queries, generation, datasets, training, evaluation, analysis)
    return Definitions(
        assets=[definition for stage in stages for definition in stage.build(recipe)],
        jobs=build_jobs(recipe),
        sensors=[build_checkpoint_sensor(recipe), build_refinement_sensor(recipe)],
        schedules=[build_eval_refresh_schedule(recipe)],
        resources=resources_for(env),
    )


def active_recipe() -> Recipe:
    return load_recipe(os.environ.get(RECIPE_ENV) or DEFAULT_RECIPE)


defs = build_definitions(active_recipe())
