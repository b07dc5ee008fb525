"""The environment switch: one setting (STUDY_ENV) picks every resource.

Each environment is a dict of resources, built from this process's environment variables, so
secrets stay in the environment (Kubernetes Secrets in the cluster) and out of files and code.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from dagster_aws.s3 import S3Resource

from recipe_schema.data_files import DATA_DIR_ENV, DEFAULT_DATA_DIR, PROJECT_ROOT
from resources.judge_endpoint import JudgeEndpoint
from resources.launchers.kubernetes_pod import KubernetesLauncher
from resources.launchers.local import LocalSubprocessLauncher
from resources.llm import LLMEndpoint, OpenAICompatibleEndpoint, VllmOfflineEndpoint
from resources.storage import LocalStorage, S3Storage

ENV_VAR = "STUDY_ENV"
STORAGE_DIR_ENV = "STUDY_STORAGE_DIR"
DEFAULT_STORAGE_DIR = PROJECT_ROOT / ".study" / "storage"


def teacher_endpoint(default: LLMEndpoint) -> LLMEndpoint:
    """STUDY_TEACHER_BASE_URL switches the teacher to an OpenAI-compatible server (a vLLM server or
    a provider; STUDY_TEACHER_MODEL names the served model, the key is read by the workload from
    the variable STUDY_TEACHER_API_KEY_ENV names)."""
    base_url = os.environ.get("STUDY_TEACHER_BASE_URL")
    if not base_url:
        return default
    return OpenAICompatibleEndpoint(
        base_url=base_url,
        model=os.environ.get("STUDY_TEACHER_MODEL") or None,
        api_key_env=os.environ.get("STUDY_TEACHER_API_KEY_ENV", "OPENAI_API_KEY"),
    )


def judge_endpoint(serve_locally: bool) -> JudgeEndpoint:
    """STUDY_JUDGE_BASE_URL points the judge at a running OpenAI-compatible server (it overrides
    the recipe's ``evaluation.judge.base_url``)."""
    return JudgeEndpoint(base_url=os.environ.get("STUDY_JUDGE_BASE_URL") or None, serve_locally=serve_locally)


def local_launcher(storage_root: Path):
    """STUDY_LAUNCHER=container runs each workload in the workloads image (STUDY_WORKLOADS_IMAGE,
    with STUDY_CONTAINER_RUNTIME: buildah, podman, docker or docker-api; docs/images.md), with the
    storage and data folders mounted; otherwise a subprocess of this Python."""
    if os.environ.get("STUDY_LAUNCHER", "subprocess") == "subprocess":
        return LocalSubprocessLauncher()
    if os.environ["STUDY_LAUNCHER"] != "container":
        raise ValueError(f"STUDY_LAUNCHER={os.environ['STUDY_LAUNCHER']!r}: one of subprocess, container")
    from resources.launchers.container import ContainerLauncher

    data_dir = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()
    storage_root.mkdir(parents=True, exist_ok=True)
    return ContainerLauncher(
        image=os.environ.get("STUDY_WORKLOADS_IMAGE", "reasoning-sft-study/workloads:cpu"),
        runtime=os.environ.get("STUDY_CONTAINER_RUNTIME", "buildah"),
        mounts={str(storage_root.resolve()): False, **({str(data_dir): True} if data_dir.is_dir() else {})},
        env={DATA_DIR_ENV: str(data_dir)},
        gpu_devices=os.environ.get("STUDY_GPU_DEVICES") or None,
    )


def local_resources() -> dict:
    root = Path(os.environ.get(STORAGE_DIR_ENV) or DEFAULT_STORAGE_DIR)
    return {
        "storage": LocalStorage(root=str(root)),
        "launcher": local_launcher(root),
        "teacher_endpoint": teacher_endpoint(VllmOfflineEndpoint()),
        "eval_endpoint": VllmOfflineEndpoint(),
        # Without a judge URL, a vLLM server for the judge model is started on this machine.
        "judge_endpoint": judge_endpoint(serve_locally=True),
    }


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"{ENV_VAR}=cluster needs the environment variable {name} (see docs/cluster.md)")
    return value


def cluster_resources() -> dict:
    """S3 (any S3-compatible endpoint) for tables and artifacts, a pod per workload, vLLM on GPUs.

    STUDY_S3_BUCKET (required), STUDY_S3_PREFIX, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION; credentials
    through boto3's usual variables. STUDY_LAUNCHER_CONFIG (required): a YAML file of
    KubernetesLauncher settings (docs/kubernetes.md). STUDY_TEACHER_TENSOR_PARALLEL and
    STUDY_EVAL_TENSOR_PARALLEL: GPUs per vLLM engine (and so per generation/evaluation pod).
    STUDY_JUDGE_BASE_URL: the judge's server, where the recipe names none."""

    launcher_file = Path(_required("STUDY_LAUNCHER_CONFIG"))
    if not launcher_file.is_file():
        raise ValueError(f"STUDY_LAUNCHER_CONFIG: no such file {launcher_file}")
    s3 = S3Resource(
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or None,
        max_attempts=8,  # throttling and 5xx are retried with backoff by botocore
    )

    def gpu_engine(tensor_parallel_env: str) -> VllmOfflineEndpoint:
        return VllmOfflineEndpoint(
            enforce_eager=False,
            memory_utilization=0.9,
            tensor_parallel_size=int(os.environ.get(tensor_parallel_env, "1")),
        )

    return {
        "storage": S3Storage(s3=s3, bucket=_required("STUDY_S3_BUCKET"), prefix=os.environ.get("STUDY_S3_PREFIX", "")),
        "launcher": KubernetesLauncher(**(yaml.safe_load(launcher_file.read_text()) or {})),
        "teacher_endpoint": teacher_endpoint(gpu_engine("STUDY_TEACHER_TENSOR_PARALLEL")),
        "eval_endpoint": gpu_engine("STUDY_EVAL_TENSOR_PARALLEL"),
        # The judge is a deployment of its own (a vLLM server or a provider) that pods can reach.
        "judge_endpoint": judge_endpoint(serve_locally=False),
    }


ENVIRONMENTS = {"local": local_resources, "cluster": cluster_resources}


def resources_for(env: str | None = None) -> dict:
    env = env or os.environ.get(ENV_VAR, "local")
    if env not in ENVIRONMENTS:
        raise ValueError(
            f"{ENV_VAR}={env!r} is not an environment of this deployment; choose one of {sorted(ENVIRONMENTS)}"
        )
    return ENVIRONMENTS[env]()
