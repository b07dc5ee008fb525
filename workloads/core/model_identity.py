"""What a model folder holds, as an identity that reuse can trust: a digest of its weight files.

Traces made by one teacher must never be reused for another. The recipe's model name says little
(the same name can point at another GGUF file, another hub model, or weights stored in another
dtype), so a prepared folder records the SHA-256 of its weights in ``model_identity.json``, and the
generation workload puts it into the hash every trace row carries.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workloads.core.artifacts import exists, is_remote, read_bytes

IDENTITY_FILE = "model_identity.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
_CHUNK = 8 << 20


def weights_digest(folder: Path) -> str:
    """SHA-256 over the folder's weight files, by name and content, in name order."""
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"{folder}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) to identify the model by")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def write_identity(folder: Path, **facts: object) -> dict:
    """Records the folder's identity (its weights' digest, plus facts such as the source) in it."""
    identity = {"weights_sha256": weights_digest(folder), **facts}
    (folder / IDENTITY_FILE).write_text(json.dumps(identity, sort_keys=True) + "\n")
    return identity


def read_identity(location: str) -> dict:
    """A model folder's identity: its recorded one, else (a local folder prepared before identities
    were recorded) its weights' digest computed now."""
    recorded = f"{location.rstrip('/')}/{IDENTITY_FILE}"
    if exists(recorded):
        return json.loads(read_bytes(recorded))
    if not is_remote(location) and Path(location).is_dir():
        return {"weights_sha256": weights_digest(Path(location))}
    raise FileNotFoundError(
        f"{location}: no {IDENTITY_FILE}; materialize the model again (base_models) so its weights are identified"
    )
