"""The cluster's Dagster instance file and the launcher ConfigMap, checked by what reads them:
deploy/dagster-instance.yaml through Dagster's own instance loading (the instance schema, then each
configured class's schema: dagster-postgres storage, dagster-aws S3 compute logs) with the
environment the Helm deployment provides; the ConfigMap's launcher.yaml through the launcher's
settings model, which forbids unknown keys. A misspelt key fails each."""

import importlib

import kubernetes_validate
import pytest
import yaml

from recipe_schema.recipe import PROJECT_ROOT
from resources.launchers.compute import KubernetesLauncher

INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster-instance.yaml"
CONFIGMAP_YAML = PROJECT_ROOT / "deploy" / "helm" / "launcher-configmap.yaml"
# What the deployment sets from its Secrets and env (docs/cluster.md); values are placeholders.
DEPLOYMENT_ENV = {
    "DAGSTER_PG_HOST": "postgres.study.svc.cluster.local",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-password",
    "DAGSTER_PG_DB": "dagster",
    "STUDY_S3_BUCKET": "study-artifacts",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def deployment_env(monkeypatch):
    for name, value in DEPLOYMENT_ENV.items():
        monkeypatch.setenv(name, value)


def load_instance(tmp_path, config: dict):
    """Dagster's own path from a dagster.yaml to an InstanceRef, then each configured class's config
    validated and its env sources resolved exactly as ``ConfigurableClassData.rehydrate`` does,
    stopping short of connecting to PostgreSQL. Returns {field: (class, resolved config)}."""
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.ref import InstanceRef

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    ref = InstanceRef.from_dir(str(tmp_path))
    resolved = {}
    for field in ("storage_data", "compute_logs_data", "run_coordinator_data", "run_launcher_data"):
        data = getattr(ref, field)
        klass = getattr(importlib.import_module(data.module_name), data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        if not result.success:
            where = f"{field}: {data.module_name}.{data.class_name}"
            raise DagsterInvalidConfigError(where, result.errors, data.config_dict)
        resolved[field] = (klass, result.value)
    return ref, resolved


def deployed_instance_config() -> dict:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def test_the_instance_file_loads_through_dagsters_validation(tmp_path, deployment_env):
    ref, resolved = load_instance(tmp_path, deployed_instance_config())
    storage_class, storage = resolved["storage_data"]
    assert storage_class.__name__ == "DagsterPostgresStorage"
    assert storage["postgres_db"]["port"] == 5432
    assert storage["postgres_db"]["hostname"] == DEPLOYMENT_ENV["DAGSTER_PG_HOST"]
    logs_class, logs = resolved["compute_logs_data"]
    assert logs_class.__name__ == "S3ComputeLogManager"
    assert logs["bucket"] == "study-artifacts" and logs["endpoint_url"] == DEPLOYMENT_ENV["AWS_ENDPOINT_URL"]
    assert ref.settings["concurrency"]["pools"]["default_limit"] == 1


def test_the_compute_log_manager_is_built_from_the_instance_file(tmp_path, deployment_env):
    ref, _ = load_instance(tmp_path, deployed_instance_config())
    manager = ref.compute_logs_data.rehydrate()  # builds the boto3 client; no request is sent
    assert type(manager).__name__ == "S3ComputeLogManager"


def test_a_missing_deployment_variable_is_named(tmp_path, deployment_env, monkeypatch):
    from dagster._core.errors import DagsterInvalidConfigError

    monkeypatch.delenv("DAGSTER_PG_PORT")
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_PG_PORT"):
        load_instance(tmp_path, deployed_instance_config())


def _misspell(path: tuple[str, ...], wrong: str) -> dict:
    config = deployed_instance_config()
    node = config
    for key in path[:-1]:
        node = node[key]
    node[wrong] = node.pop(path[-1])
    return config


@pytest.mark.parametrize(
    "path, wrong",
    [
        (("compute_logs",), "compute_log"),  # the instance schema
        (("concurrency", "pools", "default_limit"), "default_limt"),  # the instance schema, nested
        (("storage", "postgres", "postgres_db", "hostname"), "host"),  # dagster-postgres' schema
        (("compute_logs", "config", "bucket"), "bucket_name"),  # dagster-aws' schema
    ],
)
def test_a_misspelt_instance_key_fails(tmp_path, deployment_env, path, wrong):
    from dagster._core.errors import DagsterInvalidConfigError

    with pytest.raises(DagsterInvalidConfigError, match=wrong):
        load_instance(tmp_path, _misspell(path, wrong))


# ---- the launcher ConfigMap ----------------------------------------------------------------------


def configmap() -> dict:
    return yaml.safe_load(CONFIGMAP_YAML.read_text())


def test_the_configmap_is_a_valid_configmap_with_valid_launcher_settings():
    manifest = configmap()
    kubernetes_validate.validate(manifest, kubernetes_validate.utils.latest_version(), strict=True)
    settings = yaml.safe_load(manifest["data"]["launcher.yaml"])
    launcher = KubernetesLauncher(**settings)
    # Every key written is a field the launcher reads (none dropped on the way in).
    assert set(settings) <= set(launcher.model_dump(exclude_unset=True))


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s.update(namespce=s.pop("namespace")),
        lambda s: s.update(env_from_secret=s.pop("env_from_secrets")),
        lambda s: s["per_workload"]["train"].update(gpu=s["per_workload"]["train"].pop("gpus")),
        lambda s: s["per_workload"].update(trian=s["per_workload"].pop("train")),
    ],
    ids=["top-level", "list field", "per-workload field", "workload name"],
)
def test_a_misspelt_launcher_key_fails(edit):
    from pydantic import ValidationError

    settings = yaml.safe_load(configmap()["data"]["launcher.yaml"])
    edit(settings)
    with pytest.raises((ValidationError, ValueError)):
        KubernetesLauncher(**settings)
