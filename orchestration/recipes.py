"""Which recipe a command runs when none is named: the same for the code location, the UI and
every ``study`` subcommand ($STUDY_RECIPE, else the small CPU recipe)."""

from __future__ import annotations

import os
from pathlib import Path

from recipe_schema.data_files import PROJECT_ROOT

RECIPE_ENV = "STUDY_RECIPE"
RECIPES_DIR = PROJECT_ROOT / "recipes"
DEFAULT_RECIPE = RECIPES_DIR / "small.yaml"
NOT_RECIPES = {"throughput.yaml"}  # the cost estimate's table lives beside the recipes


def default_recipe() -> Path:
    return Path(os.environ.get(RECIPE_ENV) or DEFAULT_RECIPE)


def shipped_recipes() -> list[str]:
    """The recipes that come with the project, as paths relative to the project root."""
    if not RECIPES_DIR.is_dir():
        return []
    return [f"recipes/{p.name}" for p in sorted(RECIPES_DIR.glob("*.yaml")) if p.name not in NOT_RECIPES]
