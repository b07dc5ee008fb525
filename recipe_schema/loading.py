"""Loading a recipe: a YAML file (recipe_schema.yaml_loading) or a mapping into ``Recipe``, with
every problem as a ``RecipeError`` naming the file and the field's path."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from recipe_schema.errors import FieldProblem, RecipeError, describe
from recipe_schema.recipe import Recipe
from recipe_schema.yaml_loading import YamlProblem, read_yaml


def parse_recipe(data: dict, *, check_files: bool = True) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError("a recipe is a YAML mapping")
    try:
        recipe = Recipe.model_validate(data)
        if check_files:
            recipe.check_files()
    except ValidationError as err:
        raise RecipeError("\n".join(describe(e, Recipe) for e in err.errors(include_url=False))) from None
    except FieldProblem as problem:
        raise RecipeError(f"{problem.where}: {problem}") from None
    return recipe


def load_recipe(path: str | Path, *, check_files: bool = True) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: {path}")
    try:
        return parse_recipe(read_yaml(path), check_files=check_files)
    except (RecipeError, YamlProblem) as err:
        raise RecipeError("\n".join(f"{path.name}: {line}" for line in str(err).splitlines())) from None
