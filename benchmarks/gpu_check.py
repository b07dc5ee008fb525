"""The study's training and generation paths measured on one GPU, in one call, offline (docs/gpu-check.md).

    python -m benchmarks.gpu_check [--peak-tflops T] [--budget-seconds 450]   # CUDA: ends within 8 min
    python -m benchmarks.gpu_check --tiny                                       # the same code on the CPU

Prints one table: for randomly initialised Qwen3-shaped students (0.6B and 1.7B) at 4k to 16k tokens per
sequence, training tokens/s, model TFLOP/s and MFU, and peak GPU memory beside the memory plan's
estimate for the same settings; then generation tokens/s with the transformers engine.

Training runs the project's own path: ``full.yaml``'s training section through ``build_config`` (TRL's
SFTConfig with length-grouped or padding-free batches, Liger where it imports, FSDP2 from the memory
plan's parallelism), on one rank started as torchrun starts one (accelerate shards a distributed
launch only). Each measurement runs in its own process: its peak memory is its own, and a failure
(out of memory, a library that refuses the settings) costs its row, not the table.

MFU counts model FLOPs, not recomputation: 6 per parameter of the decoder layers and the output head
per token, plus causal attention, 6 x layers x sequence length x query width per token (QK^T and AV,
forward and backward, over half the sequence on average). The peak is the GPU's dense bf16 datasheet
figure (``PEAK_BF16_TFLOPS``) or ``--peak-tflops``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

from workloads.planning.memory_plan import GIB, KNOWN_SHAPES, ModelShape, Setup, estimate

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "full.yaml"
RESULT_PREFIX = "GPU_CHECK_RESULT "

# Public config.json of Qwen/Qwen3-0.6B (the 1.7B is the study's smallest student); tiny: the CPU run.
SHAPES = {
    "Qwen3-0.6B": ModelShape(1024, 28, 16, 8, 3072, 151936, 128, True, True),
    "Qwen3-1.7B": KNOWN_SHAPES["Qwen/Qwen3-1.7B-Base"],
    "tiny-qwen3": ModelShape(64, 2, 4, 2, 128, 512, 16, True, True),
}
# NVIDIA datasheets, dense (no sparsity) bf16 tensor TFLOP/s; the first name contained in the device's wins.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0))

# What one call measures, and how long: the (model, tokens per sequence) pairs trained, the models that
# generate; tokens per optimizer step (at least one sequence), steps not timed, then steps timed.
GPU_PLAN = dict(
    training=(("Qwen3-0.6B", 4096), ("Qwen3-0.6B", 16384), ("Qwen3-1.7B", 4096), ("Qwen3-1.7B", 8192),
              ("Qwen3-1.7B", 16384)),
    generation=("Qwen3-0.6B", "Qwen3-1.7B"),
    tokens_per_step=32768, warmup_steps=2, steps=4, prompts=64, prompt_tokens=256, new_tokens=256, cpu=False,
)  # fmt: skip
TINY_PLAN = dict(
    training=(("tiny-qwen3", 128), ("tiny-qwen3", 256)),
    generation=("tiny-qwen3",),
    tokens_per_step=512, warmup_steps=1, steps=2, prompts=4, prompt_tokens=16, new_tokens=16, cpu=True,
)  # fmt: skip


def training_flops_per_token(shape: ModelShape, seq_len: int) -> float:
    matmul_params = shape.num_hidden_layers * shape.layer_params + shape.vocab_size * shape.hidden_size
    return 6.0 * matmul_params + 6.0 * shape.num_hidden_layers * seq_len * shape.query_width


def peak_tflops(device_name: str) -> float | None:
    return next((peak for name, peak in PEAK_BF16_TFLOPS if name in device_name), None)


def planned_gib(shape: ModelShape, seq_len: int, parallelism: str, per_device_batch: int = 1) -> float:
    """The memory plan's peak for one GPU, with the fused loss: TRL computes the loss through its own
    chunked LM head whether or not Liger is on, so the logits never exist whole."""
    return estimate(shape, Setup(parallelism, 1, seq_len, per_device_batch, True, True)).total / GIB


def recipe_sections(path: Path = RECIPE) -> tuple[dict, dict]:
    """The recipe's training section and evaluation sampling, as a study run reads them."""
    import yaml

    recipe = yaml.safe_load(path.read_text())
    return recipe["training"], recipe["evaluation"]["sampling"]


