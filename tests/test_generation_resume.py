"""A shard killed midway restarts without regenerating, or duplicating, what it had finished."""

import polars as pl
import pytest

from workloads.generate import SolverTeacher, generate_shard
from workloads.queries import countdown_queries

TASKS = pl.DataFrame({"nums": [[1, 2, 3], [4, 5, 6], [2, 3, 4], [10, 2, 5], [7, 1, 1]], "target": [6, 15, 24, 20, 7]})


class CrashingTeacher(SolverTeacher):
    """Finishes ``chunks_before_crash`` chunks, then dies like a killed pod."""

    def __init__(self, chunks_before_crash: int, generated: list):
        super().__init__("hash")
        self.left, self.generated = chunks_before_crash, generated

    def generate(self, chunk):
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        self.generated += chunk["query_id"].to_list()
        return super().generate(chunk)


def test_interrupted_shard_resumes_without_loss_or_duplicates(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    first, second = [], []
    with pytest.raises(KeyboardInterrupt):
        generate_shard(queries, tmp_path, lambda: CrashingTeacher(1, first), chunk_size=2, log=print)
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1

    traces, resumed = generate_shard(queries, tmp_path, lambda: CrashingTeacher(99, second), chunk_size=2, log=print)

    assert resumed == 2
    assert not set(first) & set(second), "finished queries were generated again"
    assert sorted(traces["query_id"]) == sorted(queries["query_id"])
    assert traces.select("query_id", "sample_idx").is_duplicated().sum() == 0


def test_finished_shard_starts_no_teacher(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    generate_shard(queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=10, log=print)

    def must_not_start():
        raise AssertionError("a teacher was started for a finished shard")

    traces, resumed = generate_shard(queries, tmp_path, must_not_start, chunk_size=10, log=print)
    assert resumed == queries.height and traces.height == queries.height
