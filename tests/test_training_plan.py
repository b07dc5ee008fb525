"""The memory plan as the recipe uses it: validation refuses what cannot fit, full.yaml fits its
stated cluster, and the plan command prints every student."""

from pathlib import Path

import pytest
import yaml

from recipe_schema.errors import RecipeError
from recipe_schema.loading import load_recipe, parse_recipe
from recipe_schema.student_plans import PlanProblem, memory_plan_rows, run_layout
from recipe_schema.training_plan import plan_text

ROOT = Path(__file__).resolve().parent.parent
FULL = ROOT / "recipes" / "full.yaml"


def full_with(**training) -> dict:
    data = yaml.safe_load(FULL.read_text())
    data["training"].update(training)
    return data


def test_full_recipe_fits_every_student_on_one_node_of_8_x_80_gib():
    recipe = load_recipe(FULL, check_files=False)
    rows = {row["student"]: row for row in memory_plan_rows(recipe)}
    assert set(rows) == {"qwen3-1.7b-base", "qwen3-4b-base", "qwen3-8b-base", "qwen3-14b-base"}
    assert all(row["fits"].startswith("yes") for row in rows.values())
    assert [rows[s]["parallelism"] for s in rows] == ["ddp", "ddp", "fsdp", "fsdp"]


@pytest.mark.parametrize(
    "training,message",
    [
        (
            {"parallelism": "ddp", "cluster": {"gpus": 1, "gpus_per_node": 8, "gpu_memory_gib": 80}},
            r"training\.students\[2\]: qwen3-8b-base: about 133 GiB per GPU with ddp on 1 × 80 GiB; "
            r"fsdp over 4 GPUs needs about 50 GiB",
        ),
        (
            {"parallelism": "fsdp", "fused_loss": False, "cluster": {"gpus": 8, "gpu_memory_gib": 80}},
            r"training\.students\[3\]: qwen3-14b-base: about 89 GiB per GPU with fsdp on 8 × 80 GiB; "
            r"fsdp over 16 GPUs needs about \d+ GiB",
        ),
        ({"cluster": {"gpus": 12, "gpus_per_node": 8}}, r"training\.cluster\.gpus: 12 GPUs over nodes of 8"),
        (
            {"cluster": {"gpus": 8, "gpu_memory_gib": 24}},
            r"training\.students\[\d\]: qwen3-[\d.]+b-base: about \d+ GiB per GPU with fsdp on 8 × 24 GiB",
        ),
    ],
)
def test_a_run_that_cannot_fit_fails_at_load_naming_the_student_and_the_numbers(training, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(full_with(**training), check_files=False)


def test_a_student_without_a_known_config_cannot_be_planned():
    data = full_with()
    data["models"]["qwen3-14b-base"]["path"] = "Qwen/Qwen3-14B-Instruct-Unknown"
    with pytest.raises(RecipeError, match=r"training\.students\[3\]: qwen3-14b-base: cannot plan its memory"):
        parse_recipe(data, check_files=False)


def test_without_a_cluster_nothing_is_planned():
    data = full_with()
    del data["training"]["cluster"]
    recipe = parse_recipe(data, check_files=False)
    assert all(row["plan"].startswith("not planned") for row in memory_plan_rows(recipe))


def test_the_plan_text_shows_every_student():
    out = plan_text(load_recipe(FULL, check_files=False))
    assert "8 GPU(s) per run, 8 per node, 80 GiB each" in out
    for student in ("qwen3-1.7b-base", "qwen3-4b-base", "qwen3-8b-base", "qwen3-14b-base"):
        assert student in out
    assert "NO" not in out


def test_the_run_is_planned_again_for_the_gpus_the_launcher_grants():
    recipe = load_recipe(FULL, check_files=False)
    assert run_layout(recipe, "qwen3-8b-base")[:2] == ("fsdp", 8)
    parallelism, gpus, plan = run_layout(recipe, "qwen3-8b-base", gpus=16)
    assert (parallelism, gpus, plan["gpus"], plan["fits"]) == ("fsdp", 16, 16, True)
    with pytest.raises(PlanProblem, match=r"qwen3-14b-base: the launcher gives training 1 GPU\(s\): about 2\d\d GiB"):
        run_layout(recipe, "qwen3-14b-base", gpus=1)


def test_without_a_cluster_shape_one_gpu_and_ddp():
    data = full_with()
    del data["training"]["cluster"]
    assert run_layout(parse_recipe(data, check_files=False), "qwen3-14b-base") == ("ddp", 1, None)
