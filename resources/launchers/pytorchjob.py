"""Training runs larger than one node, on the Kubeflow training operator's ``PyTorchJob``.

The operator (kubeflow.org/v1, training-operator v1.9) starts one Master pod and ``nodes - 1``
Worker pods from the same template (the launcher's pod spec, ``gpus_per_node`` GPUs each) and
gives every container ``MASTER_ADDR``, ``MASTER_PORT`` and its node ``RANK``; each pod runs
``torchrun`` over its GPUs, joined into one rendezvous with the others. Global rank 0 (on the
Master) opens Dagster Pipes; the other ranks read the same Pipes context from their environment
and stay silent. The orchestrator follows the Master pod's log (Pipes messages, as for a single
pod), then the job's conditions; a failed job fails the step with the operator's reason, and the
asset's retry policy relaunches it (the run resumes from its newest complete checkpoint). The
operator itself never restarts pods (``backoffLimit: 0``, ``restartPolicy: Never``), so every
failure and retry is one Dagster sees.
"""

from __future__ import annotations

import time

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"
JOB_NAME_LIMIT = 40  # pod names add "-worker-<index>"; keep them within a DNS label's 63 characters


def job_name(workload: str, run_id: str) -> str:
    return f"{workload.replace('_', '-')}-{run_id[:12]}".lower()[:JOB_NAME_LIMIT].rstrip("-")


def torchrun_command(workload_module: str, nodes: int, gpus_per_node: int) -> list[str]:
    """Kubernetes expands ``$(VAR)`` from the container's environment, which the operator fills."""
    return [
        "torchrun",
        "--nnodes",
        str(nodes),
        "--nproc-per-node",
        str(gpus_per_node),
        "--node-rank",
        "$(RANK)",
        "--master-addr",
        "$(MASTER_ADDR)",
        "--master-port",
        "$(MASTER_PORT)",
        "-m",
        workload_module,
    ]


def pytorchjob_manifest(launcher, workload: str, gpus: int, run_id: str, env: dict[str, str]) -> dict:
    """The PyTorchJob for ``gpus`` GPUs over nodes of ``launcher.gpus_per_node``; ``env``: the
    Pipes bootstrap variables, given to every replica."""
    from resources.launchers.compute import workload_module

    per_node = launcher.gpus_per_node
    if gpus <= per_node or gpus % per_node:
        raise ValueError(f"{workload}: {gpus} GPUs is not a whole number (> 1) of nodes of {per_node} GPUs")
    nodes = gpus // per_node
    name = job_name(workload, run_id)
    template_spec = launcher.pod_spec(workload, per_node, run_id)
    container = template_spec["containers"][0]
    # The operator finds the container it configures by this name.
    container.update(name="pytorch", command=torchrun_command(workload_module(workload), nodes, per_node))
    container["env"] = container["env"] + [{"name": k, "value": v} for k, v in env.items()]
    container["ports"] = [{"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"}]
    metadata = launcher.pod_metadata(workload, gpus, run_id)

    def replica(count: int) -> dict:
        return {"replicas": count, "restartPolicy": "Never", "template": {"metadata": metadata, "spec": template_spec}}

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, **({"namespace": launcher.namespace} if launcher.namespace else {}), **metadata},
        "spec": {
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None"},
            "nprocPerNode": str(per_node),
            "pytorchReplicaSpecs": {"Master": replica(1), **({"Worker": replica(nodes - 1)} if nodes > 1 else {})},
        },
    }


def job_outcome(job: dict) -> tuple[str, str] | None:
    """("Succeeded" | "Failed", message) once the job has finished, else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Succeeded", "Failed") and condition.get("status") == "True":
            return condition["type"], f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
    return None


class PyTorchJobFailed(RuntimeError):
    pass


def run_pytorchjob(launcher, context, workload: str, extras: dict, gpus: int):
    """Create the job, stream the Master's Pipes messages, wait for the outcome, delete the job."""
    import kubernetes
    from dagster import PipesEnvContextInjector, open_pipes_session
    from dagster._core.pipes.client import PipesClientCompletedInvocation
    from dagster_k8s.pipes import PipesK8sPodLogsMessageReader

    api_client = _api_client(launcher)
    custom = kubernetes.client.CustomObjectsApi(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    namespace = launcher.namespace or "default"
    reader = PipesK8sPodLogsMessageReader()
    with open_pipes_session(
        context=context, extras=extras, context_injector=PipesEnvContextInjector(), message_reader=reader
    ) as session:
        manifest = pytorchjob_manifest(launcher, workload, gpus, context.run_id, session.get_bootstrap_env_vars())
        name = manifest["metadata"]["name"]
        context.log.info(
            f"launching {workload} as PyTorchJob {namespace}/{name}: {gpus} GPUs on "
            f"{gpus // launcher.gpus_per_node} nodes, image {launcher.image}"
        )
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
        try:
            master = f"{name}-master-0"
            deadline = time.monotonic() + launcher.pod_wait_timeout_s if launcher.pod_wait_timeout_s else None
            _wait_for_pod(core, master, namespace, launcher.poll_interval_s, deadline)
            reader.consume_pod_logs(context=context, core_api=core, pod_name=master, namespace=namespace)
            while (
                outcome := job_outcome(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
            ) is None:
                if deadline and time.monotonic() > deadline:
                    raise PyTorchJobFailed(f"PyTorchJob {name} did not finish within {launcher.pod_wait_timeout_s} s")
                time.sleep(launcher.poll_interval_s)
            if outcome[0] == "Failed":
                raise PyTorchJobFailed(f"PyTorchJob {namespace}/{name} failed: {outcome[1]}")
        finally:
            if launcher.delete_pods:
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Foreground"
                )
    return PipesClientCompletedInvocation(session)


def _wait_for_pod(core, name: str, namespace: str, poll_s: float, deadline: float | None) -> None:
    import kubernetes

    while True:
        try:
            if core.read_namespaced_pod(name, namespace).status.phase not in (None, "Pending"):
                return
        except kubernetes.client.ApiException as err:
            if err.status != 404:  # the operator has not created it yet
                raise
        if deadline and time.monotonic() > deadline:
            raise PyTorchJobFailed(f"pod {namespace}/{name} was not scheduled in time")
        time.sleep(poll_s)


def _api_client(launcher):
    """The same configuration rules as the single-pod path (``load_incluster_config`` etc.)."""
    import os

    import kubernetes

    incluster = launcher.load_incluster_config
    if incluster is None:
        incluster = "KUBERNETES_SERVICE_HOST" in os.environ
    if incluster:
        kubernetes.config.load_incluster_config()
        return kubernetes.client.ApiClient()
    return kubernetes.config.new_client_from_config(config_file=launcher.kubeconfig_file, context=launcher.kube_context)
