"""Partitions, derived from the recipe: adding a student to the recipe adds runs to backfill."""


from dagster import DynamicPartitionsDefinition, MultiPartitionsDefinition, StaticPartitionsDefinition

from resources.recipe import Recipe

CHECKPOINTS = DynamicPartitionsDefinition(name="checkpoints")
BASE_STEP = 0


def model_partitions(recipe: Recipe) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(list(recipe.models))


def shard_keys(recipe: Recipe) -> list[str]:
    return [shard_key(i) for i in range(recipe.generation.shards)]


def shard_partitions(recipe: Recipe) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(shard_keys(recipe))


def run_partitions(recipe: Recipe) -> MultiPartitionsDefinition:
    return MultiPartitionsDefinition(
        {
            "student": StaticPartitionsDefinition(recipe.training.students),
            "dataset": StaticPartitionsDefinition(recipe.training.datasets),
        }
    )


def shard_key(index: int) -> str:
    return f"shard-{index:03d}"


def shard_index(key: str) -> int:
    return int(key.removeprefix("shard-"))


def recipe_checkpoints(instance, recipe: Recipe) -> list[str]:
    """The registered checkpoint partitions that belong to this recipe's runs (the partition set
    is instance-wide, shared with other recipes)."""
    return [c for c in instance.get_dynamic_partitions(CHECKPOINTS.name) if parse_checkpoint_key(c)[0] in recipe.runs]


def parse_checkpoint_key(key: str) -> tuple[str, int]:
    """``<student>__<dataset>@step-00040`` -> (run, 40)."""
    run, sep, step = key.rpartition("@step-")
    if not sep or not step.isdigit():
        raise ValueError(f"not a checkpoint key: {key!r} (expected <run>@step-NNNNN)")
    return run, int(step)
