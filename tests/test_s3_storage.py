"""The cluster storage: tables on an S3-compatible server (moto on 127.0.0.1), same key layout as
local storage, retried through outages, never half-written."""

import re
import socket
import threading
import time

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from dagster_aws.s3 import S3Resource

from assets import queries as query_assets
from assets.keys import Keys
from resources.storage import LocalStorage, S3Storage


def _storage(endpoint: str, bucket: str, max_attempts: int = 5) -> S3Storage:
    s3 = S3Resource(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        max_attempts=max_attempts,
    )
    return S3Storage(s3=s3, bucket=bucket, prefix="studies")


def test_tables_round_trip_under_the_local_key_layout(s3_server, tmp_path):
    storage = _storage(s3_server["endpoint"], s3_server["bucket"])
    local = LocalStorage(root=str(tmp_path))
    table = pl.DataFrame({"query_id": ["a"], "answer": ["1"]})
    key = "small-cpu/queries/queries.parquet"
    assert storage.write_table(key, table) == f"s3://{s3_server['bucket']}/studies/{key}"
    assert storage.uri(key).endswith(local.uri(key).removeprefix(str(tmp_path.resolve())))
    assert storage.exists(key) and not storage.exists("small-cpu/queries/other.parquet")
    assert storage.read_table(key).equals(table)
    with pytest.raises(FileNotFoundError, match="has not been materialized yet"):
        storage.read_table("small-cpu/queries/other.parquet")


def test_an_asset_materializes_into_s3_and_reads_back(s3_server, small_recipe):
    storage = _storage(s3_server["endpoint"], s3_server["bucket"])
    with DagsterInstance.ephemeral() as instance:
        result = materialize(query_assets.build(small_recipe), instance=instance, resources={"storage": storage})
    assert result.success
    queries = storage.read_table(Keys(small_recipe).queries())
    assert queries.height == sum(s.size for s in small_recipe.queries.values())
    assert set(queries["shard"].unique()) <= {0, 1}


class Outage:
    """A TCP relay in front of the S3 server that can drop every connection, like a dead server."""

    def __init__(self, upstream_port: int):
        self.upstream_port, self.up = upstream_port, True
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def test_an_outage_shorter_than_the_retries_is_ridden_out(s3_server):
    relay = Outage(int(s3_server["endpoint"].rsplit(":", 1)[1]))
    storage = _storage(f"http://127.0.0.1:{relay.port}", s3_server["bucket"], max_attempts=10)
    relay.up = False
    threading.Timer(1.5, lambda: setattr(relay, "up", True)).start()
    started = time.time()
    storage.write_table("t/ok.parquet", pl.DataFrame({"a": [1]}))
    assert time.time() - started >= 1.0, "the write went through only after the server came back"
    assert storage.read_table("t/ok.parquet")["a"].to_list() == [1]


def test_a_dead_server_fails_the_materialization_clearly_and_leaves_nothing_behind(s3_server, small_recipe):
    relay = Outage(int(s3_server["endpoint"].rsplit(":", 1)[1]))
    storage = _storage(f"http://127.0.0.1:{relay.port}", s3_server["bucket"], max_attempts=2)
    relay.up = False
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            query_assets.build(small_recipe), instance=instance, resources={"storage": storage}, raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    chain = str(failure.to_string())
    assert re.search(r"Could not connect to the endpoint URL|Connection was closed|Remote end closed", chain), chain[
        :2000
    ]
    relay.up = True
    assert not storage.exists(Keys(small_recipe).queries()), "a failed write must not leave a table behind"
