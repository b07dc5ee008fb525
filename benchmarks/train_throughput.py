"""Training throughput: our SFT setup vs TRL's SFTTrainer with default settings and vs the paper's
setup (every sample padded to the max length), same data, same model, measured in one run. Prints
non-padding tokens per second for each and the ratios.

    .venv/bin/python -m benchmarks.train_throughput [--model DIR] [--examples 48] [--steps 6] [--max_length 2048]

The pad-to-max baseline pads to ``--max_length`` (the paper: 20,000 tokens; here 2,048, a length this CPU
trains in seconds), so its ratio grows with the gap between the max length and the samples' lengths.

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

from recipe_schema.recipe import DATA_DIR_ENV, DEFAULT_DATA_DIR
from workloads.data.queries import read_records
from workloads.verification.countdown_rule import countdown_prompt, solver_response


@dataclass
class BenchArgs:
    model: str | None = field(default=None, metadata={"help": "model folder (default: a tiny random Llama)"})
    examples: int = field(default=48, metadata={"help": "Countdown-CoT examples to train on"})
    steps: int = field(default=6, metadata={"help": "optimizer steps per measurement"})
    batch: int = field(default=8, metadata={"help": "per-device batch size (no accumulation)"})
    max_length: int = field(default=2048, metadata={"help": "max length; pad-to-max pads every sample to it"})


def examples(count: int) -> list[list[dict]]:
    data = Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR) / "queries" / "countdown_3to4_train.jsonl"
    rows = read_records(str(data)).head(count).iter_rows(named=True)
    return [
        [
            {"role": "user", "content": countdown_prompt(r["nums"], r["target"])},
            {"role": "assistant", "content": solver_response(r["nums"], r["target"])},
        ]
        for r in rows
    ]


SETUPS = ("trl-defaults", "pad-to-max", "ours")


def measure(model_dir: str, messages: list, args: BenchArgs, setup: str, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from workloads.core.chat import ensure_chat_template
    from workloads.training.config import build_config

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    if setup != "trl-defaults":
        cfg = dict(
            learning_rate=5e-5,
            lr_scheduler="cosine",
            warmup_ratio=0.1,
            weight_decay=0.01,
            adam_beta1=0.9,
            adam_beta2=0.999,
            max_grad_norm=1.0,
            epochs=1,
            global_batch_size=args.batch,
            per_device_batch_size=args.batch,
            max_length=args.max_length,
            bf16=True,
            gradient_checkpointing=False,
            save_every=10**6,
        )
        config = build_config(cfg, str(out), seed=0)
        config.report_to = []
        if setup == "pad-to-max":  # the paper's scripts: every batch padded to the max length
            config.pad_to_multiple_of = args.max_length
            config.padding_free = False
            config.train_sampling_strategy = "random"
    else:  # TRL's defaults, only what any run must set
        config = SFTConfig(
            output_dir=str(out),
            per_device_train_batch_size=args.batch,
            report_to=[],
            save_strategy="no",
            use_cpu=not torch.cuda.is_available(),
            include_num_input_tokens_seen="non_padding",
        )
    config.max_steps = args.steps
    config.save_strategy = "no"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([{"messages": m} for m in messages]),
        processing_class=tokenizer,
    )
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    tokens = int(trainer.state.num_input_tokens_seen)
    return {
        "setup": setup,
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in BenchArgs.__dataclass_fields__.values():
        parser.add_argument(
            f"--{f.name}",
            type=type(f.default) if f.default is not None else str,
            default=f.default,
            help=f.metadata["help"],
        )
    args = BenchArgs(**vars(parser.parse_args()))
    messages = examples(args.examples)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from workloads.training.tiny_model import build_tiny_model

            corpus = [m["content"] for conv in messages for m in conv]
            model_dir = str(build_tiny_model(Path(tmp) / "tiny", corpus))
        results = {setup: measure(model_dir, messages, args, setup, Path(tmp) / setup) for setup in SETUPS}
    for r in results.values():
        print(json.dumps(r))
    ours = results["ours"]["tokens_per_second"]
    print(
        f"ours / trl-defaults tokens/s: {ours / results['trl-defaults']['tokens_per_second']:.2f}x   "
        f"ours / pad-to-max ({args.max_length}) tokens/s: {ours / results['pad-to-max']['tokens_per_second']:.2f}x "
        f"(model {args.model or 'tiny random Llama'}, {args.examples} examples, {args.steps} steps of {args.batch})"
    )


if __name__ == "__main__":
    main()
