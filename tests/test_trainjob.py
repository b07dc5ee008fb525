"""Multi-node training as a Kubeflow PyTorchJob, without a cluster.

1. The manifest, field by field, and validated against the PyTorchJob CRD's own OpenAPI schema
   (``tests/schemas/kubeflow.org_pytorchjobs.v1.json``: training-operator v1.9.0, commit
   6f74c7f6b2ed6c27aabd82d0a316b23f0646059c, manifests/base/crds/kubeflow.org_pytorchjobs.yaml,
   version v1's openAPIV3Schema with its descriptions left out), strictly: a field the schema
   does not name is an error, as it would be for a server validating fields strictly.
2. ``KubernetesLauncher.run`` of training over two nodes inside ``dagster.materialize``, against a
   fake Kubernetes API served on 127.0.0.1 and reached by the real ``kubernetes`` client through a
   kubeconfig. The fake plays the operator and the Master's kubelet: it runs a stand-in process with
   the Master container's environment (the Pipes bootstrap variables included) and serves its
   output as the pod log, so the Pipes round trip really happens; the job's condition follows the
   process's exit code.
"""

import copy
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from dagster import AssetExecutionContext, asset, materialize
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR

from resources.launchers.compute import ComputeLauncher, KubernetesLauncher, PodVolume
from resources.launchers.pytorchjob import job_outcome, pytorchjob_manifest

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "kubeflow.org_pytorchjobs.v1.json").read_text())


def strict(schema):
    """Objects with named properties accept no others (unless the schema preserves unknown fields)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


VALIDATOR = jsonschema.Draft7Validator(strict(SCHEMA["openAPIV3Schema"]))


def launcher(**overrides) -> KubernetesLauncher:
    settings = dict(
        image="registry.example/study-workloads:0.1.0",
        namespace="study",
        service_account="study-workloads",
        cpu_request="32",
        memory_request="512Gi",
        memory_limit="1Ti",
        gpus_per_node=8,
        shm_size="64Gi",
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        env={"HF_HOME": "/study/hf-cache"},
        env_from_secrets=["s3-credentials"],
        volumes=[PodVolume(name="study", pvc="study-storage", mount_path="/study")],
        poll_interval_s=0.01,
    )
    settings.update(overrides)
    return KubernetesLauncher(**settings)


PIPES_ENV = {DAGSTER_PIPES_CONTEXT_ENV_VAR: "e30="}


def test_two_nodes_become_a_master_and_a_worker_of_8_gpus_each():
    job = pytorchjob_manifest(launcher(), "train", 16, "8c4f6a1e-2b3d-4e5f", PIPES_ENV)
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert job["metadata"]["name"] == "train-8c4f6a1e-2b3" and job["metadata"]["namespace"] == "study"
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 1}
    assert job["spec"]["runPolicy"]["backoffLimit"] == 0  # retries are Dagster's, not the operator's
    for replica in replicas.values():
        assert replica["restartPolicy"] == "Never"
        [container] = replica["template"]["spec"]["containers"]
        assert container["name"] == "pytorch"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        assert container["command"] == [
            "torchrun",
            "--nnodes",
            "2",
            "--nproc-per-node",
            "8",
            "--node-rank",
            "$(RANK)",
            "--master-addr",
            "$(MASTER_ADDR)",
            "--master-port",
            "$(MASTER_PORT)",
            "-m",
            "workloads.programs.train",
        ]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env[DAGSTER_PIPES_CONTEXT_ENV_VAR] == "e30="  # every rank reads the run's extras
        assert replica["template"]["metadata"]["labels"]["reasoning-sft-study/gpus"] == "16"


@pytest.mark.parametrize("gpus", [8, 12])
def test_gpu_counts_that_are_not_whole_nodes_are_refused(gpus):
    with pytest.raises(ValueError, match="whole number"):
        pytorchjob_manifest(launcher(), "train", gpus, "r", {})


@pytest.mark.parametrize("gpus", [16, 32])
def test_the_job_validates_against_the_pytorchjob_crd_schema(gpus):
    job = pytorchjob_manifest(launcher(), "train", gpus, "run", PIPES_ENV)
    errors = sorted(VALIDATOR.iter_errors(json.loads(json.dumps(job))), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "mutate,where",
    [
        (lambda job: job["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas="one"), "one"),
        (lambda job: job["spec"]["runPolicy"].update(backoffLimit="zero"), "zero"),
        (
            lambda job: job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0].update(
                gpus=8
            ),
            "gpus",
        ),
    ],
)
def test_the_schema_check_is_not_vacuous(mutate, where):
    job = copy.deepcopy(pytorchjob_manifest(launcher(), "train", 16, "run", PIPES_ENV))
    mutate(job)
    assert any(where in str(e.message) for e in VALIDATOR.iter_errors(job))


@pytest.mark.parametrize(
    "job,outcome",
    [
        ({}, None),
        ({"status": {"conditions": [{"type": "Running", "status": "True"}]}}, None),
        (
            {
                "status": {
                    "conditions": [{"type": "Created", "status": "True"}, {"type": "Succeeded", "status": "True"}]
                }
            },
            ("Succeeded", ""),
        ),
        (
            {
                "status": {
                    "conditions": [
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "PyTorchJobFailed",
                            "message": "master-0 exited 1",
                        }
                    ]
                }
            },
            ("Failed", "PyTorchJobFailed: master-0 exited 1"),
        ),
    ],
)
def test_job_outcome_from_conditions(job, outcome):
    assert job_outcome(job) == outcome


# ---- 2. the round trip against a fake API on 127.0.0.1 -----------------------------------------

IN_MASTER = """
import os, sys
from dagster_pipes import open_dagster_pipes
if os.environ.get("FAIL_IN_MASTER"):
    print("torch.distributed.DistNetworkError: rendezvous timed out", file=sys.stderr)
    sys.exit(1)
