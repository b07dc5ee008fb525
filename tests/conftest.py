from pathlib import Path

import pytest

from resources.recipe import PROJECT_ROOT, load_recipe

SMALL_RECIPE = PROJECT_ROOT / "recipes" / "small.yaml"
FULL_RECIPE = PROJECT_ROOT / "recipes" / "full.yaml"


@pytest.fixture
def small_recipe():
    return load_recipe(SMALL_RECIPE)


@pytest.fixture
def write_recipe(tmp_path):
    """Writes a recipe YAML (the small one with overrides applied) and returns its path."""
    import yaml

    def write(overrides: dict | None = None, *, drop: tuple[str, ...] = ()) -> Path:
        data = yaml.safe_load(SMALL_RECIPE.read_text())
        for dotted in drop:
            *parents, last = dotted.split(".")
            node = data
            for p in parents:
                node = node[p]
            del node[last]
        path = tmp_path / "recipe.yaml"
        merged = _merge(data, overrides or {})
        path.write_text(yaml.safe_dump(merged))
        return path

    return write


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
