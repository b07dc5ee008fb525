"""Training throughput: our SFT setup vs TRL's SFTTrainer with default settings, same data, same
model, measured in one run. Prints non-padding tokens per second for each and their ratio.

    .venv/bin/python -m benchmarks.train_throughput [--model DIR] [--examples 48] [--steps 6]

Without --model a tiny randomly initialised Llama is built (seconds); point --model at a real
folder (e.g. the small recipe's SmolLM2-135M) for figures that mean something for real runs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from resources.recipe import DATA_DIR_ENV, DEFAULT_DATA_DIR
from workloads.countdown import countdown_prompt, solver_response
from workloads.queries import read_records


@dataclass
class BenchArgs:
    model: str | None = field(default=None, metadata={"help": "model folder (default: a tiny random Llama)"})
    examples: int = field(default=48, metadata={"help": "Countdown-CoT examples to train on"})
    steps: int = field(default=6, metadata={"help": "optimizer steps per measurement"})
    batch: int = field(default=8, metadata={"help": "per-device batch size (no accumulation)"})


def examples(count: int) -> list[list[dict]]:
    data = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR) / "queries" / "countdown_3to4_train.jsonl"
    rows = read_records(str(data)).head(count).iter_rows(named=True)
    return [[{"role": "user", "content": countdown_prompt(r["nums"], r["target"])},
             {"role": "assistant", "content": solver_response(r["nums"], r["target"])}] for r in rows]


def measure(model_dir: str, messages: list, args: BenchArgs, ours: bool, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from workloads.chat import ensure_chat_template
    from workloads.train import build_config

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    if ours:
        cfg = dict(learning_rate=5e-5, lr_scheduler="cosine", warmup_ratio=0.1, weight_decay=0.01, adam_beta1=0.9,
                   adam_beta2=0.999, max_grad_norm=1.0, epochs=1, global_batch_size=args.batch,
                   per_device_batch_size=args.batch, max_length=1024, bf16=True, gradient_checkpointing=False,
                   save_every=10**6)
        config = build_config(cfg, str(out), seed=0)
        config.report_to = []
    else:  # TRL's defaults, only what any run must set
        config = SFTConfig(output_dir=str(out), per_device_train_batch_size=args.batch, report_to=[], save_strategy="no",
                           use_cpu=not torch.cuda.is_available(), include_num_input_tokens_seen="non_padding")
    config.max_steps = args.steps
    config.save_strategy = "no"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list([{"messages": m} for m in messages]),
                         processing_class=tokenizer)
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"setup": "ours" if ours else "trl-defaults", "tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_second": round(tokens / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in BenchArgs.__dataclass_fields__.values():
        parser.add_argument(f"--{f.name}", type=type(f.default) if f.default is not None else str, default=f.default,
                            help=f.metadata["help"])
    args = BenchArgs(**vars(parser.parse_args()))
    messages = examples(args.examples)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from workloads.tiny_model import build_tiny_model

            corpus = [m["content"] for conv in messages for m in conv]
            model_dir = str(build_tiny_model(Path(tmp) / "tiny", corpus))
        results = [measure(model_dir, messages, args, ours, Path(tmp) / name) for ours, name in ((False, "trl"), (True, "ours"))]
    for r in results:
        print(json.dumps(r))
    base, ours = results
    print(f"ours / trl-defaults tokens/s: {ours['tokens_per_second'] / base['tokens_per_second']:.2f}x "
          f"(model {args.model or 'tiny random Llama'}, {args.examples} examples, {args.steps} steps of {args.batch})")


if __name__ == "__main__":
    main()
