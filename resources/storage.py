"""Where tables and artifacts live. One key layout for every backend:
``<recipe>/<stage>/<partition>.parquet`` for tables, ``<recipe>/<stage>/<name>/`` for artifacts.
Every key is a relative path of plain names, so it resolves inside the root (``artifacts.checked_key``)."""

import io
from pathlib import Path

import polars as pl
from dagster import ConfigurableResource, Failure
from dagster_aws.s3 import S3Resource

from workloads.core import artifacts


class CorruptTable(Failure):
    """A stored table that cannot be read: the step fails at once, naming the file (a retry reads the
    same bytes). A reader that can recompute the table catches it instead."""

    def __init__(self, error: artifacts.CorruptArtifact):
        super().__init__(description=str(error), allow_retries=False)
        self.error = error


def corrupt_is_final(read, *args):
    try:
        return read(*args)
    except artifacts.CorruptArtifact as err:
        raise CorruptTable(err) from None


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

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError


class LocalStorage(Storage):
    """A folder on this machine. Writes go to a temporary file renamed into place, so a crash
    never leaves a half-written table that looks complete."""

    root: str

    def uri(self, key: str) -> str:
        return str(Path(self.root).resolve() / artifacts.checked_key(key))

    def write_table(self, key: str, table: pl.DataFrame) -> str:
        artifacts.write_parquet(table, self.uri(key))
        return self.uri(key)

    def write_bytes(self, key: str, data: bytes) -> str:
        artifacts.write_bytes(self.uri(key), data)
        return self.uri(key)

    def read_table(self, key: str) -> pl.DataFrame:
        path = Path(self.uri(key))
        if not path.exists():
            raise FileNotFoundError(f"table {key!r} has not been materialized yet (expected {path})")
        return corrupt_is_final(artifacts.parquet_table, str(path), str(path))

    def read_bytes(self, key: str) -> bytes:
        path = Path(self.uri(key))
        if not path.exists():
            raise FileNotFoundError(f"{key!r} does not exist (expected {path})")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return Path(self.uri(key)).exists()


class S3Storage(Storage):
    """An S3 bucket (any S3-compatible endpoint) through dagster-aws's ``S3Resource``, with the
    same key layout as local storage under ``prefix``. Every object is written by a single PUT,
    which S3 makes visible whole or not at all; throttling, 5xx and dropped connections are
    retried with backoff by botocore (``s3.max_attempts``)."""

    s3: S3Resource
    bucket: str
    prefix: str = ""

    def _key(self, key: str) -> str:
        key = artifacts.checked_key(key)
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def write_bytes(self, key: str, data: bytes) -> str:
        self.s3.get_client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def write_table(self, key: str, table: pl.DataFrame) -> str:
        buffer = io.BytesIO()
        table.write_parquet(buffer)
        return self.write_bytes(key, buffer.getvalue())

    def read_bytes(self, key: str) -> bytes:
        client = self.s3.get_client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"{key!r} does not exist (expected {self.uri(key)})") from None

    def read_table(self, key: str) -> pl.DataFrame:
        try:
            data = self.read_bytes(key)
        except FileNotFoundError:
            raise FileNotFoundError(f"table {key!r} has not been materialized yet (expected {self.uri(key)})") from None
        return corrupt_is_final(artifacts.parquet_table, data, self.uri(key))

    def exists(self, key: str) -> bool:
        return artifacts.object_exists(self.s3.get_client(), self.bucket, self._key(key))
