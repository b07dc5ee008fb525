"""A training run's folder: checkpoints published as they are saved (each announced by a manifest
line), the resume state kept for the newest ones only, and recovery after a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    write_bytes,
)
from workloads.core.naming import format_manifest, parse_manifest
from workloads.training.parallelism import (
    SHARDED_MODEL_FOLDER,
    SHARDED_OPTIMIZER_FOLDER,
    consolidate,
    is_sharded_checkpoint,
)

CHECKPOINT_FIELDS = ("run", "step", "epoch", "uri", "train_loss", "learning_rate", "tokens_seen")


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
