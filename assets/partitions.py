"""Partitions, derived from the recipe: adding a student to the recipe adds runs to backfill."""

from dagster import DynamicPartitionsDefinition, MultiPartitionsDefinition, StaticPartitionsDefinition

from recipe_schema.recipe import Recipe
from workloads.core.naming import parse_checkpoint_key
from workloads.planning.eval_plan import in_plan

CHECKPOINTS = DynamicPartitionsDefinition(name="checkpoints")
# The run tags with which Dagster's single-run backfills name a range of partitions; a run
# request carrying them targets the whole range (there is no public constant for them).
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
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


def cell_id(checkpoint: str, benchmark: str) -> str:
    """A cell's name in cursors, tables and tags: ``benchmark|checkpoint``."""
    return f"{benchmark}|{checkpoint}"


def split_cell_id(cell: str) -> tuple[str, str]:
    """(checkpoint, benchmark) of a ``cell_id``."""
    benchmark, checkpoint = cell.split("|", 1)
    return checkpoint, benchmark


def checkpoint_range_tags(first_checkpoint: str, last_checkpoint: str) -> dict:
    """Run tags for the checkpoints from ``first_checkpoint`` to ``last_checkpoint`` (in
    registration order): one run, so each checkpoint's cells share one warm engine and a judge
    server starts once for all of them."""
    return {ASSET_PARTITION_RANGE_START_TAG: first_checkpoint, ASSET_PARTITION_RANGE_END_TAG: last_checkpoint}


def contiguous_groups(order: list[str], chosen) -> list[list[str]]:
    """``chosen`` split into maximal groups of neighbours in ``order`` (a partition range covers
    everything between its ends, so only neighbours can share one)."""
    wanted = set(chosen)
    groups, current = [], []
    for key in order:
        if key in wanted:
            current.append(key)
        elif current:
            groups.append(current)
            current = []
    return groups + [current] if current else groups


def shard_key(index: int) -> str:
    return f"shard-{index:03d}"


def shard_index(key: str) -> int:
    return int(key.removeprefix("shard-"))


def recipe_checkpoints(instance, recipe: Recipe) -> list[str]:
    """The registered checkpoint partitions that belong to this recipe's runs (the partition set
    is instance-wide, shared with other recipes)."""
    return [c for c in instance.get_dynamic_partitions(CHECKPOINTS.name) if parse_checkpoint_key(c)[0] in recipe.runs]


def planned_benchmarks(recipe: Recipe, checkpoint: str) -> list[str]:
    """The benchmarks (in recipe order) whose evaluation plan includes this checkpoint."""
    _, step = parse_checkpoint_key(checkpoint)
    ev = recipe.evaluation
    return [b for b in ev.benchmarks if in_plan(ev.plan_of(b), step, recipe.training.save_every)]
