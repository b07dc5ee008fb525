"""How evaluation reaches the recipe's LLM judge: an OpenAI-compatible endpoint.

With a ``base_url`` (the recipe's, or this resource's, which wins) the judge is a running server:
a vLLM deployment or a provider. Without one, and where the environment allows it, the judge model
(a key in the recipe's ``models``) is served on this machine by a vLLM server started for the run
on 127.0.0.1 and stopped, by its PID, when the run's evaluations are done.

On a GPU machine a local judge never lands on a device by chance: the step leases the judge's
device together with its evaluation engines' (all or none, so runs that serve judges cannot wait
on each other for ever), and the engines it launches use the devices reserved with it. With one
GPU the judge and the engine share it, each sized for that (``resources/launchers/machine_settings.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from recipe_schema.sections import Judge
from resources.launchers.devices import ENGINE_MEMORY_CAP, RESERVED, Lease, leased
from resources.launchers.vllm_server import vllm_server


class JudgeServerError(RuntimeError):
    """The judge has no URL and can't be served here."""


class JudgeEndpoint(ConfigurableResource):
    """Where the judge answers. ``settings`` is what the evaluation workload gets (the key's
    variable NAME, never the key)."""

    base_url: str | None = Field(default=None, description="OpenAI-compatible server root; overrides the recipe's")
    serve_locally: bool = Field(
        default=True, description="without a base_url, start a vLLM server for the judge model on this machine"
    )
    memory_utilization: float = Field(default=0.3, description="a local server's share of device memory")
    enforce_eager: bool = Field(default=True, description="a local server without CUDA graphs (CPU)")
    startup_timeout_s: float = Field(default=600.0, gt=0)
    devices: list[int] = Field(default=[], description="GPU ids a local server may lease (none: CPU)")
    engine_gpus: int = Field(default=1, ge=1, description="GPUs of each evaluation engine, leased with the judge's")
    share_device: bool = Field(
        default=False, description="one GPU: the judge's server and the engines share it, both sized for that"
    )
    shared_engine_share: float = Field(
        default=0.55, gt=0, lt=1, description="an engine's share of the device while it shares it with this judge"
    )
    lease_folder: str | None = Field(default=None, description="folder of the device lock files")
    deterministic_scheduling: bool = Field(
        default=False,
        description="a judge served here gets one request at a time, so each reply is judged alone in its batch and "
        "a rerun gets the same judgments (a vLLM server cannot fix its batches otherwise); slower",
    )

    @contextmanager
    def serving(self, judge: Judge, model_dir: str | None) -> Iterator[dict]:
        """Yields the judge's settings for the workload while the judge is reachable.
        ``model_dir``: the judge model's folder, for a judge served locally."""
        base_url = self.base_url or judge.base_url
        settings = {
            "model": judge.model,
            "api_key_env": judge.api_key_env,
            "max_tokens": judge.max_tokens,
            "max_concurrency": judge.max_concurrency,
        }
        if base_url:
            yield {**settings, "base_url": base_url}
            return
        if not self.serve_locally:
            raise JudgeServerError(
                "the judge has no base_url (evaluation.judge.base_url in the recipe, or STUDY_JUDGE_BASE_URL) "
                "and this environment does not start judge servers itself"
            )
        if not model_dir or not Path(model_dir).is_dir():
            raise JudgeServerError(
                f"judge model {judge.model!r}: no local model folder at {model_dir} (materialize base_models first)"
            )
        with self._judge_device() as env:
            # A server started here needs no key: no variable is named, and none is sent.
            with vllm_server(
                model_dir,
                served_name=judge.model,
                max_model_len=judge.max_model_len,
                memory_utilization=self.memory_utilization,
                startup_timeout_s=self.startup_timeout_s,
                env=env,
                enforce_eager=self.enforce_eager,
            ) as url:
                one_at_a_time = {"max_concurrency": 1} if self.deterministic_scheduling else {}
                yield {**settings, "base_url": url, "api_key_env": "", **one_at_a_time}

    @contextmanager
    def _judge_device(self) -> Iterator[dict]:
        """The judge server's environment (its device) while the step holds it and its engines' devices."""
        if not self.devices:
            yield {}
            return
        count = self.engine_gpus if self.share_device else 1 + self.engine_gpus
        with leased(self.devices, count, "judge server and its evaluation engines", folder=self.lease_folder) as lease:
            engines = lease.devices if self.share_device else lease.devices[1:]
            token = RESERVED.set(Lease(engines, lease.fds))
            cap = ENGINE_MEMORY_CAP.set(self.shared_engine_share if self.share_device else None)
            try:
                yield {"CUDA_VISIBLE_DEVICES": str(lease.devices[0])}
            finally:
                ENGINE_MEMORY_CAP.reset(cap)
                RESERVED.reset(token)
