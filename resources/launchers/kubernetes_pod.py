"""Each workload as a Kubernetes pod: ``KubernetesLauncher`` builds the pod from its settings and
hands it to dagster-k8s's ``PipesK8sClient``, which creates it, reads the Pipes messages from its
logs and deletes it.

How many GPUs a workload gets (``KubernetesLauncher.gpus_for``), most specific first:
``per_workload[<name>].gpus`` (the deployment's word), else the ``gpus`` the asset passes to
``run``, else ``gpus_per_pod``. The command follows from it (``KubernetesLauncher.command``):
training with more than one GPU starts under ``torchrun`` (one process per GPU, data parallel);
everything else is one ``python -m`` process, vLLM included, which spreads a model over several
GPUs itself (``tensor_parallel_size`` of the endpoint). Training with more GPUs than one node has
(``gpus_per_node``) runs as a Kubeflow PyTorchJob over several nodes instead (``resources.launchers.pytorchjob``).
"""

from __future__ import annotations

import re
from typing import Any

from dagster import Config, DagsterExecutionInterruptedError
from pydantic import ConfigDict, Field, field_validator, model_validator

from resources.launchers.compute import (
    DISTRIBUTED_WORKLOADS,
    WORKLOAD_BASE_ENV,
    ComputeLauncher,
    without_pipes_env,
    workload_module,
)
from resources.launchers.processes import interrupted, workload_failure
from resources.launchers.pytorchjob import run_pytorchjob
from workloads.core.lifecycle import report_in
from workloads.programs import PROGRAMS

SHM_VOLUME = "dshm"
CONTAINER_NAME = "workload"
LABEL_PREFIX = "reasoning-sft-study"

_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


def _check_quantity(value: str | None, what: str) -> str | None:
    if value is not None and not _QUANTITY.match(str(value)):
        raise ValueError(f"{what}: {value!r} is not a Kubernetes quantity (e.g. 500m, 4, 16Gi)")
    return value


def _label_value(value: str) -> str:
    """Label values: at most 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return _LABEL_VALUE_INVALID.sub("-", value)[:63].strip("-_.")


class PodVolume(Config):
    """A volume mounted into the workload container: a PersistentVolumeClaim or a Secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="volume name in the pod (a DNS label, e.g. 'study-storage')")
    mount_path: str = Field(description="absolute path in the container, e.g. /study")
    pvc: str | None = Field(default=None, description="name of a PersistentVolumeClaim in the namespace")
    secret: str | None = Field(default=None, description="name of a Secret whose keys become files")
    read_only: bool = Field(default=False, description="mount read-only")
    sub_path: str | None = Field(default=None, description="mount only this path inside the volume")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.pvc is None) == (self.secret is None):
            raise ValueError(f"volume {self.name!r}: set exactly one of pvc, secret")
        if not _DNS_LABEL.match(self.name) or len(self.name) > 63:
            raise ValueError(f"volume {self.name!r}: the name must be a DNS label (lowercase, digits, '-')")
        if self.name == SHM_VOLUME:
            raise ValueError(f"volume name {SHM_VOLUME!r} is reserved for /dev/shm (see shm_size)")
        if not self.mount_path.startswith("/"):
            raise ValueError(f"volume {self.name!r}: mount_path must be absolute")
        return self


class WorkloadOverrides(Config):
    """Per-workload settings (keyed by workload name: generate, verify, train, evaluate,
    prepare_model); every field left unset keeps the launcher-wide value."""

    model_config = ConfigDict(extra="forbid")

    gpus: int | None = Field(default=None, ge=0, description="GPUs for this workload; beats run()'s argument")
    cpu_request: str | None = Field(default=None, description="CPU request, e.g. '8'")
    cpu_limit: str | None = Field(default=None, description="CPU limit")
    memory_request: str | None = Field(default=None, description="memory request, e.g. '64Gi'")
    memory_limit: str | None = Field(default=None, description="memory limit")
    shm_size: str | None = Field(default=None, description="size of the memory-backed /dev/shm")
    node_selector: dict[str, str] | None = Field(default=None, description="replaces the launcher's node_selector")
    tolerations: list[dict[str, Any]] | None = Field(default=None, description="replaces the launcher's tolerations")

    @model_validator(mode="after")
    def _quantities(self):
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit", "shm_size"):
            _check_quantity(getattr(self, name), name)
        return self


