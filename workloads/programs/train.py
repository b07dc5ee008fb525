"""Supervised fine-tuning of one student on one dataset (one training-run partition) with TRL.

Loss on the assistant turn only (the study chat template marks it); length-grouped batches so
short examples are not padded to the longest; a checkpoint every ``save_every`` steps, each
announced as soon as it is saved (a manifest line, which the checkpoint sensor reads) so evaluation can start
while training continues.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader

from workloads.core.artifacts import (
    check_safetensors,
    local_folder,
    read_parquet,
)
from workloads.core.chat import ensure_chat_template
from workloads.core.hardware import compute_dtype
from workloads.core.lifecycle import workload_pipes
from workloads.core.naming import checkpoint_key
from workloads.core.progress import make_step_logger
from workloads.core.tracking import run_location
from workloads.programs.inputs import TrainInputs
from workloads.training.checkpoints import RunFolder, make_checkpoint_callback
from workloads.training.config import build_config, within_max_length
from workloads.training.parallelism import (
    attention_implementation,
    layer_classes,
)


def train(extras: dict, announce, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="train-") as scratch:
        return _train(extras, announce, log, Path(scratch))


def _train(extras: dict, announce, log, scratch: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    inputs = TrainInputs.from_extras(extras)
    cfg, run = inputs.training, inputs.run
    folder = RunFolder(inputs.output_dir, scratch)
    if int(os.environ.get("RANK", "0")) == 0:  # one rank speaks for the run
        folder.recover(run, announce, log)
    table = read_parquet(inputs.dataset_path)
    if table.height == 0:
        raise ValueError(f"dataset {inputs.dataset} is empty: nothing to train {run} on")
    model_dir = local_folder(inputs.model_dir, scratch / "base")
    check_safetensors(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    conversations = table["messages"].to_list()
    implementation = attention_implementation(torch.cuda.is_available())
    attention = {"attn_implementation": implementation} if implementation else {}
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32", **attention)
    # The orchestrator resolves the recipe's parallelism with the memory plan before launching.
    decision = compute_dtype(cfg.get("dtype", "auto"))
    log(
        f"compute dtype {decision.dtype}: {decision.reason} ({decision.capability.name}); "
        f"{torch.get_num_threads()} torch threads"
    )
    args = build_config(
        cfg,
        str(folder.local),
        inputs.seed,
        inputs.parallelism,
        layer_classes(model),
        dtype=decision.dtype,
        run_name=run,
    )
    # Padding-free batches leave max_length to this program (build_config): longer examples are dropped.
    limit = cfg.get("max_length") if args.max_length is None else None
    fits = within_max_length(conversations, tokenizer, limit)
    dropped = fits.count(False)
    if dropped:
        log(f"{dropped} of {len(fits)} examples are longer than max_length {limit} tokens: left out, not cut")
    dataset = Dataset.from_list([{"messages": m} for m, fit in zip(conversations, fits, strict=True) if fit])
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[make_checkpoint_callback(run, folder, announce), make_step_logger(log)],
    )
    resume = folder.resumable()
    if resume:
        log(f"resuming {run} from {resume.name}")
    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.time() - started
    steps = trainer.state.global_step - (int(resume.name.split("-")[1]) if resume else 0)
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    folder.write("log_history.json", json.dumps(trainer.state.log_history).encode())
    folder.publish_logs()
    return {
        "run": run,
        "examples": table.height - dropped,
        "examples_over_max_length": dropped,
        "steps": trainer.state.global_step,
        "final_train_loss": round(float(result.training_loss), 4),
        "tokens_seen": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "train_seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / steps, 2) if steps else None,
        "torch_threads": torch.get_num_threads(),
        **decision.metadata(),
        "resumed_from": resume.name if resume else None,
        "tensorboard": f"tensorboard --logdir {folder.location}/runs",
        **tracking_runs(args.report_to),
    }


def tracking_runs(report_to: list[str]) -> dict:
    """Where an experiment tracker the recipe turned on (``training.report_to``) keeps this run.
    MLflow: MLFLOW_TRACKING_URI names the store (a server's UI link, or a local ``sqlite:`` store
    that ``mlflow ui --backend-store-uri`` opens)."""
    found = {}
    if "mlflow" in report_to:
        import mlflow  # optional: only a run that reports to MLflow has it

        run = mlflow.last_active_run()  # transformers' callback has ended it by now
        if run is not None:
            found["mlflow_run"] = run_location(mlflow.get_tracking_uri(), run.info.experiment_id, run.info.run_id)
    return found


def _worker_extras() -> dict:
    """Extras for a non-zero torchrun rank: read from the Pipes context without opening the
    message channel, so the orchestrator hears from one rank only."""
    params = PipesEnvVarParamsLoader().load_context_params()
    with PipesDefaultContextLoader().load_context(params) as data:
        return data["extras"]


def main() -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        train(_worker_extras(), announce=lambda record: None, log=lambda message: None)
        return
    with workload_pipes() as pipes:

        def announce(record: dict) -> None:
            # The checkpoint sensor reads the manifest; the log line is for the person watching the run.
            pipes.log.info(f"checkpoint saved: {checkpoint_key(record['run'], record['step'])}")

        summary = train(pipes.extras, announce, pipes.log.info)
        pipes.report_asset_materialization(metadata=summary)


if __name__ == "__main__":
    main()
