"""The GPU check (benchmarks/gpu_check.py): its arithmetic, and its tiny run on this CPU end to end."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import (
    HEADER,
    SHAPES,
    TINY_PLAN,
    fmt,
    format_table,
    peak_tflops,
    planned_gib,
    table_rows,
    training_flops_per_token,
)

ROOT = Path(__file__).resolve().parent.parent


def test_training_flops_of_qwen3_1_7b_by_hand():
    # Per layer: q and o 2048x2048, k and v 2048x1024, three MLP matrices 2048x6144, norms 2x2048 + 2x128.
    layer = 2 * 2048 * 2048 + 2 * 2048 * 1024 + 3 * 2048 * 6144 + 2 * 2048 + 2 * 128
    head = 151936 * 2048  # tied to the embeddings, but still one matmul per token
    attention = 6 * 28 * 4096 * 16 * 128  # causal: half of 4096 keys, QK^T and AV, forward and backward
    assert training_flops_per_token(SHAPES["Qwen3-1.7B"], 4096) == 6 * (28 * layer + head) + attention


def test_peak_tflops_takes_the_most_specific_name():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("Tesla T4") is None


def test_plan_grows_with_the_sequence_and_the_model():
    small, long, large = (
        planned_gib(SHAPES[m], n, "fsdp")
        for m, n in [("Qwen3-0.6B", 4096), ("Qwen3-0.6B", 16384), ("Qwen3-1.7B", 4096)]
    )
    assert 2 < small < long and small < large < 80


def test_table_computes_mfu_and_shows_failures():
    ok = dict(kind="train", model="m", length="4096", tokens_per_second=1000.0, flops_per_token=3e11)
    ok |= dict(peak_gib=10.0, reserved_gib=12.0, planned_gib=11.0, setup="s")
    failed = dict(kind="generate", model="m", length="512", error="CUDA out of memory")
    rows = table_rows([ok, failed], peak=600.0)
    assert rows[0][3:9] == ["1,000", "300", "50", "10", "12", "11"]
    assert rows[1][3] == "error" and rows[1][-1] == "CUDA out of memory"
    assert fmt(None) == "—" and fmt(0.000123) == "0.000123"
    lines = format_table(rows).splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.mark.slow  # three processes importing torch, transformers and TRL: one to two minutes here
def test_tiny_run_prints_one_table_of_positive_figures():
    peak = 0.5  # TFLOP/s: a CPU has no datasheet entry, so MFU needs one given
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--tiny", "--peak-tflops", str(peak)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("device: CPU; peak 0.5 dense bf16 TFLOP/s"), lines[0]
    table = [_cells(line) for line in lines if line.startswith("| ")]
    assert table[0] == HEADER
    rows = {(r[0], r[1], r[2]): dict(zip(HEADER, r, strict=True)) for r in table[1:]}
    expected = [("train", model, str(length)) for model, length in TINY_PLAN["training"]]
    expected += [
        ("generate", model, str(TINY_PLAN["prompt_tokens"] + TINY_PLAN["new_tokens"]))
        for model in TINY_PLAN["generation"]
    ]
    assert list(rows) == expected
    for (kind, _, _), row in rows.items():
        speed = _number(row["tokens/s"])
        assert speed > 0 and math.isfinite(speed)
        assert row["peak GiB"] == row["reserved GiB"] == "—"  # no GPU memory on a CPU
        if kind == "train":
            tflops, mfu, plan = (_number(row[k]) for k in ("TFLOP/s", "MFU %", "plan GiB"))
            assert tflops > 0 and plan >= 2  # the plan counts 2 GiB of CUDA context and workspaces
            assert mfu == pytest.approx(100 * tflops / peak, rel=0.01)
            assert "liger off" in row["setup"] and "MULTI_CPU" in row["setup"]
        else:
            assert row["TFLOP/s"] == row["plan GiB"] == "—"
            assert "transformers" in row["setup"]
