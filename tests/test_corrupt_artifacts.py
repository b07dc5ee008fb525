"""A damaged artifact is named, is not retried (a retry reads the same bytes), and a damaged eval
table is computed again rather than blocking its checkpoint."""

import polars as pl
import pytest
import torch
from safetensors.torch import save_file

from assets.evaluation import current_table
from assets.keys import Keys
from resources.storage import CorruptTable, LocalStorage
from workloads.core.artifacts import CorruptArtifact, check_safetensors, read_parquet, write_parquet
from workloads.core.lifecycle import retryable

TABLE = pl.DataFrame({"metric": ["pass@1"], "mean": [0.5], "definition": ["d1"]})


def _damaged(path, how):
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"x" * len(data)}[how])


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_a_damaged_parquet_is_named_and_not_retried(tmp_path, how):
    path = tmp_path / "t.parquet"
    write_parquet(TABLE, str(path))
    _damaged(path, how)
    with pytest.raises(CorruptArtifact, match=r"t\.parquet: not a readable parquet table") as raised:
        read_parquet(str(path))
    assert retryable(raised.value) is False


def test_a_missing_parquet_is_still_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_parquet(str(tmp_path / "absent.parquet"))


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_damaged_stored_table_fails_its_step_at_once_naming_the_file(tmp_path, how):
    storage = LocalStorage(root=str(tmp_path))
    storage.write_table("r/t.parquet", TABLE)
    _damaged(tmp_path / "r" / "t.parquet", how)
    with pytest.raises(CorruptTable) as raised:
        storage.read_table("r/t.parquet")
    assert raised.value.allow_retries is False and "t.parquet" in raised.value.description


def test_a_damaged_eval_table_is_computed_again(tmp_path, small_recipe):
    storage, keys = LocalStorage(root=str(tmp_path)), Keys(small_recipe)
    key = keys.eval_table("run@step-00002", "math500")
    storage.write_table(key, TABLE)
    assert current_table(storage, keys, "run@step-00002", "math500", "d1") is not None
    _damaged(tmp_path / key, "truncated")
    assert current_table(storage, keys, "run@step-00002", "math500", "d1") is None


@pytest.fixture
def weights(tmp_path):
    save_file({"a": torch.zeros(4, 4), "b": torch.ones(8)}, str(tmp_path / "model.safetensors"))
    return tmp_path


def test_whole_safetensors_pass(weights):
    check_safetensors(weights)


@pytest.mark.parametrize("cut", [1, 8, 20, -1])
def test_a_cut_safetensors_file_is_named(weights, cut):
    file = weights / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[:cut])
    with pytest.raises(CorruptArtifact, match=r"model\.safetensors: not a whole safetensors file") as raised:
        check_safetensors(weights)
    assert retryable(raised.value) is False


def test_safetensors_with_a_garbage_header_is_named(weights):
    file = weights / "model.safetensors"
    data = bytearray(file.read_bytes())
    data[8:20] = b"not json at!"
    file.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact, match="model.safetensors"):
        check_safetensors(weights)