def synthetic_text(rng: random.Random, words: int) -> str:
    """Letters in words: no data to fetch, and a BPE tokenizer splits it into a predictable many tokens."""
    return " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(words))


def build_tokenizer(folder: Path) -> Path:
    """A byte-level BPE tokenizer with the study chat template, trained offline in a second."""
    from workloads.training.tiny_model import build_tiny_model

    rng = random.Random(0)
    return build_tiny_model(folder, [synthetic_text(rng, 200) for _ in range(200)])


def qwen3_config(shape: ModelShape, tokenizer):
    from transformers import Qwen3Config

    sizes = {k: v for k, v in asdict(shape).items() if k != "qk_norm"}  # config.json's names; Qwen3 has qk-norm
    specials = {f"{k}_token_id": getattr(tokenizer, f"{k}_token_id") for k in ("bos", "eos", "pad")}
    return Qwen3Config(**sizes, **specials, max_position_embeddings=40960)


def load_tokenizer(folder: str):
    from transformers import AutoTokenizer

    from workloads.core.chat import ensure_chat_template

    tokenizer = AutoTokenizer.from_pretrained(folder)
    ensure_chat_template(tokenizer)
    return tokenizer


def peaks(on_gpu: bool) -> dict:
    """Peak GPU memory since the last reset: what tensors held, and what the caching allocator reserved."""
    if not on_gpu:
        return {"peak_gib": None, "reserved_gib": None}
    import torch

    return {"peak_gib": torch.cuda.max_memory_allocated() / GIB, "reserved_gib": torch.cuda.max_memory_reserved() / GIB}


def make_meter(start: int, stop: int, on_gpu: bool):
    """A callback that times optimizer steps ``start + 1 .. stop`` and reads peak memory over them (the
    optimizer states exist by then, as they do for the rest of a run)."""
    import torch
    from transformers import TrainerCallback

    class StepMeter(TrainerCallback):
        def __init__(self):
            self.marks: dict[int, tuple[float, int]] = {}  # step -> (seconds, tokens seen)
            self.peaks = peaks(False)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step not in (start, stop):
                return
            if on_gpu:
                torch.cuda.synchronize()
            self.marks[state.global_step] = (time.perf_counter(), int(state.num_input_tokens_seen))
            if on_gpu and state.global_step == start:
                torch.cuda.reset_peak_memory_stats()
            elif on_gpu:
                self.peaks = peaks(True)

    return StepMeter()


