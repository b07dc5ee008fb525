"""Where tables and artifacts live. One key layout for every backend:
``<recipe>/<stage>/<partition>.parquet`` for tables, ``<recipe>/<stage>/<name>/`` for artifacts."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from dagster import ConfigurableResource


class Storage(ConfigurableResource):
    """Interface: tables (polars DataFrames as parquet) and artifact folders under string keys."""

    def uri(self, key: str) -> str:
        raise NotImplementedError

    def write_table(self, key: str, table: pl.DataFrame) -> str:
        raise NotImplementedError

    def read_table(self, key: str) -> pl.DataFrame:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> str:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError


class LocalStorage(Storage):
    """A folder on this machine. Writes go to a temporary file renamed into place, so a crash
    never leaves a half-written table that looks complete."""

    root: str

    def uri(self, key: str) -> str:
        return str(Path(self.root, key).resolve())

    def write_table(self, key: str, table: pl.DataFrame) -> str:
        return self._write_atomic(key, table.write_parquet)

    def _write_atomic(self, key: str, write) -> str:
        target = Path(self.uri(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return str(target)

    def write_bytes(self, key: str, data: bytes) -> str:
        return self._write_atomic(key, lambda tmp: tmp.write_bytes(data))

    def read_table(self, key: str) -> pl.DataFrame:
        path = Path(self.uri(key))
        if not path.exists():
            raise FileNotFoundError(f"table {key!r} has not been materialized yet (expected {path})")
        return pl.read_parquet(path)

    def exists(self, key: str) -> bool:
        return Path(self.uri(key)).exists()
