"""The one composition root: recipe + environment -> Definitions."""

from __future__ import annotations

import os

from dagster import Definitions

from assets import analysis, datasets, evaluation, generation, models, queries, training
from jobs.study import build_checkpoint_sensor, build_eval_refresh_schedule, build_jobs
from orchestration.environments import resources_for
from resources.recipe import PROJECT_ROOT, Recipe, load_recipe

RECIPE_ENV = "STUDY_RECIPE"
DEFAULT_RECIPE = PROJECT_ROOT / "recipes" / "small.yaml"


def build_definitions(recipe: Recipe, env: str | None = None) -> Definitions:
    assets = []
    for module in (models, queries, generation, datasets, training, evaluation, analysis):
        assets += module.build(recipe)
    return Definitions(
        assets=[a for a in assets if not _is_check(a)],
        asset_checks=[a for a in assets if _is_check(a)],
        jobs=build_jobs(recipe),
        sensors=[build_checkpoint_sensor(recipe)],
        schedules=[build_eval_refresh_schedule(recipe)],
        resources=resources_for(env),
    )


def _is_check(definition) -> bool:
    from dagster import AssetChecksDefinition

    return isinstance(definition, AssetChecksDefinition)


def active_recipe() -> Recipe:
    return load_recipe(os.environ.get(RECIPE_ENV) or DEFAULT_RECIPE)


defs = build_definitions(active_recipe())