def measure_training(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    from workloads.core.hardware import compute_dtype
    from workloads.training.config import build_config
    from workloads.training.parallelism import attention_implementation, layer_classes

    shape, seq_len = SHAPES[spec["model"]], spec["seq_len"]
    on_gpu = torch.cuda.is_available()
    tokenizer = load_tokenizer(spec["tokenizer"])
    training, _ = recipe_sections()
    accumulation = max(1, spec["tokens_per_step"] // (seq_len * training["per_device_batch_size"]))
    steps = spec["warmup_steps"] + spec["steps"]
    cfg = {
        **training,
        "epochs": 1,
        "max_length": seq_len,
        "global_batch_size": training["per_device_batch_size"] * accumulation,
        "save_every": 10**9,
    }
    decision = compute_dtype(cfg.get("dtype", "auto"))
    implementation = attention_implementation(on_gpu)
    torch.manual_seed(0)
    # fp32 weights under mixed precision, as the workload loads a student; drawn on the GPU, where
    # random initialisation takes a second (on the CPU a 1.7B model takes a minute).
    with torch.device("cuda" if on_gpu else "cpu"):
        model = AutoModelForCausalLM.from_config(
            qwen3_config(shape, tokenizer),
            dtype=torch.float32,
            **({"attn_implementation": implementation} if implementation else {}),
        )
    args = build_config(cfg, spec["output_dir"], 0, "fsdp", layer_classes(model), decision.dtype, "gpu-check")
    args.max_steps, args.save_strategy = steps, "no"
    args.report_to = []  # TensorBoard event files are no part of the speed, and tensorboard may be absent
    rng = random.Random(1)
    # Long enough that every example is cut at max_length: each step trains exactly tokens_per_step.
    answers = [synthetic_text(rng, 2 * seq_len) for _ in range(steps * cfg["global_batch_size"])]
    dataset = Dataset.from_list([{"messages": conversation(a)} for a in answers])
    meter = make_meter(spec["warmup_steps"], steps, on_gpu)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[meter])
    lengths = sorted({len(ids) for ids in trainer.train_dataset["input_ids"]})
    if lengths != [seq_len]:
        raise RuntimeError(f"training examples of {lengths} tokens, expected all of {seq_len}")
    trainer.train()
    (t0, seen0), (t1, seen1) = meter.marks[spec["warmup_steps"]], meter.marks[steps]
    distributed = trainer.accelerator.distributed_type.value
    return {
        "tokens_per_second": (seen1 - seen0) / (t1 - t0),
        **meter.peaks,
        "planned_gib": planned_gib(shape, seq_len, "fsdp" if distributed == "FSDP" else "ddp"),
        "setup": (
            f"{distributed}{'2' if trainer.accelerator.is_fsdp2 else ''} x1 {decision.dtype}, "
            f"{accumulation}x{seq_len} tok/step, liger {'on' if args.use_liger_kernel else 'off'}, "
            f"padding-free {'on' if args.padding_free else 'off'}, attention {model.config._attn_implementation}"
        ),
    }


def conversation(answer: str) -> list[dict]:
    return [{"role": "user", "content": "Continue the text."}, {"role": "assistant", "content": answer}]


def measure_generation(spec: dict) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from workloads.core.hardware import compute_dtype
    from workloads.inference.transformers_engine import MAX_BATCH_SEQUENCES, TransformersLLM

    on_gpu = torch.cuda.is_available()
    tokenizer = load_tokenizer(spec["tokenizer"])
    decision = compute_dtype("auto")
    torch.manual_seed(0)
    with torch.device("cuda" if on_gpu else "cpu"):
        model = AutoModelForCausalLM.from_config(qwen3_config(SHAPES[spec["model"]], tokenizer), dtype=decision.dtype)
    model.save_pretrained(spec["output_dir"])
    tokenizer.save_pretrained(spec["output_dir"])
    del model
    max_len = spec["prompt_tokens"] + spec["new_tokens"] + 8
    llm = TransformersLLM(spec["output_dir"], dtype=decision.dtype, seed=0, max_model_len=max_len)
    rng = random.Random(2)
    prompts = []
    for _ in range(spec["prompts"]):
        ids = tokenizer(synthetic_text(rng, 2 * spec["prompt_tokens"]))["input_ids"][: spec["prompt_tokens"]]
        prompts.append(tokenizer.decode(ids))
    _, sampling = recipe_sections()
    # The fields of vLLM's SamplingParams the engine reads, as the study's evaluation samples.
    fields = {k: sampling[k] for k in ("temperature", "top_p", "top_k", "min_p")} | {"n": 1}
    llm.generate(prompts[:2], SimpleNamespace(max_tokens=4, **fields))  # CUDA context and kernels, not timed
    if on_gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    outputs = llm.generate(prompts, SimpleNamespace(max_tokens=spec["new_tokens"], **fields))
    if on_gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens = sum(len(c.token_ids) for request in outputs for c in request.outputs)
    return {
        "tokens_per_second": tokens / seconds,
        **peaks(on_gpu),
        "planned_gib": None,
        "setup": (
            f"transformers {decision.dtype}, {spec['prompts']} prompts x {spec['prompt_tokens']} tok, "
            f"{tokens} new tok, batches of {min(spec['prompts'], MAX_BATCH_SEQUENCES)}"
        ),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measurement(spec: dict, timeout: float) -> dict:
    """One measurement in a fresh process, as rank 0 of a one-process torchrun launch, offline."""
    rank = dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    # The machine can fetch nothing: fail at once rather than after the hub's retries.
    offline = dict(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env = {**os.environ, **rank, **offline, "MASTER_PORT": str(free_port())}
    if spec["cpu"]:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the tiny plan runs on the CPU wherever it is started
    command = [sys.executable, "-m", "benchmarks.gpu_check", "--measure", json.dumps(spec)]
    try:
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {timeout:.0f} s (time budget)"}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    sys.stderr.write(done.stderr[-4000:])  # the failure's own trace, beside the table
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return {"error": (lines[-1] if lines else f"exit status {done.returncode}")[:160]}


def fmt(value: float | None) -> str:
    """Three significant figures (whole numbers from 1,000): tiny CPU figures stay readable."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def table_rows(results: list[dict], peak: float | None) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["kind"], r["model"], r["length"], "error", "—", "—", "—", "—", "—", r["error"]])
            continue
        tflops = r["tokens_per_second"] * r["flops_per_token"] / 1e12 if r.get("flops_per_token") else None
        mfu = 100 * tflops / peak if tflops is not None and peak else None
        figures = [r["tokens_per_second"], tflops, mfu, r["peak_gib"], r["reserved_gib"], r["planned_gib"]]
        rows.append([r["kind"], r["model"], r["length"], *map(fmt, figures), r["setup"]])
    return rows


HEADER = ["measure", "model", "tokens", "tokens/s", "TFLOP/s", "MFU %", "peak GiB", "reserved GiB", "plan GiB", "setup"]


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("torch", "transformers", "trl", "accelerate", "datasets", "liger-kernel", "flash-attn", "kernels"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} absent")
    return ", ".join(found)


def check(plan: dict, budget_seconds: float, peak: float | None) -> tuple[str, float | None, list[dict]]:
    """Every measurement of ``plan`` while ``budget_seconds`` last: the device, its peak TFLOP/s, the results."""
    import torch

    device = "CPU" if plan["cpu"] or not torch.cuda.is_available() else torch.cuda.get_device_name(0)
    deadline = time.monotonic() + budget_seconds
    jobs = [("train", model, length) for model, length in plan["training"]]
    jobs += [("generate", model, plan["prompt_tokens"] + plan["new_tokens"]) for model in plan["generation"]]
    # Interleaved so a spent budget drops the largest settings, not a whole kind.
    trained = len(plan["training"])
    order = [jobs[0], jobs[trained], *jobs[1:trained], *jobs[trained + 1 :]]
    results = {}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        tokenizer = str(build_tokenizer(Path(scratch) / "tokenizer"))
        for index, (kind, model, length) in enumerate(order):
            spec = plan | dict(kind=kind, model=model, seq_len=length, tokenizer=tokenizer)
            spec["output_dir"] = str(Path(scratch) / f"run-{index}")
            left = deadline - time.monotonic()
            # One measurement may take at most 40% of the budget: a hung one leaves time for the rest.
            found = (
                run_measurement(spec, min(left, 0.4 * budget_seconds))
                if left >= 20
                else {"error": "skipped: budget spent"}
            )
            if kind == "train" and "error" not in found:
                found["flops_per_token"] = training_flops_per_token(SHAPES[model], length)
            results[(kind, model, length)] = dict(kind=kind, model=model, length=str(length)) | found
    return device, peak or peak_tflops(device), [results[job] for job in jobs]


def report(device: str, peak: float | None, results: list[dict]) -> str:
    source = " (datasheet)" if peak is not None and peak == peak_tflops(device) else ""
    head = f"device: {device}; peak {fmt(peak)} dense bf16 TFLOP/s{source}; {versions()}"
    return head + "\n" + format_table(table_rows(results, peak))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny model and short sequences, on the CPU")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak for MFU (default: datasheet table)")
    parser.add_argument("--budget-seconds", type=float, help="stop starting measurements after this (450; tiny 600)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # one measurement, in a process of its own
    args = parser.parse_args(argv)
    if args.measure:
        spec = json.loads(args.measure)
        result = (measure_training if spec["kind"] == "train" else measure_generation)(spec)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0
    import torch

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA device here: the full check needs one (--tiny runs the same code on the CPU)")
    started = time.monotonic()
    budget = args.budget_seconds or (600.0 if args.tiny else 450.0)
    device, peak, results = check(TINY_PLAN if args.tiny else GPU_PLAN, budget, args.peak_tflops)
    print(report(device, peak, results))
    print(f"{time.monotonic() - started:.0f} s in all")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
