import pytest
from dagster import AssetKey

from jobs.study import JOB_ORDER
from orchestration.definitions import build_definitions
from orchestration.environments import resources_for


@pytest.fixture(scope="module")
def defs():
    from recipe_schema.recipe import load_recipe
    from tests.conftest import SMALL_RECIPE

    return build_definitions(load_recipe(SMALL_RECIPE), "local")


def test_every_job_resolves(defs):
    for name in JOB_ORDER:
        assert defs.resolve_job_def(name).name == name


def test_every_stage_has_its_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "models",
        "queries",
        "generation",
        "verification",
        "datasets",
        "training",
        "evaluation",
        "analysis",
    }


def test_every_asset_names_the_technology_it_runs_on(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        kinds = {tag.removeprefix("dagster/kind/") for tag in graph.get(key).tags if tag.startswith("dagster/kind/")}
        assert kinds, f"{key.to_user_string()} has no kinds"


def test_lineage_runs_from_queries_to_the_report(defs):
    graph = defs.resolve_asset_graph()
    upstream = graph.get(AssetKey("training_dynamics")).parent_keys
    benchmarks = [key for key in graph.get_all_asset_keys() if key.path[0] == "eval_cells"]
    assert len(benchmarks) == 5  # one asset per benchmark of the small recipe
    assert set(benchmarks) <= upstream
    assert all(AssetKey("sft_run") in graph.get(key).parent_keys for key in benchmarks)
    assert AssetKey("countdown_cot_dataset") in graph.get(AssetKey("sft_run")).parent_keys
    assert AssetKey("verdicts") in graph.get(AssetKey("countdown_cot_dataset")).parent_keys
    assert AssetKey("raw_queries") in graph.get(AssetKey("teacher_traces")).parent_keys


def test_partitions_follow_the_recipe(defs):
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("teacher_traces")).partitions_def.get_partition_keys() == ["shard-000", "shard-001"]
    runs = graph.get(AssetKey("sft_run")).partitions_def.get_partition_keys()
    assert [str(k) for k in runs] == ["countdown-cot|smollm2-135m"]


def test_unknown_environment_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"STUDY_ENV='mars'.*\['cluster', 'local'\]"):
        resources_for("mars")


LAUNCHER_YAML = "image: registry.example.com/study/workloads:0.1.0\nnamespace: study\nenv_from_secrets: [study-s3]\n"


def test_cluster_environment_names_what_it_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("STUDY_LAUNCHER_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the environment variable STUDY_LAUNCHER_CONFIG"):
        resources_for("cluster")
    (tmp_path / "launcher.yaml").write_text(LAUNCHER_YAML)
    monkeypatch.setenv("STUDY_LAUNCHER_CONFIG", str(tmp_path / "launcher.yaml"))
    monkeypatch.delenv("STUDY_S3_BUCKET", raising=False)
    with pytest.raises(ValueError, match="STUDY_S3_BUCKET"):
        resources_for("cluster")


def test_environments_do_not_leak_into_each_other(monkeypatch, tmp_path):
    from resources.launchers.compute import KubernetesLauncher, LocalSubprocessLauncher
    from resources.storage import LocalStorage, S3Storage

    (tmp_path / "launcher.yaml").write_text(LAUNCHER_YAML)
    monkeypatch.setenv("STUDY_LAUNCHER_CONFIG", str(tmp_path / "launcher.yaml"))
    monkeypatch.setenv("STUDY_S3_BUCKET", "study-bucket")
    monkeypatch.setenv("STUDY_STORAGE_DIR", str(tmp_path / "local"))
    cluster, local = resources_for("cluster"), resources_for("local")
    assert isinstance(cluster["storage"], S3Storage) and cluster["storage"].uri("x").startswith("s3://study-bucket/")
    assert isinstance(cluster["launcher"], KubernetesLauncher) and cluster["launcher"].env_from_secrets == ["study-s3"]
    assert str(tmp_path) not in repr(cluster)
    assert isinstance(local["storage"], LocalStorage) and isinstance(local["launcher"], LocalSubprocessLauncher)
    assert "s3://" not in local["storage"].uri("x") and "study-bucket" not in repr(local)


def test_cluster_definitions_load_with_every_job(monkeypatch, tmp_path):
    from recipe_schema.recipe import load_recipe
    from tests.conftest import FULL_RECIPE

    (tmp_path / "launcher.yaml").write_text(LAUNCHER_YAML)
    monkeypatch.setenv("STUDY_LAUNCHER_CONFIG", str(tmp_path / "launcher.yaml"))
    monkeypatch.setenv("STUDY_S3_BUCKET", "study-bucket")
    defs = build_definitions(load_recipe(FULL_RECIPE), "cluster")
    for name in JOB_ORDER:
        assert defs.resolve_job_def(name).name == name


def test_the_deployments_launcher_config_builds_a_launcher():
    import yaml

    from recipe_schema.recipe import PROJECT_ROOT
    from resources.launchers.compute import KubernetesLauncher

    configmap = yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "launcher-configmap.yaml").read_text())
    launcher = KubernetesLauncher(**yaml.safe_load(configmap["data"]["launcher.yaml"]))
    assert launcher.command("train", launcher.gpus_for("train", 1))[:3] == ["torchrun", "--nproc-per-node", "8"]
    assert launcher.gpus_for("verify", 1) == 0
    values = yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "orchestration.definitions"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["STUDY_ENV"] == "cluster" and not any("SECRET" in k or "PASSWORD" in k for k in env)


def test_the_teacher_switches_to_an_http_endpoint_without_carrying_a_key(monkeypatch):
    from resources.llm import OpenAICompatibleEndpoint, VllmOfflineEndpoint

    assert isinstance(resources_for("local")["teacher_endpoint"], VllmOfflineEndpoint)
    monkeypatch.setenv("STUDY_TEACHER_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("STUDY_TEACHER_API_KEY_ENV", "TEACHER_KEY")
    monkeypatch.setenv("TEACHER_KEY", "sk-not-to-be-seen")
    endpoint = resources_for("local")["teacher_endpoint"]
    assert isinstance(endpoint, OpenAICompatibleEndpoint) and endpoint.api_key_env == "TEACHER_KEY"
    settings = endpoint.settings(model="/models/teacher", max_model_len=2048)
    assert "sk-not-to-be-seen" not in repr(endpoint) + repr(settings)


def test_partition_range_tags_are_the_ones_dagster_reads():
    # The names are written out in assets/partitions.py (Dagster exports no public constant): a
    # Dagster upgrade that renames them would make range runs silently target one partition.
    from dagster._core.storage import tags

    from assets.partitions import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    assert ASSET_PARTITION_RANGE_START_TAG == tags.ASSET_PARTITION_RANGE_START_TAG
    assert ASSET_PARTITION_RANGE_END_TAG == tags.ASSET_PARTITION_RANGE_END_TAG
