"""A shard killed midway restarts without regenerating, or duplicating, what it had finished; a
shard whose recipe changed regenerates instead of reusing stale parts."""

from functools import partial

import polars as pl
import pytest

from workloads.data.queries import countdown_queries
from workloads.programs.generate import SolverTeacher, generate_shard

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
        generate_shard(queries, tmp_path, lambda: CrashingTeacher(1, first), chunk_size=2, log=print, chash="hash")
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1

    traces, resumed = generate_shard(
        queries, tmp_path, lambda: CrashingTeacher(99, second), chunk_size=2, log=print, chash="hash"
    )

    assert resumed == 2
    assert not set(first) & set(second), "finished queries were generated again"
    assert sorted(traces["query_id"]) == sorted(queries["query_id"])
    assert traces.select("query_id", "sample_idx").is_duplicated().sum() == 0


def test_finished_shard_starts_no_teacher(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    generate_shard(queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=10, log=print, chash="hash")

    def must_not_start():
        raise AssertionError("a teacher was started for a finished shard")

    traces, resumed = generate_shard(queries, tmp_path, must_not_start, chunk_size=10, log=print, chash="hash")
    assert resumed == queries.height and traces.height == queries.height


def test_parts_made_with_other_sampling_are_moved_aside_and_regenerated(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    generate_shard(
        queries, tmp_path, partial(SolverTeacher, "old-sampling"), chunk_size=2, log=print, chash="old-sampling"
    )
    old_parts = sorted(p.name for p in tmp_path.glob("part-*.parquet"))
    logged = []

    traces, resumed = generate_shard(
        queries, tmp_path, lambda: SolverTeacher("new-sampling"), chunk_size=2, log=logged.append, chash="new-sampling"
    )

    assert resumed == 0
    assert set(traces["sampling_hash"]) == {"new-sampling"} and traces.height == queries.height
    moved = sorted(p.name for p in tmp_path.glob("superseded-*/part-*.parquet"))
    assert moved == old_parts, "old parts are kept aside, not deleted"
    assert sum("not reusing" in line and "old-sampling" in line for line in logged) == len(old_parts)


def test_a_shrunk_query_set_keeps_no_traces_of_foreign_queries(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    generate_shard(queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=2, log=print, chash="hash")
    kept = queries.tail(2)  # the last chunk's part holds one of these, the other shares a part with a dropped query
    started = []

    def start():
        started.append(True)
        return SolverTeacher("hash")

    traces, resumed = generate_shard(kept, tmp_path, start, chunk_size=2, log=print, chash="hash")

    assert set(traces["query_id"]) == set(kept["query_id"])
    assert traces.select("query_id", "sample_idx").is_duplicated().sum() == 0
    assert resumed == 1 and started == [True]
    assert list(tmp_path.glob("superseded-*/part-*.parquet")), "parts with foreign queries are moved aside"


def test_new_parts_never_replace_kept_ones(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    generate_shard(queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=2, log=print, chash="hash")
    # A part in the middle is stale (foreign hash): its queries are redone under a fresh name.
    middle = tmp_path / "part-00001.parquet"
    pl.read_parquet(middle).with_columns(sampling_hash=pl.lit("other")).write_parquet(middle)

    traces, _ = generate_shard(queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=2, log=print, chash="hash")

    assert sorted(traces["query_id"]) == sorted(queries["query_id"])
    assert sorted(p.name for p in tmp_path.glob("part-*.parquet")) == [
        "part-00000.parquet",
        "part-00002.parquet",
        "part-00003.parquet",
    ]


def test_the_pace_counts_only_what_this_run_generated(tmp_path):
    queries = countdown_queries(TASKS, source="countdown")
    first = {}
    generate_shard(
        queries.head(2), tmp_path, lambda: SolverTeacher("hash"), chunk_size=2, log=print, chash="hash", tally=first
    )
    second = {}
    traces, resumed = generate_shard(
        queries, tmp_path, lambda: SolverTeacher("hash"), chunk_size=2, log=print, chash="hash", tally=second
    )
    reused = traces.filter(pl.col("query_id").is_in(queries.head(2)["query_id"].implode()))
    assert resumed == 2 and first["generated_tokens"] == int(reused["completion_tokens"].sum())
    assert second["generated_tokens"] == int(traces["completion_tokens"].sum()) - first["generated_tokens"]
    finished = {}
    generate_shard(queries, tmp_path, lambda: None, chunk_size=2, log=print, chash="hash", tally=finished)
    assert finished.get("generated_tokens", 0) == 0
