"""The code location: the definitions of the active recipe ($STUDY_RECIPE, else the small one),
built by the one composition root, orchestration/composition.py."""

from __future__ import annotations

from orchestration.composition import build_definitions
from orchestration.recipes import default_recipe
from recipe_schema.loading import load_recipe
from recipe_schema.recipe import Recipe

__all__ = ["active_recipe", "build_definitions", "defs"]


def active_recipe() -> Recipe:
    return load_recipe(default_recipe())


defs = build_definitions(active_recipe())
