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
from resources.launchers.container import ContainerLauncher
from resources.launchers.devices import Machine, local_machine
from resources.launchers.kubernetes_pod import KubernetesLauncher
from resources.launchers.local import LocalSubprocessLauncher
from resources.launchers.machine_settings import SHARED_ENGINE_SHARE, MachineSettings, choose_settings
from resources.llm import LLMEndpoint, OpenAICompatibleEndpoint, VllmOfflineEndpoint
from resources.storage import LocalStorage, S3Storage

ENV_VAR = "STUDY_ENV"
STORAGE_DIR_ENV = "STUDY_STORAGE_DIR"
DETERMINISTIC_ENV = "STUDY_DETERMINISTIC_SCHEDULING"
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


def judge_endpoint(serve_locally: bool, **local_server) -> JudgeEndpoint:
    """STUDY_JUDGE_BASE_URL points the judge at a running OpenAI-compatible server (it overrides
    the recipe's ``evaluation.judge.base_url``); ``local_server``: settings of one started here."""
    return JudgeEndpoint(
        base_url=os.environ.get("STUDY_JUDGE_BASE_URL") or None, serve_locally=serve_locally, **local_server
    )


def machine_settings(machine: Machine | None = None) -> MachineSettings:
    """What this machine chooses from its GPUs (``STUDY_GPUS`` restricts them; with none, the CPU
    settings). STUDY_TEACHER_TENSOR_PARALLEL and STUDY_EVAL_TENSOR_PARALLEL: GPUs per engine;
    STUDY_TRAIN_GPUS: GPUs per training run (default: all); STUDY_JUDGE_BASE_URL: the judge elsewhere."""
    train_gpus = os.environ.get("STUDY_TRAIN_GPUS")
    return choose_settings(
        local_machine() if machine is None else machine,
        external_judge=bool(os.environ.get("STUDY_JUDGE_BASE_URL")),
        teacher_tp=int(os.environ.get("STUDY_TEACHER_TENSOR_PARALLEL", "1")),
        eval_tp=int(os.environ.get("STUDY_EVAL_TENSOR_PARALLEL", "1")),
        train_gpus=int(train_gpus) if train_gpus else None,
    )


def local_launcher(storage_root: Path, chosen: MachineSettings):
    """STUDY_LAUNCHER=container runs each workload in the workloads image (STUDY_WORKLOADS_IMAGE,
    with STUDY_CONTAINER_RUNTIME: buildah, podman, docker or docker-api; docs/images.md), with the
    storage and data folders mounted; otherwise a subprocess of this Python, on the leased GPUs."""
    devices = chosen.machine.ids
    if os.environ.get("STUDY_LAUNCHER", "subprocess") == "subprocess":
        return LocalSubprocessLauncher(
            devices=devices,
            gpu_memory_gib=chosen.machine.gpu_memory_gib,
            train_gpus=chosen.train_gpus if devices else None,
        )
    if os.environ["STUDY_LAUNCHER"] != "container":
        raise ValueError(f"STUDY_LAUNCHER={os.environ['STUDY_LAUNCHER']!r}: one of subprocess, container")
    data_dir = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()
    storage_root.mkdir(parents=True, exist_ok=True)
    return ContainerLauncher(
        image=os.environ.get("STUDY_WORKLOADS_IMAGE", "reasoning-sft-study/workloads:cpu"),
        runtime=os.environ.get("STUDY_CONTAINER_RUNTIME", "buildah"),
        mounts={str(storage_root.resolve()): False, **({str(data_dir): True} if data_dir.is_dir() else {})},
        env={DATA_DIR_ENV: str(data_dir)},
        gpu_devices=os.environ.get("STUDY_GPU_DEVICES") or None,
    )


def deterministic_scheduling(*, on_cpu: bool = False) -> bool:
    """STUDY_DETERMINISTIC_SCHEDULING=1: the vLLM engines schedule requests the same way every run,
    so a rerun on the same seeds reproduces every token (README, "Reproducible results"); 0: vLLM's
    default, its engine core in a process of its own, which a GPU keeps busy while the next step is
    scheduled. Unset: 1 on a machine without GPUs, where that process only takes a core from the
    model (the small recipe's generation ran twice as fast without it), else 0."""
    value = os.environ.get(DETERMINISTIC_ENV, "1" if on_cpu else "0")
    if value not in ("0", "1"):
        raise ValueError(f"{DETERMINISTIC_ENV}={value!r}: 1 (deterministic scheduling) or 0 (vLLM's default)")
    return value == "1"


def local_resources(machine: Machine | None = None) -> dict:
    """This machine: its CPU, or its GPUs through the device lease (docs/one-gpu-machine.md)."""
    root = Path(os.environ.get(STORAGE_DIR_ENV) or DEFAULT_STORAGE_DIR)
    chosen = machine_settings(machine)
    devices = chosen.machine.ids

    def engine(settings) -> VllmOfflineEndpoint:
        return VllmOfflineEndpoint(
            enforce_eager=settings.enforce_eager,
            memory_utilization=settings.memory_utilization,
            tensor_parallel_size=settings.tensor_parallel_size,
            deterministic_scheduling=deterministic_scheduling(on_cpu=not devices),
        )

    return {
        "storage": LocalStorage(root=str(root)),
        "launcher": local_launcher(root, chosen),
        "teacher_endpoint": teacher_endpoint(engine(chosen.teacher)),
        "eval_endpoint": engine(chosen.evaluation),
        # Without a judge URL, a vLLM server for the judge model is started on this machine, on a
        # device leased with the evaluation engine's (sharing it only on a one-GPU machine).
        "judge_endpoint": judge_endpoint(
            serve_locally=True,
            memory_utilization=chosen.judge_engine.memory_utilization,
            enforce_eager=chosen.judge_engine.enforce_eager,
            devices=devices,
            engine_gpus=chosen.evaluation.tensor_parallel_size,
            share_device=chosen.judge == "shares the GPU",
            shared_engine_share=SHARED_ENGINE_SHARE,
            deterministic_scheduling=deterministic_scheduling(on_cpu=not devices),
        ),
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
            deterministic_scheduling=deterministic_scheduling(),
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