with open_dagster_pipes() as pipes:
    pipes.log.info("rank 0 speaking")
    pipes.report_asset_materialization(metadata={"extras": pipes.extras["run"], "hf_home": os.environ["HF_HOME"]})
"""


class FakeKubernetes(ThreadingHTTPServer):
    """The API paths the PyTorchJob launcher uses: jobs (custom objects), the Master pod, its log."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.jobs: dict[str, dict] = {}
        self.logs: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.requests: list[str] = []

    def create(self, job: dict) -> None:
        name = job["metadata"]["name"]
        [container] = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(p for p in sys.path if p)}
        env.update({e["name"]: e["value"] for e in container["env"]})
        done = subprocess.run([sys.executable, "-c", IN_MASTER], env=env, capture_output=True, timeout=60)
        lines = (done.stdout + done.stderr).decode().splitlines()
        self.logs[f"{name}-master-0"] = "".join(
            f"2026-01-01T00:00:00.{i:06d}Z {line}\n" for i, line in enumerate(lines)
        ).encode()
        condition = (
            {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded"}
            if done.returncode == 0
            else {
                "type": "Failed",
                "status": "True",
                "reason": "PyTorchJobFailed",
                "message": f"PyTorchJob {name} is failed because 1 Master replica(s) failed.",
            }
        )
        self.jobs[name] = {**job, "status": {"conditions": [{"type": "Created", "status": "True"}, condition]}}


class Handler(BaseHTTPRequestHandler):
    server: FakeKubernetes
    JOBS = re.compile(r"^/apis/kubeflow\.org/v1/namespaces/(?P<ns>[^/]+)/pytorchjobs(/(?P<name>[^/]+))?$")
    POD = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)(?P<log>/log)?$")

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes | dict, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.server.requests.append(f"POST {self.path}")
        job = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.JOBS.match(self.path)["ns"] == job["metadata"]["namespace"]
        self.server.create(job)
        self.reply(201, job)

    def do_GET(self):
        path = urlparse(self.path).path
        self.server.requests.append(f"GET {path}")
        if (match := self.JOBS.match(path)) and match["name"] in self.server.jobs:
            return self.reply(200, self.server.jobs[match["name"]])
        if (match := self.POD.match(path)) and match["name"] in self.server.logs:
            if match["log"]:
                return self.reply(200, self.server.logs[match["name"]], "text/plain")
            return self.reply(
                200,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": match["name"]},
                    "status": {"phase": "Succeeded"},
                },
            )
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def do_DELETE(self):
        self.server.requests.append(f"DELETE {self.path}")
        self.server.deleted.append(self.JOBS.match(urlparse(self.path).path)["name"])
        self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


@pytest.fixture
def fake_api(tmp_path):
    server = FakeKubernetes()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "fake", "user": {"token": "test"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            }
        )
    )
    server.kubeconfig = str(kubeconfig)
    yield server
    server.shutdown()
    server.server_close()


def train_asset(gpus: int):
    @asset
    def sft_run(context: AssetExecutionContext, launcher: ComputeLauncher):
        return launcher.run(context, "train", {"run": "qwen3-14b-base__math-cot"}, gpus=gpus).get_materialize_result()

    return sft_run


def test_training_over_two_nodes_round_trips_through_pipes(fake_api, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    cluster = launcher(load_incluster_config=False, kubeconfig_file=fake_api.kubeconfig)
    result = materialize([train_asset(16)], resources={"launcher": cluster})
    assert result.success
    [name] = fake_api.jobs
    assert fake_api.requests[0] == "POST /apis/kubeflow.org/v1/namespaces/study/pytorchjobs"
    assert f"GET /api/v1/namespaces/study/pods/{name}-master-0/log" in fake_api.requests
    assert fake_api.deleted == [name]
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["extras"].value == "qwen3-14b-base__math-cot"
    assert metadata["hf_home"].value == "/study/hf-cache"


def test_a_failed_job_fails_the_step_with_the_operators_reason_and_is_deleted(fake_api, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    cluster = launcher(
        load_incluster_config=False,
        kubeconfig_file=fake_api.kubeconfig,
        env={"HF_HOME": "/study/hf-cache", "FAIL_IN_MASTER": "1"},
    )
    result = materialize([train_asset(16)], resources={"launcher": cluster}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "1 Master replica(s) failed" in str(failure.event_specific_data.error)
    assert fake_api.deleted == list(fake_api.jobs)


def test_one_node_keeps_the_single_pod_path():
    assert launcher().command("train", 8) == ["torchrun", "--nproc-per-node", "8", "-m", "workloads.programs.train"]
