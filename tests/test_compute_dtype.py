"""The compute dtype follows what the device does natively; a forced emulated dtype warns."""

import warnings

import pytest

from workloads.core import hardware
from workloads.core.hardware import Capability, EmulatedDtypeWarning, compute_dtype, decide

AVX512_BF16_CPU = Capability(device="cpu", name="cpu with avx512_bf16", bf16=True, fp16=False)
AVX2_CPU = Capability(device="cpu", name="cpu with avx2 only", bf16=False, fp16=False)
AMPERE_GPU = Capability(device="cuda", name="A100", bf16=True, fp16=True)
TURING_GPU = Capability(device="cuda", name="T4", bf16=False, fp16=True)


@pytest.mark.parametrize(
    ("capability", "dtype", "reason_part"),
    [
        (AVX512_BF16_CPU, "bfloat16", "native bf16 on this CPU"),
        (AVX2_CPU, "float32", "CPU without native bf16"),
        (AMPERE_GPU, "bfloat16", "native bf16 on this GPU"),
        (TURING_GPU, "float16", "GPU without bf16"),
    ],
)
def test_auto_picks_the_native_dtype_of_the_device(capability, dtype, reason_part):
    decision = decide("auto", capability)
    assert decision.dtype == dtype
    assert reason_part in decision.reason
    assert not decision.emulated


@pytest.mark.parametrize(
    ("capability", "forced", "emulated"),
    [
        (AVX2_CPU, "bfloat16", True),
        (AVX2_CPU, "float16", True),
        (AVX2_CPU, "float32", False),
        (AVX512_BF16_CPU, "bfloat16", False),
        (TURING_GPU, "bfloat16", True),
        (TURING_GPU, "float16", False),
    ],
)
def test_a_forced_dtype_is_kept_and_marked_emulated_or_native(capability, forced, emulated):
    decision = decide(forced, capability)
    assert (decision.dtype, decision.emulated) == (forced, emulated)
    assert ("emulated" if emulated else "native") in decision.reason


def test_a_forced_emulated_dtype_warns():
    with pytest.warns(EmulatedDtypeWarning, match="bfloat16 is emulated on cpu with avx2 only"):
        compute_dtype("bfloat16", AVX2_CPU)


def test_a_native_dtype_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compute_dtype("auto", AVX2_CPU).dtype == "float32"
        assert compute_dtype("bfloat16", AVX512_BF16_CPU).dtype == "bfloat16"


def test_an_unknown_dtype_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown dtype 'bf16'"):
        decide("bf16", AVX2_CPU)


@pytest.mark.parametrize(("mkldnn_bf16", "dtype"), [(True, "bfloat16"), (False, "float32")])
def test_the_cpu_probe_reads_onednn_bf16_support(monkeypatch, mkldnn_bf16, dtype):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: mkldnn_bf16)
    decision = compute_dtype("auto")
    assert decision.capability.device == "cpu"
    assert decision.dtype == dtype
    assert decision.metadata()["native_bf16"] is mkldnn_bf16


@pytest.mark.parametrize(("bf16", "dtype"), [(True, "bfloat16"), (False, "float16")])
def test_the_gpu_probe_asks_for_native_bf16_only(monkeypatch, bf16, dtype):
    import torch

    calls = []

    def is_bf16_supported(including_emulation=True):
        calls.append(including_emulation)
        return bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "GPU 0")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert hardware.compute_dtype("auto").dtype == dtype
    assert calls == [False]


@pytest.mark.parametrize(("dtype", "bf16", "fp16"), [("bfloat16", True, False), ("float32", False, False)])
def test_training_mixed_precision_follows_the_decided_dtype(tmp_path, dtype, bf16, fp16):
    from recipe_schema.recipe import PROJECT_ROOT, load_recipe
    from workloads.training.config import build_config

    training = load_recipe(PROJECT_ROOT / "recipes" / "small.yaml").training.model_dump()
    config = build_config(training, str(tmp_path), seed=0, dtype=dtype)
    assert (config.bf16, config.fp16) == (bf16, fp16)
