"""Supervised fine-tuning of one student on one dataset (one training-run partition) with TRL.

Loss on the assistant turn only (the study chat template marks it); length-grouped batches so
short examples are not padded to the longest; a checkpoint every ``save_every`` steps, each
announced as soon as it is saved (a manifest line, which the checkpoint sensor reads) so evaluation can start
while training continues.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader

from workloads.core.artifacts import (
    COMPLETE_MARKER,
    delete,
    exists,
    is_remote,
    list_folders,
    list_names,
    local_folder,
    publish_folder,
    read_bytes,
    read_parquet,
    write_bytes,
)
from workloads.core.hardware import compute_dtype
from workloads.core.lifecycle import workload_pipes
from workloads.core.naming import checkpoint_key, format_manifest, parse_manifest
from workloads.core.progress import make_step_logger
from workloads.training.parallelism import (
    SHARDED_MODEL_FOLDER,
    SHARDED_OPTIMIZER_FOLDER,
    attention_implementation,
    consolidate,
    is_sharded_checkpoint,
    layer_classes,
    training_arguments,
)

CHECKPOINT_FIELDS = ("run", "step", "epoch", "uri", "train_loss", "learning_rate", "tokens_seen")


# The recipe's names for SFTConfig fields; any other training key is an SFTConfig field as is.
RECIPE_NAMES = {
    "lr_scheduler": "lr_scheduler_type",
    "warmup_ratio": "warmup_steps",  # a float in [0, 1) is a ratio of total steps
    "epochs": "num_train_epochs",
    "per_device_batch_size": "per_device_train_batch_size",
    "save_every": "save_steps",
}
# Training keys that are the study's own (the global batch becomes gradient accumulation).
STUDY_KEYS = ("students", "datasets", "global_batch_size", "parallelism", "fused_loss", "cluster", "dtype", "bf16")
# SFTConfig fields the workload sets from elsewhere; a recipe may not. run_name: trackers name the
# run after the study's run, which is how evaluation finds it (workloads.core.tracking).
SET_BY_WORKLOAD = ("output_dir", "gradient_accumulation_steps", "seed", "data_seed", "use_cpu", "run_name")


def sft_arguments(training: dict) -> dict:
    """A recipe's training section as SFTConfig keyword arguments."""
    return {RECIPE_NAMES.get(k, k): v for k, v in training.items() if k not in STUDY_KEYS}


def build_config(
    cfg: dict,
    output_dir: str,
    seed: int,
    parallelism: str = "ddp",
    wrap_classes: tuple = (),
    dtype: str = "float32",
    run_name: str | None = None,
):
    """``parallelism``: ddp or fsdp, as the memory plan resolved it; ``wrap_classes``: the model's
    decoder layer classes (FSDP's units); ``dtype``: the compute dtype (``workloads.core.hardware``), mixed
    precision over fp32 weights, so checkpoints are saved in fp32 and load on any device."""
    import torch
    from trl import SFTConfig

    # The global batch is shared by every rank torchrun starts (WORLD_SIZE), as in the paper's 256.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg["global_batch_size"] % (cfg["per_device_batch_size"] * world):
        raise ValueError(
            f"global batch {cfg['global_batch_size']} is not a multiple of per-device batch "
            f"{cfg['per_device_batch_size']} x {world} processes"
        )
    defaults = dict(
        assistant_only_loss=True,
        # Never pad to the max length: batches of similar lengths everywhere, and no padding at
        # all where FlashAttention can take packed sequences (training_arguments).
        train_sampling_strategy="group_by_length",
        save_strategy="steps",
        logging_steps=1,
        include_num_input_tokens_seen="non_padding",
        report_to=["tensorboard"],  # <output_dir>/runs, readable with `tensorboard --logdir`
        dataloader_num_workers=0,
    )
    parallel = training_arguments(
        parallelism,
        on_gpu=torch.cuda.is_available(),
        layer_classes=list(wrap_classes),
        gradient_checkpointing=cfg.get("gradient_checkpointing", True),
        fused_loss=cfg.get("fused_loss", True),
    )
    arguments = {**defaults, **parallel, **sft_arguments(cfg)}
    if parallel.get("fsdp"):
        arguments["gradient_checkpointing"] = False  # FSDP checkpoints each unit itself (fsdp_config)
    return SFTConfig(
        **arguments,
        output_dir=output_dir,
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        gradient_accumulation_steps=cfg["global_batch_size"] // (cfg["per_device_batch_size"] * world),
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        run_name=run_name,
    )


