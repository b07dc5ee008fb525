"""A shard with no queries (filtering left fewer queries than shards) is valid: its traces and
verdicts are empty tables, materialized without an error and without a retry."""

import polars as pl
from dagster import DagsterInstance, materialize

from assets import generation, queries
from assets.keys import Keys
from recipe_schema.recipe import load_recipe
from resources.launchers.compute import LocalSubprocessLauncher
from resources.llm import VllmOfflineEndpoint
from resources.storage import LocalStorage
from workloads.programs.generate import TRACE_SCHEMA

COUNTDOWN_ONLY = {"name": "empty-shard", "queries": {"countdown": {"size": 4}}, "generation": {"shards": 2}}


def test_an_empty_shard_materializes_empty_tables(tmp_path, write_recipe):
    recipe = load_recipe(write_recipe(COUNTDOWN_ONLY, drop=("queries.math", "generation.teachers.math")))
    storage = LocalStorage(root=str(tmp_path / "storage"))
    resources = {"storage": storage, "launcher": LocalSubprocessLauncher(), "teacher_endpoint": VllmOfflineEndpoint()}
    assets = queries.build(recipe) + generation.build(recipe)
    keys = Keys(recipe)
    with DagsterInstance.ephemeral() as instance:
        assert materialize(assets, instance=instance, resources=resources, selection=["raw_queries"]).success
        # Every query lands in the first shard, as when dropped duplicates leave fewer queries than shards.
        table = storage.read_table(keys.queries())
        storage.write_table(keys.queries(), table.with_columns(pl.lit(0, dtype=table["shard"].dtype).alias("shard")))
        result = materialize(
            assets,
            instance=instance,
            resources=resources,
            partition_key="shard-001",
            selection=["teacher_traces", "verdicts"],
        )

    assert result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    traces = storage.read_table(keys.traces("shard-001"))
    assert traces.height == 0 and traces.schema == pl.Schema(TRACE_SCHEMA)
    assert storage.read_table(keys.verdicts("shard-001")).height == 0
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["shard"].value == "shard-001"
