"""Recipe + environment -> Definitions, without loading any recipe at import (the code location's
module, orchestration/definitions.py, loads the active one; the command line loads the one it is given)."""

from __future__ import annotations

from dagster import Definitions

from assets import analysis, datasets, evaluation, generation, models, queries, training
from jobs.jobs import build_jobs
from jobs.schedules import build_eval_refresh_schedule
from jobs.sensors import build_checkpoint_sensor, build_refinement_sensor
from orchestration.environments import resources_for
from recipe_schema.recipe import Recipe


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
