"""The Kubernetes launcher without a cluster.

1. The pod spec it builds, field by field.
2. The whole Pod, assembled by dagster-k8s's own ``build_pod_body`` exactly as ``PipesK8sClient``
   assembles it, serialised as the API client would send it, and validated against the
   Kubernetes OpenAPI schema (``kubernetes-validate``, strict: unknown fields are errors).
3. ``KubernetesLauncher.run`` inside a real ``dagster.materialize``, with the Kubernetes API
   replaced by an in-memory fake (the seam: ``DagsterKubernetesClient.production_client``). The
   fake plays the kubelet: it runs a stand-in process with the pod's environment (the Pipes
   bootstrap variables included), then serves that process's output as the pod log, so the Pipes
   round trip (context in, materialization and custom messages out) really happens. No test
   opens a network connection (sockets are refused), and every wait is bounded.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster import AssetExecutionContext, asset, materialize
from dagster_k8s.client import DagsterKubernetesClient
from dagster_k8s.pipes import PipesK8sClient, build_pod_body
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, decode_env_var
from kubernetes_validate.utils import all_versions
from packaging.version import Version
from pydantic import ValidationError

from resources.launchers.compute import ComputeLauncher, KubernetesLauncher, PodVolume, WorkloadOverrides

DOCS = Path(__file__).resolve().parent.parent / "docs" / "kubernetes.md"
# Kubernetes 1.29 (the oldest minor still widely run by managed services; or the oldest schema
# this kubernetes-validate ships, if newer) and the newest schema it ships.
SCHEMA_VERSIONS = (
    next(v for v in all_versions() if Version(v) >= Version("1.29")),
    kubernetes_validate.latest_version(),
)
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach a network address fails the test (Unix sockets stay usable)."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise AssertionError(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded)


@pytest.fixture
def deadline():
    """Fails (instead of hanging) whatever runs longer than the given seconds."""

    def expire(signum, frame):
        raise TimeoutError("the launcher did not finish within the test's deadline")

    previous = signal.signal(signal.SIGALRM, expire)

    def arm(seconds: float):
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def cluster_launcher(**overrides) -> KubernetesLauncher:
    settings = dict(
        image="registry.example/study-workloads:0.1.0",
        namespace="study",
        service_account="study-workloads",
        image_pull_policy="Always",
        image_pull_secrets=["registry-creds"],
        cpu_request="8",
        cpu_limit="16",
        memory_request="64Gi",
        memory_limit="128Gi",
        gpus_per_pod=0,
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        tolerations=[GPU_TOLERATION],
        shm_size="32Gi",
        env={"HF_HOME": "/study/hf-cache", "STUDY_STORAGE_DIR": "/study/storage"},
        env_from_secrets=["s3-credentials", "hf-token"],
        volumes=[
            PodVolume(name="study", pvc="study-storage", mount_path="/study"),
            PodVolume(name="data", pvc="study-data", mount_path="/data", read_only=True),
        ],
        labels={"team": "reasoning"},
        load_incluster_config=True,
        poll_interval_s=0.01,
    )
    settings.update(overrides)
    return KubernetesLauncher(**settings)


def container_of(spec: dict) -> dict:
    assert len(spec["containers"]) == 1
    return spec["containers"][0]


# ---- 1. the pod spec, field by field ------------------------------------------------------------


def test_gpu_limits_follow_the_gpu_count():
    launcher = cluster_launcher()
    resources = container_of(launcher.pod_spec("train", 4, "run-1"))["resources"]
    assert resources["limits"] == {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "4"}
    assert resources["requests"] == {"cpu": "8", "memory": "64Gi"}  # GPUs: limits only
    cpu_only = container_of(launcher.pod_spec("verify", 0, "run-1"))["resources"]
    assert "nvidia.com/gpu" not in cpu_only["limits"]
    other_vendor = cluster_launcher(gpu_resource_name="amd.com/gpu")
    assert container_of(other_vendor.pod_spec("evaluate", 1, "r"))["resources"]["limits"]["amd.com/gpu"] == "1"


def test_resources_are_left_out_when_unset():
    bare = KubernetesLauncher(image="img:1")
    container = container_of(bare.pod_spec("verify", 0, "r"))
    assert container["resources"] == {}
    assert container_of(bare.pod_spec("evaluate", 2, "r"))["resources"] == {"limits": {"nvidia.com/gpu": "2"}}


def test_shm_is_a_memory_backed_empty_dir_at_dev_shm():
    spec = cluster_launcher().pod_spec("generate", 1, "r")
    shm = next(v for v in spec["volumes"] if v["name"] == "dshm")
    assert shm == {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container_of(spec)["volumeMounts"]
    without = cluster_launcher(shm_size=None).pod_spec("generate", 1, "r")
    assert all(v["name"] != "dshm" for v in without["volumes"])
    assert all(m["mountPath"] != "/dev/shm" for m in container_of(without)["volumeMounts"])


def test_volumes_from_claims_and_secrets():
    launcher = cluster_launcher(
        volumes=[
            PodVolume(name="study", pvc="study-storage", mount_path="/study"),
            PodVolume(name="gcs-key", secret="gcs-service-account", mount_path="/var/secrets/gcs", read_only=True),
        ]
    )
    spec = launcher.pod_spec("train", 1, "r")
    by_name = {v["name"]: v for v in spec["volumes"]}
    assert by_name["study"]["persistentVolumeClaim"] == {"claimName": "study-storage", "readOnly": False}
    assert by_name["gcs-key"]["secret"] == {"secretName": "gcs-service-account"}
    mounts = {m["name"]: m for m in container_of(spec)["volumeMounts"]}
    assert mounts["study"] == {"name": "study", "mountPath": "/study", "readOnly": False}
    assert mounts["gcs-key"] == {"name": "gcs-key", "mountPath": "/var/secrets/gcs", "readOnly": True}


def test_scheduling_node_selector_tolerations_service_account():
    spec = cluster_launcher().pod_spec("train", 1, "r")
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert spec["tolerations"] == [GPU_TOLERATION]
    assert spec["serviceAccountName"] == "study-workloads"
    assert spec["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert spec["restartPolicy"] == "Never"
    bare = KubernetesLauncher(image="img:1").pod_spec("train", 1, "r")
    assert not {"nodeSelector", "tolerations", "serviceAccountName", "imagePullSecrets"} & set(bare)


def test_secrets_arrive_as_env_from_never_as_values():
    launcher = cluster_launcher()
    container = container_of(launcher.pod_spec("generate", 1, "r"))
    assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}, {"secretRef": {"name": "hf-token"}}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"PYTHONUNBUFFERED": "1", "HF_HOME": "/study/hf-cache", "STUDY_STORAGE_DIR": "/study/storage"}
    assert "secretKeyRef" not in json.dumps(container)
    with pytest.raises(ValidationError, match="PipesK8sClient"):
        cluster_launcher(env={"DAGSTER_PIPES_CONTEXT": "x"})


def test_container_image_and_labels():
    launcher = cluster_launcher()
    container = container_of(launcher.pod_spec("evaluate", 1, "r"))
    assert container["image"] == "registry.example/study-workloads:0.1.0"
    assert container["imagePullPolicy"] == "Always"
    run_id = "8c4f6a1e-2b3d-4e5f-9a0b-1c2d3e4f5a6b"
    labels = launcher.pod_metadata("prepare_model", 0, run_id)["labels"]
    assert labels == {
        "reasoning-sft-study/workload": "prepare_model",
        "reasoning-sft-study/gpus": "0",
        "reasoning-sft-study/run-id": run_id,
        "team": "reasoning",
    }


def test_multi_gpu_training_starts_under_torchrun():
    launcher = cluster_launcher()
    assert launcher.command("train", 8) == ["torchrun", "--nproc-per-node", "8", "-m", "workloads.programs.train"]
    assert container_of(launcher.pod_spec("train", 2, "r"))["command"][:3] == ["torchrun", "--nproc-per-node", "2"]


@pytest.mark.parametrize(
    ("workload", "gpus"), [("train", 1), ("train", 0), ("evaluate", 4), ("generate", 8), ("verify", 0)]
)
def test_single_process_otherwise(workload, gpus):
    # One GPU needs no launcher; vLLM spreads over several GPUs itself (tensor parallel).
    assert cluster_launcher().command(workload, gpus) == ["python", "-m", f"workloads.{workload}"]


def test_gpu_count_precedence():
    launcher = cluster_launcher(gpus_per_pod=1, per_workload={"train": WorkloadOverrides(gpus=8)})
    assert launcher.gpus_for("generate") == 1  # the asset does not say: gpus_per_pod
    assert launcher.gpus_for("verify", 0) == 0  # the asset's word beats the default
    assert launcher.gpus_for("evaluate", 2) == 2
    assert launcher.gpus_for("train", 1) == 8  # the deployment's per-workload word beats both


def test_per_workload_overrides_replace_only_what_they_set():
    launcher = cluster_launcher(
        per_workload={
            "verify": WorkloadOverrides(cpu_request="2", memory_limit="8Gi", node_selector={}, tolerations=[])
        }
    )
    spec = launcher.pod_spec("verify", 0, "r")
    resources = container_of(spec)["resources"]
    assert resources == {"requests": {"cpu": "2", "memory": "64Gi"}, "limits": {"cpu": "16", "memory": "8Gi"}}
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert cluster_launcher().pod_spec("train", 1, "r")["nodeSelector"]  # other workloads keep theirs


@pytest.mark.parametrize(
    "bad",
    [
        {"memory_limit": "lots"},
        {"shm_size": "16 GB"},
        {"image_pull_policy": "Sometimes"},
        {"volumes": [PodVolume(name="a", pvc="x", mount_path="/a"), PodVolume(name="a", pvc="y", mount_path="/b")]},
        {"volumes": [PodVolume(name="shm", pvc="x", mount_path="/dev/shm")]},
        {"kubeconfig_file": "/k/config"},  # with load_incluster_config=True
        {"per_workload": {"Train-8": WorkloadOverrides(gpus=8)}},
    ],
)
def test_settings_are_checked_at_construction(bad):
    with pytest.raises(ValidationError):
        cluster_launcher(**bad)


def test_volume_needs_exactly_one_source():
    with pytest.raises(ValidationError, match="exactly one"):
        PodVolume(name="v", mount_path="/v")
    with pytest.raises(ValidationError, match="exactly one"):
        PodVolume(name="v", mount_path="/v", pvc="a", secret="b")
    with pytest.raises(ValidationError, match="reserved"):
        PodVolume(name="dshm", mount_path="/x", pvc="a")


def test_workload_names_are_module_names():
    with pytest.raises(ValueError):
        cluster_launcher().command("../etc", 0)


# ---- 2. the whole Pod against the Kubernetes schema --------------------------------------------


def assembled_pod(launcher: KubernetesLauncher, workload: str, gpus: int) -> dict:
    """The Pod as PipesK8sClient builds and the API client serialises it (camelCase, no nulls)."""
    run_id = "0f8e2a9c-5b1d-4c3e-8a7f-6d5e4c3b2a19"
    spec = launcher.pod_spec(workload, gpus, run_id)
    pod = build_pod_body(
        pod_name=f"dagster-{run_id[:18]}-{workload}-0123456789",
        image=launcher.image,
        command=spec["containers"][0]["command"],
        env_vars={DAGSTER_PIPES_CONTEXT_ENV_VAR: "eyJ4IjogMX0=", DAGSTER_PIPES_MESSAGES_ENV_VAR: "eyJ5IjogMn0="},
        base_pod_meta=launcher.pod_metadata(workload, gpus, run_id),
        base_pod_spec=spec,
    )
    body = kubernetes.client.ApiClient().sanitize_for_serialization(pod)
    return {"apiVersion": "v1", "kind": "Pod", **body}


def check_quantities(manifest: dict) -> None:
    from kubernetes.utils import parse_quantity

    for container in manifest["spec"]["containers"]:
        for group in container.get("resources", {}).values():
            for value in group.values():
                parse_quantity(value)
    for volume in manifest["spec"].get("volumes", []):
        if "emptyDir" in volume:
            parse_quantity(volume["emptyDir"]["sizeLimit"])


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize(("workload", "gpus"), [("train", 8), ("train", 1), ("generate", 1), ("verify", 0)])
def test_full_pod_validates_against_the_kubernetes_schema(workload, gpus, version):
    manifest = assembled_pod(cluster_launcher(), workload, gpus)
    kubernetes_validate.validate(manifest, version, strict=True)
    check_quantities(manifest)
    container = manifest["spec"]["containers"][0]
    assert container["command"] == cluster_launcher().command(workload, gpus)
    names = [e["name"] for e in container["env"]]
    assert {DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR, "HF_HOME"} <= set(names)
    assert len(names) == len(set(names))
    assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "dagster"  # dagster-k8s's own labels kept
    assert manifest["metadata"]["labels"]["reasoning-sft-study/workload"] == workload


def test_minimal_launcher_pod_validates():
    manifest = assembled_pod(KubernetesLauncher(image="img:1", shm_size=None), "evaluate", 1)
    kubernetes_validate.validate(manifest, SCHEMA_VERSIONS[-1], strict=True)


def test_schema_check_is_not_vacuous():
    manifest = assembled_pod(cluster_launcher(), "train", 2)
    manifest["spec"]["tolerations"][0]["tolerationSecond"] = 30  # misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, SCHEMA_VERSIONS[-1], strict=True)
    manifest = assembled_pod(cluster_launcher(), "train", 2)
    manifest["spec"]["volumes"][0]["emptyDir"]["medium"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, SCHEMA_VERSIONS[-1], strict=True)


def test_the_documented_settings_build_a_valid_pod():
    text = DOCS.read_text()
    block = re.search(r"<!-- launcher-settings -->\s*```yaml\n(.*?)```", text, re.S)
    assert block, "docs/kubernetes.md lost its launcher settings example"
    launcher = KubernetesLauncher(**yaml.safe_load(block.group(1)))
    for workload, gpus in (("train", launcher.gpus_for("train", 1)), ("evaluate", 1), ("verify", 0)):
        kubernetes_validate.validate(assembled_pod(launcher, workload, gpus), SCHEMA_VERSIONS[-1], strict=True)


# ---- 3. the contract with PipesK8sClient, against a fake cluster -------------------------------

# Stands in for the workload inside the container: a real Pipes process, with the pod's env.
IN_POD = """
import json, os, sys
from dagster_pipes import open_dagster_pipes
if os.environ.get("FAIL_BEFORE_PIPES"):
    print("CUDA error: out of memory", file=sys.stderr)
    sys.exit(3)