RESUME_STATE_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth")
# Under FSDP the model and optimizer state are folders of per-rank shards, and each rank saves its RNG.
SHARDED_RESUME_STATE = (SHARDED_MODEL_FOLDER, SHARDED_OPTIMIZER_FOLDER)


def resume_state(folder: Path) -> list[Path]:
    names = [*RESUME_STATE_FILES, *SHARDED_RESUME_STATE]
    return [folder / n for n in names if (folder / n).exists()] + sorted(folder.glob("rng_state_*.pth"))


def drop_resume_state(output_dir: Path, keep: int) -> None:
    """Optimizer and scheduler state only matter for resuming, which starts from the latest
    checkpoint: older ones keep their weights only (64 full states per run would not fit)."""
    for folder in output_dir.glob("checkpoint-*"):
        if folder.name != f"checkpoint-{keep}":
            for path in resume_state(folder):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()


def latest_resumable(output_dir: Path) -> Path | None:
    """The newest checkpoint that still holds full training state (a run killed while saving
    leaves a newer, incomplete folder behind: skip it)."""
    complete = [
        folder
        for folder in output_dir.glob("checkpoint-*")
        if all((folder / name).exists() for name in ("scheduler.pt", "trainer_state.json"))
        and ((folder / "optimizer.pt").exists() or (folder / SHARDED_OPTIMIZER_FOLDER).is_dir())
    ]
    return max(complete, key=lambda f: int(f.name.split("-")[1]), default=None)


class RunFolder:
    """Where a run's checkpoints live (``location``: a local folder or an S3 URI) and the local
    folder the trainer writes to (the same folder, or scratch space published after each save)."""

    def __init__(self, location: str, scratch: Path):
        self.location = location.rstrip("/")
        self.remote = is_remote(location)
        self.scratch = scratch
        self.local = scratch / "run" if self.remote else Path(location)
        self.local.mkdir(parents=True, exist_ok=True)
        self._records: list[dict] | None = None  # the manifest, once read

    def checkpoint_uri(self, step: int) -> str:
        name = f"checkpoint-{step}"
        return f"{self.location}/{name}" if self.remote else str((self.local / name).resolve())

    def resumable(self) -> Path | None:
        """The newest checkpoint with full training state, fetched first when it lives remotely."""
        if self.remote and latest_resumable(self.local) is None:
            for name in sorted(list_folders(self.location), key=lambda n: int(n.split("-")[-1]), reverse=True):
                files = list_names(f"{self.location}/{name}")
                sharded = SHARDED_OPTIMIZER_FOLDER in list_folders(f"{self.location}/{name}")
                optimizer = "optimizer.pt" in files or sharded
                if COMPLETE_MARKER in files and "scheduler.pt" in files and optimizer:
                    shutil.move(
                        str(local_folder(f"{self.location}/{name}", self.scratch / "fetch")), str(self.local / name)
                    )
                    break
        return latest_resumable(self.local)

    def manifest(self) -> list[dict]:
        location = f"{self.location}/checkpoints.jsonl"
        if not exists(location):
            return []
        return parse_manifest(read_bytes(location).decode())

    def announce(self, record: dict) -> None:
        """Add a record to the manifest: read once per process, then rewritten whole from memory with
        an atomic write (a temporary file renamed, or one PUT), so a reader sees it before or after."""
        if self._records is None:
            self._records = self.manifest()
        self._records.append(record)
        write_bytes(f"{self.location}/checkpoints.jsonl", format_manifest(self._records).encode())

    def saved_checkpoints(self) -> dict[int, str]:
        """Step -> location of each checkpoint the trainer saved whole (its trainer_state.json, the
        last file it writes), published or not."""
        if self.remote:
            names = [n for n in list_folders(self.location) if n.startswith("checkpoint-")]
            complete = [n for n in names if COMPLETE_MARKER in list_names(f"{self.location}/{n}")]
            return {int(n.split("-")[1]): f"{self.location}/{n}" for n in complete}
        return {
            int(f.name.split("-")[1]): str(f)
            for f in self.local.glob("checkpoint-*")
            if (f / "trainer_state.json").is_file()
        }

    def recover(self, run: str, announce, log) -> None:
        """Announce the checkpoints a killed run saved but never announced (the kill came between
        the save and its manifest line), publishing any that were not yet, oldest first."""
        announced = {record["step"] for record in self.manifest()}
        for step, location in sorted(self.saved_checkpoints().items()):
            if step in announced:
                continue
            if not self.remote and not (Path(location) / COMPLETE_MARKER).exists():
                publish_folder(Path(location), location)
            state = json.loads(read_bytes(f"{location}/trainer_state.json"))
            record = checkpoint_record(run, self.checkpoint_uri(step), state)
            self.announce(record)
            announce(record)
            log(f"announced checkpoint {step}, saved before the previous run was stopped")

    def publish_checkpoint(self, step: int, previous: list[int]) -> None:
        """Publish the new checkpoint whole, then strip resume state from the older ones."""
        drop_resume_state(self.local, keep=step)
        folder = self.local / f"checkpoint-{step}"
        publish_folder(folder, self.checkpoint_uri(step))
        if self.remote:
            for old in previous:
                for name in RESUME_STATE_FILES:
                    delete(f"{self.checkpoint_uri(old)}/{name}")
                for name in SHARDED_RESUME_STATE:  # folders of per-rank shards (flat)
                    for file in list_names(f"{self.checkpoint_uri(old)}/{name}"):
                        delete(f"{self.checkpoint_uri(old)}/{name}/{file}")
                shutil.rmtree(self.local / f"checkpoint-{old}", ignore_errors=True)

    def write(self, name: str, data: bytes) -> None:
        write_bytes(f"{self.location}/{name}", data)

    def publish_logs(self) -> None:
        if self.remote and (self.local / "runs").exists():
            publish_folder(self.local / "runs", f"{self.location}/runs")