class KubernetesLauncher(ComputeLauncher):
    """Each workload as a Kubernetes pod, launched and followed by dagster-k8s ``PipesK8sClient``.

    The pod: one container (``image``, ``command(workload, gpus)``) with CPU/memory requests and
    limits and ``<gpu_resource_name>: <gpus>`` limits, a memory-backed emptyDir at /dev/shm
    (NCCL and vLLM's worker processes exchange tensors there; the container runtime's 64 MiB
    default is far too small), the volumes, plain ``env`` and ``envFrom`` the named Secrets
    (object-store credentials, API keys: values never pass through these settings), node
    selector, tolerations, service account, ``restartPolicy: Never``. ``PipesK8sClient`` adds the
    Pipes bootstrap variables (``DAGSTER_PIPES_CONTEXT``, ``DAGSTER_PIPES_MESSAGES``) and the
    pod name, and deletes the pod when it has finished.
    """

    # Settings come from a file an operator edits (the ConfigMap): a misspelt key must fail, not
    # silently leave the default in place.
    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        description="the workloads image (docker/workloads.Dockerfile), e.g. registry/study-workloads:0.1.0"
    )
    namespace: str | None = Field(
        default=None,
        description="namespace of the pods; default: the orchestrator's own namespace in a cluster, else 'default'",
    )
    service_account: str | None = Field(default=None, description="serviceAccountName of the pods")
    image_pull_policy: str = Field(default="IfNotPresent", description="Always, IfNotPresent or Never")
    image_pull_secrets: list[str] = Field(
        default=[], description="names of docker-registry Secrets for a private registry"
    )
    python: str = Field(default="python", description="the Python executable inside the image")
    cpu_request: str | None = Field(default=None, description="CPU request per pod, e.g. '4'")
    cpu_limit: str | None = Field(default=None, description="CPU limit per pod")
    memory_request: str | None = Field(default=None, description="memory request per pod, e.g. '32Gi'")
    memory_limit: str | None = Field(
        default=None, description="memory limit per pod (the /dev/shm emptyDir counts against it)"
    )
    gpus_per_pod: int = Field(default=0, ge=0, description="GPUs for a workload whose asset does not say (gpus=None)")
    gpus_per_node: int = Field(
        default=8, ge=1, description="GPUs of one node: training on more runs as a PyTorchJob over several nodes"
    )
    gpu_resource_name: str = Field(default="nvidia.com/gpu", description="extended resource name of a GPU")
    node_selector: dict[str, str] = Field(default={}, description="nodeSelector of every pod")
    tolerations: list[dict[str, Any]] = Field(
        default=[],
        description="tolerations of every pod, in the API's shape, e.g. "
        "{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}",
    )
    shm_size: str | None = Field(
        default="16Gi", description="sizeLimit of the memory-backed emptyDir at /dev/shm; null: no such volume"
    )
    env: dict[str, str] = Field(default={}, description="plain environment variables (no secrets here)")
    env_from_secrets: list[str] = Field(
        default=[],
        description="names of Secrets whose keys all become environment variables (envFrom secretRef): "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, HF_TOKEN, OPENAI_API_KEY, ...",
    )
    volumes: list[PodVolume] = Field(default=[], description="PVCs or Secrets mounted into the container")
    labels: dict[str, str] = Field(default={}, description="extra labels of every pod")
    per_workload: dict[str, WorkloadOverrides] = Field(
        default={}, description="settings for one workload (train, generate, ...) over the launcher-wide ones"
    )
    load_incluster_config: bool | None = Field(
        default=None,
        description="true: the service-account config of the orchestrator's pod; false: a kubeconfig; "
        "null: in-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig",
    )
    kubeconfig_file: str | None = Field(
        default=None, description="kubeconfig path (with load_incluster_config false/null)"
    )
    kube_context: str | None = Field(default=None, description="kubeconfig context")
    poll_interval_s: float = Field(default=10.0, gt=0, description="seconds between pod status polls")
    pod_wait_timeout_s: float = Field(
        default=72 * 3600.0, ge=0, description="give up on a pod after this long (0: never); a full SFT run takes days"
    )
    delete_pods: bool = Field(
        default=True, description="delete each pod when it has finished (false: keep for debugging)"
    )

    @field_validator("cpu_request", "cpu_limit", "memory_request", "memory_limit", "shm_size")
    @classmethod
    def _quantity(cls, value, info):
        return _check_quantity(value, info.field_name)

    @field_validator("image_pull_policy")
    @classmethod
    def _pull_policy(cls, value):
        if value not in ("Always", "IfNotPresent", "Never"):
            raise ValueError(f"image_pull_policy {value!r}: one of Always, IfNotPresent, Never")
        return value

    @field_validator("env")
    @classmethod
    def _no_pipes_env(cls, value):
        return without_pipes_env(value, "PipesK8sClient")

    @model_validator(mode="after")
    def _consistent(self):
        if self.load_incluster_config and (self.kubeconfig_file or self.kube_context):
            raise ValueError("load_incluster_config excludes kubeconfig_file and kube_context")
        for workload in self.per_workload:
            # A typo here would silently configure nothing.
            if workload not in PROGRAMS:
                raise ValueError(f"per_workload: {workload!r} is not a program (one of: {', '.join(PROGRAMS)})")
        names = [v.name for v in self.volumes]
        if len(set(names)) != len(names):
            raise ValueError(f"volumes: duplicate names in {names}")
        mounts = [v.mount_path for v in self.volumes] + (["/dev/shm"] if self.shm_size else [])
        if len(set(mounts)) != len(mounts):
            raise ValueError(f"volumes: two mounts at one path in {mounts}")
        return self

    # ---- the pod, as pure functions of the settings -------------------------------------------

    def _setting(self, workload: str, name: str):
        override = self.per_workload.get(workload)
        value = getattr(override, name) if override is not None else None
        return getattr(self, name) if value is None else value

    def gpus_for(self, workload: str, gpus: int | None = None) -> int:
        """``per_workload[workload].gpus``, else the asset's ``gpus``, else ``gpus_per_pod``."""
        override = self.per_workload.get(workload)
        if override is not None and override.gpus is not None:
            return override.gpus
        return self.gpus_per_pod if gpus is None else gpus

    def command(self, workload: str, gpus: int) -> list[str]:
        """``python -m workloads.programs.<name>``; training on more than one GPU instead starts one process
        per GPU: ``torchrun --nproc-per-node <gpus> -m workloads.programs.train`` (single node, the pod's GPUs)."""
        module = workload_module(workload)
        if workload in DISTRIBUTED_WORKLOADS and gpus > 1:
            return ["torchrun", "--nproc-per-node", str(gpus), "-m", module]
        return [self.python, "-m", module]

    def pod_metadata(self, workload: str, gpus: int, run_id: str) -> dict:
        labels = {
            f"{LABEL_PREFIX}/workload": _label_value(workload),
            f"{LABEL_PREFIX}/gpus": str(gpus),
            f"{LABEL_PREFIX}/run-id": _label_value(run_id),
            **self.labels,
        }
        return {"labels": labels}

    def pod_spec(self, workload: str, gpus: int, run_id: str) -> dict:
        """The base PodSpec (Kubernetes API shape, camelCase) for one workload with ``gpus`` GPUs.
        ``run_id`` names the Dagster run in the pod's labels (see ``pod_metadata``)."""
        requests, limits = {}, {}
        for key, request, limit in (("cpu", "cpu_request", "cpu_limit"), ("memory", "memory_request", "memory_limit")):
            if (value := self._setting(workload, request)) is not None:
                requests[key] = str(value)
            if (value := self._setting(workload, limit)) is not None:
                limits[key] = str(value)
        if gpus > 0:
            # Extended resources are requested through limits (requests default to them).
            limits[self.gpu_resource_name] = str(gpus)

        env = [{"name": k, "value": v} for k, v in {**WORKLOAD_BASE_ENV, **self.env}.items()]
        container: dict[str, Any] = {
            "name": CONTAINER_NAME,
            "image": self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": self.command(workload, gpus),
            "env": env,
            "resources": {k: v for k, v in (("requests", requests), ("limits", limits)) if v},
        }
        if self.env_from_secrets:
            container["envFrom"] = [{"secretRef": {"name": name}} for name in self.env_from_secrets]

        volumes, mounts = [], []
        shm_size = self._setting(workload, "shm_size")
        if shm_size:
            volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": str(shm_size)}})
            mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
        for v in self.volumes:
            source = (
                {"persistentVolumeClaim": {"claimName": v.pvc, "readOnly": v.read_only}}
                if v.pvc is not None
                else {"secret": {"secretName": v.secret}}
            )
            volumes.append({"name": v.name, **source})
            mount = {"name": v.name, "mountPath": v.mount_path, "readOnly": v.read_only}
            if v.sub_path:
                mount["subPath"] = v.sub_path
            mounts.append(mount)
        if mounts:
            container["volumeMounts"] = mounts

        spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        if volumes:
            spec["volumes"] = volumes
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        if self.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": name} for name in self.image_pull_secrets]
        if node_selector := self._setting(workload, "node_selector"):
            spec["nodeSelector"] = dict(node_selector)
        if tolerations := self._setting(workload, "tolerations"):
            spec["tolerations"] = [dict(t) for t in tolerations]
        return spec

    # ---- the launch ---------------------------------------------------------------------------

    def client(self):
        # dagster-k8s comes with the `cluster` extra: imported only when a pod is launched.
        from dagster_k8s import PipesK8sClient

        return PipesK8sClient(
            load_incluster_config=self.load_incluster_config,
            kubeconfig_file=self.kubeconfig_file,
            kube_context=self.kube_context,
            poll_interval=self.poll_interval_s,
        )

    def run(self, context, workload: str, extras: dict, *, gpus: int | None = None):
        count = self.gpus_for(workload, gpus)
        if workload in DISTRIBUTED_WORKLOADS and count > self.gpus_per_node:
            return run_pytorchjob(self, context, workload, extras, count)
        spec = self.pod_spec(workload, count, context.run_id)
        container = spec["containers"][0]
        context.log.info(
            f"launching {workload} in a pod: {count} GPU(s), command {' '.join(container['command'])}, "
            f"image {self.image}"
        )
        try:
            return self.client().run(
                context=context,
                extras=extras,
                image=self.image,
                command=container["command"],
                namespace=self.namespace,
                base_pod_meta=self.pod_metadata(workload, count, context.run_id),
                base_pod_spec=spec,
                pod_wait_timeout=self.pod_wait_timeout_s,
                delete_pod_on_completion=self.delete_pods,
            )
        except (DagsterExecutionInterruptedError, KeyboardInterrupt) as interrupt:
            # PipesK8sClient has deleted the pod (unless delete_pods is off) on its way out.
            raise interrupted(interrupt) from None
        except Exception as error:
            # A failed container's termination message (workloads/core/lifecycle.py) is in the error.
            report = report_in(str(error))
            if report is None:
                raise
            raise workload_failure(context, workload, None, [{"failure": report}]) from error
