"""Traces are reused only for the same teacher: its weights and compute dtype are part of the hash
every trace row carries, not just its recipe entry."""

import shutil

import pytest

import workloads.programs.generate as generate
from workloads.core.hardware import DtypeDecision
from workloads.core.model_identity import IDENTITY_FILE, read_identity, weights_digest
from workloads.programs.generate import teacher_hash
from workloads.training.tiny_model import build_tiny_model

SAMPLING = {"temperature": 0.6, "max_new_tokens": 32}
CORPUS = ["What is 2 + 2? The answer is 4."] * 4


def job(model: str, backend: str = "vllm-offline") -> dict:
    teacher = {"name": "teacher", "backend": "vllm", "model": "teacher", "dtype": "auto"}
    return {"loader": "math", "teacher": teacher, "endpoint": {"backend": backend, "model": model}}


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    return [str(build_tiny_model(root / f"seed{seed}", CORPUS, seed=seed)) for seed in (0, 1)]


def test_other_weights_under_the_same_recipe_entry_are_another_teacher(two_models):
    first, second = (teacher_hash(job(model), SAMPLING) for model in two_models)
    assert first != second


def test_the_same_weights_in_another_folder_are_the_same_teacher(two_models, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(two_models[0], copy)
    assert teacher_hash(job(str(copy)), SAMPLING) == teacher_hash(job(two_models[0]), SAMPLING)


def test_a_folder_without_a_recorded_identity_is_identified_by_its_weights(two_models, tmp_path):
    copy = tmp_path / "unrecorded"
    shutil.copytree(two_models[0], copy)
    (copy / IDENTITY_FILE).unlink()
    assert read_identity(str(copy))["weights_sha256"] == read_identity(two_models[0])["weights_sha256"]
    assert weights_digest(copy) == read_identity(two_models[0])["weights_sha256"]


def test_changed_weight_bytes_change_the_identity(two_models, tmp_path):
    copy = tmp_path / "changed"
    shutil.copytree(two_models[0], copy)
    (copy / IDENTITY_FILE).unlink()
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert weights_digest(copy) != read_identity(two_models[0])["weights_sha256"]


def test_another_compute_dtype_is_another_teacher(two_models, monkeypatch):
    before = teacher_hash(job(two_models[0]), SAMPLING)
    real = generate.compute_dtype

    def as_bf16(requested="auto", capability=None):
        decision = real(requested, capability)
        other = "bfloat16" if decision.dtype != "bfloat16" else "float32"
        return DtypeDecision(other, requested, "test", False, decision.capability)

    monkeypatch.setattr(generate, "compute_dtype", as_bf16)
    assert teacher_hash(job(two_models[0]), SAMPLING) != before


def test_a_served_teacher_is_identified_by_its_server_and_served_name():
    served = {"backend": "openai-compatible", "base_url": "http://127.0.0.1:8000/v1", "model": "qwen3-32b"}
    renamed = {**served, "model": "qwen3-8b"}
    jobs = [{**job("x"), "endpoint": endpoint} for endpoint in (served, renamed)]
    assert teacher_hash(jobs[0], SAMPLING) != teacher_hash(jobs[1], SAMPLING)


def test_a_remote_folder_without_an_identity_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr("workloads.core.model_identity.exists", lambda location: False)
    with pytest.raises(FileNotFoundError, match="materialize the model again"):
        read_identity("s3://bucket/models/teacher")