def checkpoint_record(run: str, uri: str, state: dict) -> dict:
    """A manifest record from the trainer's state (``TrainerState`` fields, or its saved JSON)."""
    logs = [h for h in state["log_history"] if "loss" in h]
    last = logs[-1] if logs else {}
    return {
        "run": run,
        "step": state["global_step"],
        "epoch": round(state["epoch"] or 0.0, 4),
        "uri": uri,
        "train_loss": last.get("loss"),
        "learning_rate": last.get("learning_rate"),
        "tokens_seen": int(state.get("num_input_tokens_seen") or 0),
        "grad_norm": last.get("grad_norm"),
        "tokens_per_second": last.get("train_tokens_per_second"),
    }


def make_checkpoint_callback(run: str, folder: RunFolder, announce):
    from transformers import TrainerCallback

    class CheckpointAnnouncer(TrainerCallback):
        """Publishes each saved checkpoint, adds it to the manifest and tells the orchestrator."""

        def __init__(self):
            self.published = [r["step"] for r in folder.manifest()]

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return  # with torchrun, one rank speaks for the run
            checkpoint = folder.local / f"checkpoint-{state.global_step}"
            if is_sharded_checkpoint(checkpoint):
                # vLLM and from_pretrained read safetensors, not per-rank shards.
                consolidate(checkpoint, kwargs["model"].config, "bfloat16" if args.bf16 else "float32")
            fields = ("global_step", "epoch", "log_history", "num_input_tokens_seen")
            record = checkpoint_record(
                run, folder.checkpoint_uri(state.global_step), {name: getattr(state, name) for name in fields}
            )
            folder.publish_checkpoint(state.global_step, self.published)
            folder.announce(record)
            self.published.append(state.global_step)
            announce(record)

    return CheckpointAnnouncer()


def train(extras: dict, announce, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="train-") as scratch:
        return _train(extras, announce, log, Path(scratch))


def _train(extras: dict, announce, log, scratch: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from workloads.core.chat import ensure_chat_template

    cfg, run = extras["training"], extras["run"]
    folder = RunFolder(extras["output_dir"], scratch)
    if int(os.environ.get("RANK", "0")) == 0:  # one rank speaks for the run
        folder.recover(run, announce, log)
    table = read_parquet(extras["dataset_path"])
    if table.height == 0:
        raise ValueError(f"dataset {extras['dataset']} is empty: nothing to train {run} on")
    dataset = Dataset.from_list([{"messages": m} for m in table["messages"].to_list()])
    model_dir = local_folder(extras["model_dir"], scratch / "base")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
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
        extras["seed"],
        extras.get("parallelism", "ddp"),
        layer_classes(model),
        dtype=decision.dtype,
        run_name=run,
    )
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
        "examples": table.height,
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
        import mlflow

        from workloads.core.tracking import run_location

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
