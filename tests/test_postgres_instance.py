"""The cluster environment's Dagster instance on a real PostgreSQL server on 127.0.0.1 (started by
the test from the machine's PostgreSQL binaries): runs, event logs and the partitions sensors
register persist there, visible to every process of the deployment."""

import os

import pytest

from recipe_schema.recipe import PROJECT_ROOT
from tests.postgres_server import running_postgres

INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster-instance.yaml"


@pytest.fixture(scope="module")
def postgres():
    try:
        server = running_postgres()
        settings = server.__enter__()
    except FileNotFoundError as err:
        # scripts/test.sh installs Debian's postgresql, so in CI a missing server is a setup failure.
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    try:
        yield settings
    finally:
        server.__exit__(None, None, None)


def test_runs_event_logs_and_partitions_live_in_postgres(postgres, tmp_path, monkeypatch):
    import psycopg2
    from dagster import DagsterInstance, Definitions, asset, define_asset_job

    home = tmp_path / "home"
    home.mkdir()
    config = INSTANCE_YAML.read_text()
    # Step logs go to the object store in the cluster; this test is about the database.
    config = config.split("compute_logs:")[0] + "concurrency:" + config.split("concurrency:")[1]
    (home / "dagster.yaml").write_text(config)
    for name, value in {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres["host"],
        "DAGSTER_PG_PORT": str(postgres["port"]),
        "DAGSTER_PG_USER": postgres["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": postgres["db"],
    }.items():
        monkeypatch.setenv(name, value)

    @asset
    def probe() -> int:
        return 42

    job = Definitions(assets=[probe], jobs=[define_asset_job("probe_job", [probe])]).resolve_job_def("probe_job")
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = job.execute_in_process(instance=instance)
        assert result.success
        instance.add_dynamic_partitions("checkpoints", ["run@step-00010"])

    # A fresh instance (another process in the cluster) sees the same state.
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(result.run_id).is_success
        assert instance.get_latest_materialization_event(probe.key) is not None
        assert instance.get_dynamic_partitions("checkpoints") == ["run@step-00010"]

    with psycopg2.connect(host=postgres["host"], port=postgres["port"], user="dagster", dbname="study") as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone()[0] > 5
        cur.execute("SELECT count(*) FROM dynamic_partitions WHERE partition = 'run@step-00010'")
        assert cur.fetchone()[0] == 1


def test_checkpoints_the_sensor_registers_persist_in_postgres(postgres, tmp_path, monkeypatch, small_recipe):
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions

    home = tmp_path / "home"
    home.mkdir()
    config = INSTANCE_YAML.read_text()
    (home / "dagster.yaml").write_text(config.split("compute_logs:")[0])
    for name, value in {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres["host"],
        "DAGSTER_PG_PORT": str(postgres["port"]),
        "DAGSTER_PG_USER": postgres["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": postgres["db"],
        "STUDY_STORAGE_DIR": str(tmp_path / "storage"),
    }.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(small_recipe, "local")
    sensor = defs.get_sensor_def("new_checkpoints_sensor")
    with DagsterInstance.get() as instance:
        from dagster import build_sensor_context

        manifest = tmp_path / "storage" / small_recipe.name / "training" / small_recipe.runs[0] / "checkpoints.jsonl"
        manifest.parent.mkdir(parents=True)
        manifest.write_text('{"step": 2, "uri": "x"}\n')
        result = sensor(build_sensor_context(instance=instance, resources={"storage": defs.resources["storage"]}))
        assert len(result.run_requests) == 2
        (added,) = result.dynamic_partitions_requests
        instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
    with DagsterInstance.get() as instance:
        assert len(instance.get_dynamic_partitions("checkpoints")) >= 2
