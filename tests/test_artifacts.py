"""Workload-side storage: the same calls work on local paths and on S3 URIs."""

import polars as pl
import pytest

from workloads.core import artifacts


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    return f"s3://{server['bucket']}/prefix"


def test_tables_round_trip_and_listing(root):
    table = pl.DataFrame({"query_id": ["a", "b"], "n": [1, 2]})
    artifacts.write_parquet(table, f"{root}/parts/part-00001.parquet")
    artifacts.write_parquet(table.head(1), f"{root}/parts/part-00000.parquet")
    artifacts.write_bytes(f"{root}/parts/notes.txt", b"x")
    assert artifacts.exists(f"{root}/parts/part-00001.parquet")
    assert not artifacts.exists(f"{root}/parts/part-00002.parquet")
    assert artifacts.list_names(f"{root}/parts", ".parquet") == ["part-00000.parquet", "part-00001.parquet"]
    assert artifacts.read_parquet(f"{root}/parts/part-00001.parquet").equals(table)
    assert artifacts.list_names(f"{root}/empty") == []


def test_remote_folders_are_published_whole_and_copied_back(s3_server, tmp_path):
    local = tmp_path / "checkpoint-4"
    (local / "sub").mkdir(parents=True)
    (local / "model.safetensors").write_bytes(b"weights")
    (local / "sub" / "config.json").write_text("{}")
    (local / "optimizer.pt").write_bytes(b"state")
    uri = f"s3://{s3_server['bucket']}/run/checkpoint-4"

    with pytest.raises(FileNotFoundError, match="not a complete folder"):
        artifacts.local_folder(uri, tmp_path / "scratch")
    artifacts.publish_folder(local, uri, skip=("optimizer.pt",))
    copy = artifacts.local_folder(uri, tmp_path / "scratch")
    assert (copy / "model.safetensors").read_bytes() == b"weights"
    assert (copy / "sub" / "config.json").read_text() == "{}"
    assert not (copy / "optimizer.pt").exists()


def test_a_local_folder_is_published_in_place(tmp_path):
    artifacts.publish_folder(tmp_path, str(tmp_path))
    assert (tmp_path / artifacts.COMPLETE_MARKER).exists()
    assert artifacts.local_folder(str(tmp_path), tmp_path / "scratch") == tmp_path


def test_a_folder_without_its_marker_is_refused_locally_as_on_s3(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"half")
    with pytest.raises(FileNotFoundError, match="not a complete folder"):
        artifacts.local_folder(str(tmp_path), tmp_path / "scratch")


def test_a_file_is_moved_whole(root):
    artifacts.write_bytes(f"{root}/parts/part-00000.parquet", b"rows")
    artifacts.move(f"{root}/parts/part-00000.parquet", f"{root}/parts/aside/part-00000.parquet")
    assert artifacts.list_names(f"{root}/parts") == []
    assert artifacts.read_bytes(f"{root}/parts/aside/part-00000.parquet") == b"rows"


class Killed(Exception):
    pass


def test_a_model_folder_killed_while_prepared_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    from workloads.programs import prepare_model

    def build(marker: bytes, die: bool):
        def _prepare(spec, out, seed):
            out.mkdir(parents=True)
            (out / "model.safetensors").write_bytes(marker)
            if die:
                raise Killed()
            return {}

        return _prepare

    target = tmp_path / "models" / "m"
    monkeypatch.setattr(prepare_model, "_prepare", build(b"first", die=False))
    prepare_model.prepare({}, str(target), 0)
    monkeypatch.setattr(prepare_model, "_prepare", build(b"second", die=True))
    with pytest.raises(Killed):
        prepare_model.prepare({}, str(target), 0)

    assert (target / "model.safetensors").read_bytes() == b"first"
    assert artifacts.local_folder(str(target), tmp_path / "scratch") == target
    assert [p.name for p in target.parent.iterdir()] == ["m"], "no half-built folder left beside it"

    monkeypatch.setattr(prepare_model, "_prepare", build(b"second", die=False))
    prepare_model.prepare({}, str(target), 0)
    assert (target / "model.safetensors").read_bytes() == b"second" and (target / artifacts.COMPLETE_MARKER).exists()
    assert [p.name for p in target.parent.iterdir()] == ["m"]
