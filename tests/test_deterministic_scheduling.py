"""Deterministic scheduling is one switch: STUDY_DETERMINISTIC_SCHEDULING (default: on without
GPUs) reaches every vLLM endpoint's settings and the local judge, and the workload's engine is
then built with vLLM's engine core in its own process turned off (vLLM's documented condition for
reproducible offline scheduling)."""

import os
import sys
import types

import pytest

from orchestration.environments import DETERMINISTIC_ENV, cluster_resources, local_resources
from resources.launchers.devices import Machine
from tests.training_helpers import engine_settings
from workloads.core.hardware import parse_gpu_list
from workloads.inference.engine import make_llm
from workloads.training.tiny_model import build_tiny_model

MULTIPROCESSING = "VLLM_ENABLE_V1_MULTIPROCESSING"
AS_FOUND = os.environ.get(MULTIPROCESSING)
GPUS = tuple(parse_gpu_list("0, NVIDIA A10G, 23028"))


@pytest.fixture
def recorded_engine(monkeypatch, tmp_path):
    """A stand-in vllm module whose LLM records the variable vLLM reads when it starts. make_llm
    sets that variable for the rest of its process (a workload's own): here it is put back, or
    every later engine of this test process would start in-process."""
    seen = {}

    class LLM:
        def __init__(self, **kwargs):
            seen["multiprocessing"] = os.environ.get(MULTIPROCESSING)
            seen["kwargs"] = kwargs

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM))
    before = os.environ.pop(MULTIPROCESSING, None)
    model = build_tiny_model(tmp_path / "tiny", ["What is 3 + 3? The answer is 6."] * 10)
    try:
        yield engine_settings(model), seen
    finally:
        os.environ.pop(MULTIPROCESSING, None)
        if before is not None:
            os.environ[MULTIPROCESSING] = before


@pytest.mark.parametrize(
    "gpus, value, expected",
    [
        # Unset: on on a CPU machine (the engine-core process only takes a core from the model),
        # vLLM's default on GPUs; the variable decides either way.
        ((), None, True),
        (GPUS, None, False),
        ((), "0", False),
        (GPUS, "1", True),
    ],
)
def test_one_variable_sets_every_local_engine_and_the_cpu_default_is_on(monkeypatch, gpus, value, expected):
    if value is None:
        monkeypatch.delenv(DETERMINISTIC_ENV, raising=False)
    else:
        monkeypatch.setenv(DETERMINISTIC_ENV, value)
    resources = local_resources(Machine(gpus))
    for name in ("eval_endpoint", "teacher_endpoint"):
        settings = resources[name].settings(model="m", max_model_len=64)
        assert settings["deterministic_scheduling"] is expected, name
    assert resources["judge_endpoint"].deterministic_scheduling is expected


@pytest.mark.parametrize("value, expected", [(None, False), ("1", True)])
def test_the_cluster_engines_follow_the_same_variable(monkeypatch, tmp_path, value, expected):
    launcher = tmp_path / "launcher.yaml"
    launcher.write_text("image: registry.example/workloads:gpu\n")
    monkeypatch.setenv("STUDY_LAUNCHER_CONFIG", str(launcher))
    monkeypatch.setenv("STUDY_S3_BUCKET", "bucket")
    if value is None:
        monkeypatch.delenv(DETERMINISTIC_ENV, raising=False)
    else:
        monkeypatch.setenv(DETERMINISTIC_ENV, value)
    engine = cluster_resources()["eval_endpoint"]
    assert engine.settings(model="m", max_model_len=64)["deterministic_scheduling"] is expected


def test_a_value_other_than_0_or_1_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(DETERMINISTIC_ENV, "yes")
    with pytest.raises(ValueError, match=f"{DETERMINISTIC_ENV}='yes'"):
        local_resources(Machine())


def test_the_engine_starts_with_its_core_in_the_workloads_process_when_asked(recorded_engine):
    settings, seen = recorded_engine
    _, info = make_llm({**settings, "deterministic_scheduling": True})
    assert seen["multiprocessing"] == "0"
    assert info["scheduling"].startswith("deterministic")


def test_by_default_vllms_own_process_layout_is_kept(recorded_engine):
    settings, seen = recorded_engine
    _, info = make_llm(settings)
    assert seen["multiprocessing"] is None
    assert info["scheduling"].startswith("vLLM's default")


def test_the_switch_does_not_outlive_its_test():
    # The fixture above put the variable back; a leak would start later test engines in-process.
    assert os.environ.get(MULTIPROCESSING) == AS_FOUND


@pytest.mark.parametrize("deterministic, in_flight", [(False, 8), (True, 1)])
def test_a_local_judge_gets_one_request_at_a_time_when_asked(monkeypatch, tmp_path, deterministic, in_flight):
    from contextlib import contextmanager

    from recipe_schema.sections import Judge
    from resources import judge_endpoint

    @contextmanager
    def started_server(model_dir, **settings):
        yield "http://127.0.0.1:9/v1"

    monkeypatch.setattr(judge_endpoint, "vllm_server", started_server)
    judge = Judge(model="smollm2-135m", max_concurrency=8)
    endpoint = judge_endpoint.JudgeEndpoint(deterministic_scheduling=deterministic)
    with endpoint.serving(judge, str(tmp_path)) as settings:
        assert settings["max_concurrency"] == in_flight
