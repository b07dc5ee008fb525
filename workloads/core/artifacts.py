"""Reading and writing what the orchestrator's storage names, from inside a workload.

A location is a local path or an ``s3://bucket/key`` URI (any S3-compatible endpoint: boto3 reads
``AWS_ENDPOINT_URL`` and the credentials from the environment, which the launcher fills from
secrets). Libraries that need files (vLLM, transformers) get a local copy of a remote folder;
a folder is published file by file with a ``_COMPLETE`` marker last, so a reader never takes a
half-uploaded checkpoint for a finished one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

COMPLETE_MARKER = "_COMPLETE"
# What a tokenizer needs from a model folder (for ``local_folder(..., only=TOKENIZER_FILES)``).
TOKENIZER_FILES = ("tokenizer", "special_tokens_map", "chat_template", "config.json", "generation_config.json")


def is_remote(location: str) -> bool:
    return location.startswith("s3://")


def checked_key(key: str) -> str:
    """A key that stays inside its root wherever it is joined to one (a folder, a bucket prefix, a
    scratch copy): relative, with no empty, ``.`` or ``..`` segments."""
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"storage key {key!r} is not a relative path of plain names (no '', '.' or '..' segments)")
    return key


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    checked_key(key.removesuffix("/"))  # a folder location ends with one '/'
    return bucket, key


def _client():
    import boto3
    from botocore.config import Config

    # Throttling and dropped connections are retried with backoff, as on the orchestrator side.
    return boto3.client("s3", config=Config(retries={"max_attempts": 8, "mode": "adaptive"}))


def read_bytes(location: str) -> bytes:
    if is_remote(location):
        bucket, key = _split(location)
        return _client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return Path(location).read_bytes()


def write_bytes(location: str, data: bytes) -> None:
    """Whole or not at all: one PUT on S3, a temporary file renamed into place locally."""
    if is_remote(location):
        bucket, key = _split(location)
        _client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class CorruptArtifact(ValueError):
    """A stored artifact that exists but cannot be read as what it is: running again reads the same
    bytes, so it is not retried (``retryable``); the message names the file and how to recover."""

    retryable = False


def parquet_table(source: str | bytes, location: str) -> pl.DataFrame:
    """A parquet table from a path or its bytes; unreadable bytes are a :class:`CorruptArtifact`
    naming ``location``."""
    import polars as pl  # imported where used: the GPU check runs the training path on a machine without polars

    try:
        return pl.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pl.exceptions.PolarsError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise CorruptArtifact(
            f"{location}: not a readable parquet table ({str(err).splitlines()[0]}); it is damaged or was cut "
            "short: delete it and materialize its asset again"
        ) from None


def read_parquet(location: str) -> pl.DataFrame:
    return parquet_table(read_bytes(location) if is_remote(location) else location, location)


def check_safetensors(folder: Path) -> None:
    """Every ``*.safetensors`` file in a model folder is whole: its header parses and its size is
    the header's size plus the data the header describes. A damaged file is named here, before an
    engine start fails on it with a message that names nothing."""
    for file in sorted(Path(folder).glob("*.safetensors")):
        size = file.stat().st_size
        try:
            with file.open("rb") as handle:
                header_size = int.from_bytes(handle.read(8), "little")
                if not 0 < header_size <= size - 8:
                    raise ValueError(f"header of {header_size} bytes in a file of {size}")
                header = json.loads(handle.read(header_size))
            ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
            expected = 8 + header_size + max(ends, default=0)
            if size != expected:
                raise ValueError(f"{size} bytes where the header describes {expected}")
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise CorruptArtifact(
                f"{file}: not a whole safetensors file ({err}); it is damaged or was cut short: "
                "materialize the model or checkpoint again"
            ) from None


def write_parquet(table: pl.DataFrame, location: str) -> None:
    buffer = io.BytesIO()
    table.write_parquet(buffer)
    write_bytes(location, buffer.getvalue())


def exists(location: str) -> bool:
    if not is_remote(location):
        return Path(location).exists()
    return object_exists(_client(), *_split(location))


def object_exists(client, bucket: str, key: str) -> bool:
    """HEAD the object: a 404 means absent; any other error (access, outage) is raised."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def list_names(location: str, suffix: str = "") -> list[str]:
    """Names (not paths) of the files directly inside a folder location, sorted."""
    if not is_remote(location):
        folder = Path(location)
        return (
            sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(suffix))
            if folder.exists()
            else []
        )
    bucket, prefix = _split(location.rstrip("/") + "/")
    names = []
    for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
    return sorted(n for n in names if n.endswith(suffix))


def list_folders(location: str) -> list[str]:
    """Names of the sub-folders directly inside a folder location, sorted."""
    if not is_remote(location):
        folder = Path(location)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
    bucket, prefix = _split(location.rstrip("/") + "/")
    names = []
    for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(names)


def delete(location: str) -> None:
    if is_remote(location):
        bucket, key = _split(location)
        _client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(location).unlink(missing_ok=True)


def move(source: str, target: str) -> None:
    """Move one file (a rename locally; copy then delete on S3, so the object is never lost)."""
    if is_remote(source):
        bucket, key = _split(source)
        target_bucket, target_key = _split(target)
        client = _client()
        client.copy_object(Bucket=target_bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": key})
        client.delete_object(Bucket=bucket, Key=key)
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def local_folder(location: str, scratch: Path, *, only: tuple[str, ...] = ()) -> Path:
    """A local folder with the contents of ``location`` (downloaded if remote; ``only``: just the
    files whose names start with one of these prefixes, e.g. a tokenizer without the weights).
    Local or remote, only a folder published whole (its ``_COMPLETE`` marker present) is taken."""
    if not is_remote(location):
        if not (Path(location) / COMPLETE_MARKER).is_file():
            raise FileNotFoundError(f"{location} is not a complete folder (no {COMPLETE_MARKER} marker)")
        return Path(location)
    bucket, prefix = _split(location.rstrip("/") + "/")
    target = scratch / bucket / prefix
    client = _client()
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]
    if prefix + COMPLETE_MARKER not in keys:
        raise FileNotFoundError(f"{location} is not a complete folder (no {COMPLETE_MARKER} marker)")
    for key in keys:
        name = checked_key(key[len(prefix) :])  # an object named with '..' must not land outside scratch
        dest = target / name
        if (only and not name.startswith(only)) or dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(dest))
    return target


def replace_folder(new: Path, target: Path) -> None:
    """Put the finished local folder ``new`` at ``target`` (same filesystem) by renames: a reader
    finds the previous folder, then for an instant none, then the new one, never a half-written one."""
    if target.exists():
        previous = new.with_name(f"{new.name}.previous")
        os.replace(target, previous)
        os.replace(new, target)
        shutil.rmtree(previous)
    else:
        os.replace(new, target)


def publish_folder(local: Path, location: str, *, skip: tuple[str, ...] = ()) -> None:
    """Copy a finished local folder to ``location`` (no-op when it is the same local folder)."""
    if not is_remote(location):
        if Path(location).resolve() != local.resolve():
            raise ValueError(f"a local folder is published in place, not to {location}")
        (local / COMPLETE_MARKER).write_text("")
        return
    bucket, prefix = _split(location.rstrip("/") + "/")
    client = _client()
    for path in sorted(p for p in local.rglob("*") if p.is_file() and p.name not in skip):
        client.upload_file(str(path), bucket, prefix + str(path.relative_to(local)))
    client.put_object(Bucket=bucket, Key=prefix + COMPLETE_MARKER, Body=b"")
