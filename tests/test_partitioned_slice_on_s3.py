"""A partitioned slice of the graph (queries, then one shard's traces and verdicts) materialized into
S3 (moto on 127.0.0.1) through real workload subprocesses, with a launch that fails once and is
retried by the assets' retry policy without duplicating anything."""

from dagster import DagsterInstance, materialize
from dagster_aws.s3 import S3Resource

from assets import generation, queries
from assets.keys import Keys
from recipe_schema.recipe import load_recipe
from resources.launchers.compute import LocalSubprocessLauncher
from resources.llm import VllmOfflineEndpoint
from resources.storage import S3Storage

COUNTDOWN_ONLY = {"name": "s3-slice", "queries": {"countdown": {"size": 6}}, "generation": {"shards": 2}}


FAILED_ONCE: list[str] = []  # outside the resource: Dagster may build a resource more than once


class FlakyLauncher(LocalSubprocessLauncher):
    """Fails the first launch of each workload, like an evicted pod, then launches normally."""

    def run(self, context, workload, extras, *, gpus=None):
        if workload not in FAILED_ONCE:
            FAILED_ONCE.append(workload)
            raise RuntimeError(f"pod for {workload} evicted")
        return super().run(context, workload, extras, gpus=gpus)


def test_a_shard_materializes_into_s3_and_survives_a_failed_launch(s3_server, write_recipe):
    FAILED_ONCE.clear()
    recipe = load_recipe(write_recipe(COUNTDOWN_ONLY, drop=("queries.math", "generation.teachers.math")))
    s3 = S3Resource(
        endpoint_url=s3_server["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    storage = S3Storage(s3=s3, bucket=s3_server["bucket"], prefix="cluster")
    resources = {"storage": storage, "launcher": FlakyLauncher(), "teacher_endpoint": VllmOfflineEndpoint()}
    assets = queries.build(recipe) + generation.build(recipe)
    keys = Keys(recipe)
    with DagsterInstance.ephemeral() as instance:
        assert materialize(assets, instance=instance, resources=resources, selection=["raw_queries"]).success
        result = materialize(
            assets,
            instance=instance,
            resources=resources,
            partition_key="shard-000",
            selection=["teacher_traces", "verdicts"],
        )
        assert result.success
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert len(retries) == 2, "each workload step failed once and was retried"

    shard = storage.read_table(keys.shard_queries("shard-000"))
    traces = storage.read_table(keys.traces("shard-000"))
    verdicts = storage.read_table(keys.verdicts("shard-000"))
    assert shard.height > 0 and sorted(traces["query_id"]) == sorted(shard["query_id"])
    assert traces.select("query_id", "sample_idx").is_duplicated().sum() == 0
    assert verdicts.height == traces.height and verdicts["correct"].all()
    assert storage.uri(keys.traces("shard-000")).startswith(f"s3://{s3_server['bucket']}/cluster/s3-slice/")
