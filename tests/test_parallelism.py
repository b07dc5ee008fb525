"""The training settings built for each parallelism, checked through transformers' own processing.

The FSDP settings are those of a GPU run (on CPU the HF Trainer would run them as plain data
parallel, so the workload never builds them there); ``SFTConfig`` turns them into the arguments of
accelerate's FSDP plugin, which is what these tests read back.
"""

import importlib.util

import pytest
from transformers import Qwen3Config, Qwen3ForCausalLM
from trl import SFTConfig

from workloads.training.parallelism import (
    FLASH_ATTENTION_KERNEL,
    attention_implementation,
    layer_classes,
    training_arguments,
)

TINY = Qwen3Config(
    vocab_size=64,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=8,
)


@pytest.fixture
def gpu_packages(monkeypatch):
    """Which of the GPU extra's packages are importable (this CPU machine has none of them)."""
    present: set[str] = set()
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return object() if name in present else (None if name in GPU_PACKAGES else real(name, *args))

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return present


GPU_PACKAGES = ("flash_attn", "kernels", "liger_kernel")


def test_decoder_layers_are_the_units_fsdp_wraps():
    assert layer_classes(Qwen3ForCausalLM(TINY)) == ["Qwen3DecoderLayer"]


def test_fsdp_on_gpu_becomes_accelerate_fsdp2_full_shard_with_sharded_checkpoints(tmp_path, gpu_packages):
    gpu_packages.update({"kernels", "liger_kernel"})
    arguments = training_arguments(
        "fsdp", on_gpu=True, layer_classes=["Qwen3DecoderLayer"], gradient_checkpointing=True, fused_loss=True
    )
    assert arguments["gradient_checkpointing"] is False  # FSDP's own activation checkpointing instead
    assert arguments["use_liger_kernel"] and arguments["padding_free"]
    config = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **arguments)
    plugin = config._process_fsdp_args()
    assert plugin == {
        "fsdp_version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "transformer_cls_names_to_wrap": "Qwen3DecoderLayer",
        "cpu_ram_efficient_loading": True,
        "state_dict_type": "SHARDED_STATE_DICT",
        "activation_checkpointing": True,
        "reshard_after_forward": True,
    }


@pytest.mark.parametrize("parallelism,on_gpu", [("ddp", True), ("ddp", False), ("fsdp", False)])
def test_without_fsdp_the_trainer_checkpoints_gradients_itself(tmp_path, gpu_packages, parallelism, on_gpu):
    gpu_packages.add("liger_kernel")
    arguments = training_arguments(
        parallelism, on_gpu=on_gpu, layer_classes=["Qwen3DecoderLayer"], gradient_checkpointing=True, fused_loss=True
    )
    assert "fsdp" not in arguments and arguments["gradient_checkpointing"] is True
    assert arguments["use_liger_kernel"] is on_gpu
    assert SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **arguments).fsdp in (None, False, "")


@pytest.mark.parametrize(
    "installed,on_gpu,expected",
    [
        ({"flash_attn", "kernels"}, True, "flash_attention_2"),  # a wheel matched to torch wins
        ({"kernels"}, True, FLASH_ATTENTION_KERNEL),  # else the prebuilt hub kernel
        (set(), True, None),  # else the default (SDPA): no padding-free
        ({"flash_attn", "kernels"}, False, None),  # never on CPU
    ],
)
def test_flash_attention_without_compiling(gpu_packages, installed, on_gpu, expected):
    gpu_packages.update(installed)
    assert attention_implementation(on_gpu) == expected
    arguments = training_arguments(
        "ddp", on_gpu=on_gpu, layer_classes=[], gradient_checkpointing=True, fused_loss=False
    )
    assert arguments["padding_free"] is (expected is not None)


def test_the_fused_loss_on_gpu_without_liger_is_refused(gpu_packages):
    with pytest.raises(RuntimeError, match="liger-kernel"):
        training_arguments(
            "fsdp", on_gpu=True, layer_classes=["Qwen3DecoderLayer"], gradient_checkpointing=True, fused_loss=True
        )


@pytest.mark.parametrize(
    "parallelism,classes,message",
    [
        ("auto", ["Qwen3DecoderLayer"], "memory plan resolves auto"),
        ("fsdp", [], "_no_split_modules"),
    ],
)
def test_settings_that_cannot_be_built_are_refused(gpu_packages, parallelism, classes, message):
    gpu_packages.add("liger_kernel")
    with pytest.raises(ValueError, match=message):
        training_arguments(
            parallelism, on_gpu=True, layer_classes=classes, gradient_checkpointing=True, fused_loss=True
        )


def _sharded_checkpoint(root, step: int, complete: bool = True):
    folder = root / f"checkpoint-{step}"
    for name in ("pytorch_model_fsdp_0", "optimizer_0"):
        (folder / name).mkdir(parents=True)
        (folder / name / "__0_0.distcp").write_bytes(b"shard")
    for name in ("scheduler.pt", "rng_state_0.pth", "rng_state_1.pth", "model.safetensors") + (
        ("trainer_state.json",) if complete else ()
    ):
        (folder / name).write_bytes(b"x")
    return folder


def test_sharded_resume_state_is_kept_on_the_newest_checkpoint_only(tmp_path):
    from workloads.training.checkpoints import drop_resume_state, latest_resumable

    old, new = _sharded_checkpoint(tmp_path, 10), _sharded_checkpoint(tmp_path, 20)
    assert latest_resumable(tmp_path) == new
    drop_resume_state(tmp_path, keep=20)
    assert sorted(p.name for p in old.iterdir()) == ["model.safetensors", "trainer_state.json"]
    assert (new / "optimizer_0").is_dir() and (new / "rng_state_1.pth").exists()
    assert latest_resumable(tmp_path) == new


def test_a_sharded_checkpoint_killed_while_saving_is_not_resumed_from(tmp_path):
    from workloads.training.checkpoints import latest_resumable

    complete = _sharded_checkpoint(tmp_path, 10)
    _sharded_checkpoint(tmp_path, 20, complete=False)  # no trainer_state.json: the save did not finish
    assert latest_resumable(tmp_path) == complete
