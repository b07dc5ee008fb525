"""The memory planner against published measurements of real runs and the paper's students.

Sources (docs/training-at-scale.md cites them in full):
- torchtitan docs/performance.md: Llama 3.1 8B, FSDP2, H100s; Table 2 (8 GPUs, sequence 32768,
  batch 1, full activation checkpointing: 83.9 GiB) and Tables 1 and 3 (the same run on 8 and
  128 GPUs: 82.4 and 67.0 GiB, a difference made of sharded states alone).
- Liger-Kernel README: Llama 3 8B, batch 8 per GPU, bf16, AdamW, gradient checkpointing, FSDP
  on 8 A100 80GB: the unfused Hugging Face model runs out of memory from 4K tokens, with Liger
  it reaches 16K.
- ZeRO (Rajbhandari et al., 2020), Figure 1: a 7.5B model on 64 GPUs needs 120 GB of model
  states per GPU under data parallelism and 1.9 GB fully sharded.
"""

import json

import pytest

from workloads.planning.memory_plan import GIB, KNOWN_SHAPES, ModelShape, Setup, estimate, plan

LLAMA3_8B = ModelShape(
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
    vocab_size=128256,
)
TOLERANCE = 0.10  # the planner is a budget check: within 10% of a measured peak


@pytest.mark.parametrize(
    "name,setup,measured_gib",
    [
        ("torchtitan Table 2, FSDP 8, 32k", Setup("fsdp", 8, 32768, 1, True, False), 83.9),
    ],
)
def test_estimate_is_within_tolerance_of_a_measured_peak(name, setup, measured_gib):
    assert estimate(LLAMA3_8B, setup).gib == pytest.approx(measured_gib, rel=TOLERANCE), name


def test_sharded_states_match_the_measured_gap_between_8_and_128_gpus():
    gap = 82.4 - 67.0  # torchtitan Tables 1 and 3: same run, only the number of shards differs
    ours = estimate(LLAMA3_8B, Setup("fsdp", 8, 8192, 2)).gib - estimate(LLAMA3_8B, Setup("fsdp", 128, 8192, 2)).gib
    assert ours == pytest.approx(gap, rel=TOLERANCE)


@pytest.mark.parametrize(
    "length,fused,fits",
    [
        (2048, False, True),  # Hugging Face without Liger still runs at 2K
        (4096, False, False),  # ... and runs out of memory from 4K
        (16384, True, True),  # with the fused loss it reaches 16K
    ],
)
def test_published_out_of_memory_boundary_on_80_gib(length, fused, fits):
    result = estimate(LLAMA3_8B, Setup("fsdp", 8, length, 8, True, fused))
    assert (result.gib <= 80) is fits, result.table()


@pytest.mark.parametrize("parallelism,gpus,zero_gb", [("ddp", 64, 120.0), ("fsdp", 64, 1.9)])
def test_model_states_per_parameter_match_the_zero_paper(parallelism, gpus, zero_gb):
    states = estimate(LLAMA3_8B, Setup(parallelism, gpus, 1)).parts["states"]
    assert states / LLAMA3_8B.params * 7.5e9 / 1e9 == pytest.approx(zero_gb, rel=0.02)


@pytest.mark.parametrize(
    "hub_id,billions",
    [
        # Parameter counts on each model card (Qwen/Qwen3-*-Base): 1.7B, 4.0B, 8.2B, 14.8B.
        ("Qwen/Qwen3-1.7B-Base", 1.7),
        ("Qwen/Qwen3-4B-Base", 4.0),
        ("Qwen/Qwen3-8B-Base", 8.2),
        ("Qwen/Qwen3-14B-Base", 14.8),
    ],
)
def test_known_student_shapes_have_the_published_parameter_counts(hub_id, billions):
    assert KNOWN_SHAPES[hub_id].params / 1e9 == pytest.approx(billions, abs=0.05)


@pytest.mark.parametrize(
    "hub_id,requested,chosen,fits",
    [
        ("Qwen/Qwen3-1.7B-Base", "auto", "ddp", True),
        ("Qwen/Qwen3-4B-Base", "auto", "ddp", True),
        ("Qwen/Qwen3-8B-Base", "auto", "fsdp", True),
        ("Qwen/Qwen3-14B-Base", "auto", "fsdp", True),
        ("Qwen/Qwen3-14B-Base", "ddp", "ddp", False),
        ("Qwen/Qwen3-8B-Base", "ddp", "ddp", False),
    ],
)
def test_auto_picks_what_fits_the_paper_setup_on_8_x_80_gib(hub_id, requested, chosen, fits):
    result = plan(KNOWN_SHAPES[hub_id], requested, gpus=8, gpu_memory_gib=80, max_length=20000)
    assert (result.parallelism, result.fits) == (chosen, fits)


def test_a_plan_that_does_not_fit_names_what_would():
    result = plan(KNOWN_SHAPES["Qwen/Qwen3-14B-Base"], "ddp", gpus=1, gpu_memory_gib=80, max_length=20000)
    assert not result.fits
    text = result.describe()
    assert text.startswith("about 23") and "with ddp on 1 × 80 GiB; fsdp over 8 GPUs needs about" in text


def test_without_the_fused_loss_the_logits_dominate_at_20k_tokens():
    shape = KNOWN_SHAPES["Qwen/Qwen3-14B-Base"]
    fused = estimate(shape, Setup("fsdp", 8, 20000, fused_loss=True))
    unfused = estimate(shape, Setup("fsdp", 8, 20000, fused_loss=False))
    # 20,000 x 151,936 x 14 bytes: the bf16 logits and three fp32 tensors of their size.
    assert unfused.parts["loss_or_recompute"] / GIB == pytest.approx(20000 * 151936 * 14 / GIB)
    assert unfused.gib > 80 >= fused.gib


def test_activation_checkpointing_keeps_one_hidden_state_per_layer():
    shape = KNOWN_SHAPES["Qwen/Qwen3-1.7B-Base"]
    on = estimate(shape, Setup("ddp", 1, 4096, activation_checkpointing=True)).parts["activations"]
    off = estimate(shape, Setup("ddp", 1, 4096, activation_checkpointing=False)).parts["activations"]
    assert on == 28 * 4096 * 2048 * 2
    assert off == 28 * 4096 * shape.layer_activations_per_token * 2 > 10 * on


def test_shape_from_a_config_json_folder(tmp_path):
    config = {
        "model_type": "qwen3",
        "hidden_size": 2048,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "intermediate_size": 6144,
        "vocab_size": 151936,
        "head_dim": 128,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert ModelShape.from_folder(tmp_path) == KNOWN_SHAPES["Qwen/Qwen3-1.7B-Base"]


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"hidden_size": 8}, "lacks"),
    ],
)
def test_a_config_without_the_sizes_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelShape.from_config(bad)


def test_unknown_parallelism_is_refused():
    with pytest.raises(ValueError, match="one of"):
        plan(KNOWN_SHAPES["Qwen/Qwen3-1.7B-Base"], "zero3", 8, 80, 20000)
