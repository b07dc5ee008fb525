"""Every storage key resolves inside its root, on local storage and on S3, and a remote folder
never copies an object outside the scratch folder it is copied into."""

from functools import partial

import boto3
import pytest
from dagster_aws.s3 import S3Resource

from resources.storage import LocalStorage, S3Storage
from workloads.core.artifacts import COMPLETE_MARKER, local_folder

ESCAPING_KEYS = [
    "",
    "/etc/passwd",
    "../outside/escaped",
    "study/../../outside",
    "study/..",
    "study//queries.parquet",
    "study/./queries.parquet",
    "study/",
    "..\\outside",
]


def _backends(tmp_path, s3_server):
    s3 = S3Resource(
        endpoint_url=s3_server["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return [LocalStorage(root=str(tmp_path / "root")), S3Storage(s3=s3, bucket=s3_server["bucket"], prefix="studies")]


def test_keys_that_would_leave_the_root_are_refused_before_any_io(tmp_path, s3_server):
    for storage in _backends(tmp_path, s3_server):
        for attempt in (storage.uri, storage.exists, storage.read_bytes, partial(storage.write_bytes, data=b"x")):
            for key in ESCAPING_KEYS:
                with pytest.raises(ValueError, match="is not a relative path of plain names"):
                    attempt(key)
    assert not any(tmp_path.rglob("*.parquet")) and not (tmp_path / "outside").exists()
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=s3_server["bucket"])


def test_plain_keys_resolve_under_the_root(tmp_path, s3_server):
    local, s3 = _backends(tmp_path, s3_server)
    key = "small-cpu/evaluation/tables/smollm2-135m__countdown-cot@step-00002/math500.parquet"
    assert local.write_bytes(key, b"x") == str((tmp_path / "root").resolve() / key)
    assert s3.write_bytes(key, b"x") == f"s3://{s3_server['bucket']}/studies/{key}"
    assert local.read_bytes(key) == s3.read_bytes(key) == b"x"


def test_a_remote_folder_with_an_escaping_object_name_is_not_copied_out_of_scratch(tmp_path, s3_server):
    client, bucket = boto3.client("s3"), s3_server["bucket"]
    for name in ("config.json", "../../../escaped.txt", COMPLETE_MARKER):
        client.put_object(Bucket=bucket, Key=f"studies/model/{name}", Body=b"{}")
    scratch = tmp_path / "scratch"
    with pytest.raises(ValueError, match="escaped.txt"):
        local_folder(f"s3://{bucket}/studies/model", scratch)
    assert not list(tmp_path.rglob("escaped.txt"))