with open_dagster_pipes() as pipes:
    print("a plain log line from the workload", flush=True)
    pipes.log.info("hello from the pod")
    pipes.report_custom_message({"checkpoint": "run@step-00002"})
    pipes.report_asset_materialization(metadata={
        "extras": json.dumps(pipes.extras, sort_keys=True),
        "env_from_secret": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "plain_env": os.environ.get("HF_HOME", ""),
    })
"""


class PodLog:
    """A pod-log response read unparsed (``_preload_content=False``): iterable in chunks, or whole."""

    def __init__(self, data: bytes):
        self.data = data

    def __iter__(self):
        return (self.data[i : i + 256] for i in range(0, len(self.data), 256))  # a stream arrives in pieces

    def stream(self):
        return iter(self)


class FakeCluster:
    """The slice of ``kubernetes.client.CoreV1Api`` that PipesK8sClient uses, in memory.

    Creating a pod runs it at once (the kubelet's part): ``IN_POD`` in a subprocess with the
    container's env, and the Secrets named in envFrom resolved from ``secrets``. Its output becomes
    the pod log (timestamped, as ``timestamps=True`` asks), its exit code the container state.
    """

    MAX_POLLS = 200

    def __init__(self, secrets: dict[str, dict[str, str]] | None = None, extra_env: dict[str, str] | None = None):
        self.secrets = secrets or {}
        self.extra_env = extra_env or {}
        self.created: list[tuple[str, object]] = []
        self.deleted: list[tuple[str, str]] = []
        self.polls = 0
        self.log = b""
        self.exit_code: int | None = None
        self.config_loads: list = []  # which kubernetes.config loader the client called

    # the API calls -----------------------------------------------------------------------------
    def create_namespaced_pod(self, namespace, body):
        self.created.append((namespace, body))
        container = body.spec.containers[0]
        env = {"PATH": "/usr/bin:/bin", **self.extra_env}
        for source in container.env_from or []:
            env.update(self.secrets[source.secret_ref.name])
        env.update({e.name: e.value for e in container.env or []})
        done = subprocess.run([sys.executable, "-c", IN_POD], env=env, capture_output=True, timeout=60)
        lines = (done.stdout + done.stderr).decode().splitlines()
        self.log = "".join(f"2026-01-01T00:00:00.{i:06d}Z {line}\n" for i, line in enumerate(lines)).encode()
        self.exit_code = done.returncode
        return body

    def list_namespaced_pod(self, namespace, field_selector=None, **_):
        self.polls += 1
        if self.polls > self.MAX_POLLS:
            raise RuntimeError("fake cluster: the client kept polling a finished pod")
        if not self.created:
            return SimpleNamespace(items=[])
        pod = self.created[-1][1]
        name = pod.spec.containers[0].name
        status = SimpleNamespace(
            name=name,
            ready=False,
            state=SimpleNamespace(
                running=None, waiting=None, terminated=SimpleNamespace(exit_code=self.exit_code, message=None)
            ),
        )
        pod_status = SimpleNamespace(init_container_statuses=None, container_statuses=[status])
        return SimpleNamespace(items=[SimpleNamespace(metadata=pod.metadata, spec=pod.spec, status=pod_status)])

    def read_namespaced_pod_log(self, *args, **kwargs):
        assert kwargs.get("_preload_content") is False
        return PodLog(self.log)

    def delete_namespaced_pod(self, name, namespace, **_):
        self.deleted.append((namespace, name))

    def __getattr__(self, name):
        raise AssertionError(f"PipesK8sClient made an API call the fake does not know: {name}")

    # what the tests look at -------------------------------------------------------------------
    @property
    def pod(self):
        assert len(self.created) == 1, f"expected one pod, got {len(self.created)}"
        return self.created[0][1]


@pytest.fixture
def fake_cluster(monkeypatch):
    cluster = FakeCluster(
        secrets={"s3-credentials": {"AWS_ACCESS_KEY_ID": "AKIA-TEST"}, "hf-token": {}},
        # The stand-in process needs this interpreter's site-packages (dagster_pipes), nothing else.
        extra_env={"PYTHONPATH": ":".join(p for p in sys.path if p)},
    )
    loaded = cluster.config_loads
    monkeypatch.setattr(
        DagsterKubernetesClient,
        "production_client",
        staticmethod(
            lambda *a, **k: DagsterKubernetesClient(
                batch_api=None,
                core_api=cluster,
                logger=lambda *a, **k: None,
                sleeper=lambda s: None,
                timer=time.monotonic,
            )
        ),
    )
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda *a, **k: loaded.append("incluster"))
    monkeypatch.setattr(kubernetes.config, "load_kube_config", lambda *a, **k: loaded.append(("kubeconfig", k)))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return cluster


def launch_asset(workload: str, gpus: int | None, seen: dict):
    @asset(name=f"launched_{workload}")
    def launched(context: AssetExecutionContext, launcher: ComputeLauncher):
        invocation = launcher.run(context, workload, {"shard": "shard-0", "n": 4}, gpus=gpus)
        seen["custom"] = list(invocation.get_custom_messages())
        return invocation.get_materialize_result()

    return launched


def test_run_through_pipes_k8s_client_end_to_end(fake_cluster, deadline):
    launcher = cluster_launcher(per_workload={"train": WorkloadOverrides(gpus=4)})
    seen = {}
    deadline(90)
    result = materialize([launch_asset("train", 1, seen)], resources={"launcher": launcher})
    assert result.success

    assert fake_cluster.config_loads == ["incluster"]
    namespace, pod = fake_cluster.created[0]
    assert namespace == "study"
    container = pod.spec.containers[0]
    assert container.image == "registry.example/study-workloads:0.1.0"
    assert container.command == ["torchrun", "--nproc-per-node", "4", "-m", "workloads.programs.train"]
    assert container.resources.limits["nvidia.com/gpu"] == "4"
    env = {e.name: e.value for e in container.env}
    assert {DAGSTER_PIPES_CONTEXT_ENV_VAR, DAGSTER_PIPES_MESSAGES_ENV_VAR} <= set(env)
    assert decode_env_var(env[DAGSTER_PIPES_MESSAGES_ENV_VAR]) == {"stdio": "stderr"}  # read back from the pod log
    assert [s.secret_ref.name for s in container.env_from] == ["s3-credentials", "hf-token"]
    assert pod.spec.restart_policy == "Never"
    assert pod.spec.service_account_name == "study-workloads"
    assert pod.metadata.labels["reasoning-sft-study/run-id"] == result.run_id
    assert pod.metadata.name.startswith(f"dagster-{result.run_id[:18]}-launched-train")
    assert fake_cluster.deleted == [("study", pod.metadata.name)]

    # What the process in the pod reported came back through the pod log.
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert json.loads(metadata["extras"].value) == {"n": 4, "shard": "shard-0"}
    assert metadata["env_from_secret"].value == "AKIA-TEST"
    assert metadata["plain_env"].value == "/study/hf-cache"
    assert seen["custom"] == [{"checkpoint": "run@step-00002"}]


def test_asset_default_gpus_and_kubeconfig(fake_cluster, deadline):
    launcher = cluster_launcher(
        load_incluster_config=False, kubeconfig_file="/nonexistent/kubeconfig", gpus_per_pod=1, delete_pods=False
    )
    deadline(90)
    result = materialize([launch_asset("generate", None, {})], resources={"launcher": launcher})
    assert result.success
    assert fake_cluster.config_loads == [("kubeconfig", {"config_file": "/nonexistent/kubeconfig", "context": None})]
    container = fake_cluster.pod.spec.containers[0]
    assert container.command == ["python", "-m", "workloads.programs.generate"]
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert fake_cluster.deleted == []  # delete_pods=False leaves it for debugging


def test_failed_pod_fails_the_asset_and_is_cleaned_up(fake_cluster, deadline):
    launcher = cluster_launcher(env={"FAIL_BEFORE_PIPES": "1"})
    deadline(90)
    result = materialize([launch_asset("evaluate", 1, {})], resources={"launcher": launcher}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert "exited with errors" in message or "failed" in message
    assert "CUDA error: out of memory" in message  # the pod's log tail reaches the Dagster error
    assert fake_cluster.deleted == [("study", fake_cluster.pod.metadata.name)]


def test_client_is_configured_from_settings():
    client = cluster_launcher(
        load_incluster_config=None, kubeconfig_file="/k", kube_context="gpu", poll_interval_s=3
    ).client()
    assert isinstance(client, PipesK8sClient)
    assert (client.load_incluster_config, client.kubeconfig_file, client.kube_context, client.poll_interval) == (
        None,
        "/k",
        "gpu",
        3.0,
    )
