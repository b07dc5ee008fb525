"""The request stream of a checkpoint's evaluation: every cell's requests in one engine, longest budget
first, each with its cell's sampling and its item's seed; a cell written as soon as its last request
finishes (so a crash, even SIGKILL, costs only the unfinished cells); progress throttled to a line
every N seconds. A scripted engine stands in for vLLM here; ``test_eval_stream_vllm.py`` compares
the stream with cell-at-a-time evaluation on a real engine."""

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.stream_helpers import KINDS, SAMPLING, ScriptedEngine, fake_judge, make_cells
from workloads.core.progress import StreamProgress
from workloads.evaluation.cells import request_seed
from workloads.evaluation.stream import evaluate_stream, split_cells
from workloads.verification.verify_pool import VerifierPool


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=1, timeout_s=30) as verifier:
        yield verifier


def run(engine, cells, pool=None, **kwargs):
    logs = []
    reported, progress = evaluate_stream(
        engine,
        "r@step-00001",
        cells,
        sampling=SAMPLING,
        seed=0,
        kinds=KINDS,
        judge=fake_judge,
        pool=pool,
        log=logs.append,
        engine_stream=engine.stream,
        **kwargs,
    )
    return reported, progress, logs


def test_every_cell_enters_one_stream_longest_budget_first_with_its_own_sampling(tmp_path, pool):
    cells = make_cells(tmp_path)
    engine = ScriptedEngine()
    reported, _, _ = run(engine, cells, pool)
    assert len(engine.seen) == 1  # one stream for the whole checkpoint
    params = engine.seen[0]
    assert [(p.max_tokens, p.n) for p in params] == [(16, 1)] * 2 + [(12, 3)] * 4 + [(4, 2)] * 3
    assert len({p.seed for p in params}) == len(params)  # a seed per request
    assert list(reported) == list(cells)  # reported in the recipe's order
    assert reported["judged"]["judged"] == 2 and reported["long"]["items"] == 4


def test_a_cell_is_written_as_its_last_request_finishes_whatever_the_order(tmp_path, pool):
    cells = make_cells(tmp_path)
    written = []
    engine = ScriptedEngine(finish_order=lambda count: list(reversed(range(count))))
    run(engine, cells, pool, on_written=lambda name, cell, table, counts: written.append(name))
    # Reversed, the short cell finishes first, then the long one, then the judged one; the judged
    # cell is written on a thread of its own, so it may overtake the others.
    assert sorted(written) == sorted(cells) and written.index("short") < written.index("long")
    for name, cell in cells.items():
        samples = pl.read_parquet(cell.samples_path)
        assert samples.height == {"short": 3 * 2, "long": 4 * 3, "judged": 2}[name]
        table = pl.read_parquet(cell.table_path)
        assert set(table["definition"]) == {cell.definition}
    long_samples = pl.read_parquet(cells["long"].samples_path)
    assert long_samples["score"].to_list() == [1.0] * 12  # scored by the math verdict


def test_results_do_not_depend_on_the_order_requests_finish_in(tmp_path, pool):
    first = make_cells(tmp_path / "a")
    second = make_cells(tmp_path / "b")
    run(ScriptedEngine(), first, pool)
    run(ScriptedEngine(finish_order=lambda count: [3, 0, 8, 5, 1, 7, 2, 6, 4]), second, pool)
    for name in first:
        a = pl.read_parquet(first[name].samples_path).sort("item_id", "sample_idx")
        b = pl.read_parquet(second[name].samples_path).sort("item_id", "sample_idx")
        assert a.equals(b)


def test_the_seed_of_a_request_is_fixed_by_seed_benchmark_and_item():
    assert request_seed(0, "math500", "abc") == request_seed(0, "math500", "abc")
    assert (
        len({request_seed(0, "math500", "abc"), request_seed(1, "math500", "abc"), request_seed(0, "aime", "abc")}) == 3
    )
    assert 0 <= request_seed(7, "x", "y") < 2**31


def test_an_engine_error_mid_stream_keeps_the_finished_cells_and_names_the_error(tmp_path, pool):
    cells = make_cells(tmp_path)

    def fail(yielded):
        if yielded == 4:
            raise RuntimeError("engine died")

    engine = ScriptedEngine(finish_order=lambda count: [6, 7, 8, 2, 0, 1, 3, 4, 5], on_yield=fail)
    with pytest.raises(RuntimeError, match="engine died"):
        run(engine, cells, pool)
    assert Path(cells["short"].table_path).exists()
    assert not Path(cells["long"].table_path).exists() and not Path(cells["long"].samples_path).exists()
    assert not Path(cells["judged"].table_path).exists()


def test_a_scoring_error_stops_the_stream(tmp_path):
    cells = make_cells(tmp_path)

    def broken_judge(requests, replies):
        raise ValueError("judge unreachable")

    engine = ScriptedEngine()
    with pytest.raises(ValueError, match="judge unreachable"):
        evaluate_stream(
            engine, "r@step-00001", cells, sampling=SAMPLING, seed=0, kinds=KINDS, judge=broken_judge,
            log=lambda line: None, engine_stream=engine.stream,
        )  # fmt: skip
    assert not Path(cells["judged"].table_path).exists()


def test_sigkill_in_the_middle_of_the_stream_loses_only_the_unfinished_cells_and_a_rerun_reuses_the_rest(tmp_path):
    folder = tmp_path / "eval"
    root = Path(__file__).resolve().parents[1]
    killed = subprocess.run([sys.executable, "-m", "tests.stream_helpers", str(folder)], cwd=root, timeout=300)
    assert killed.returncode == -9
    cells = make_cells(folder)
    written = {name for name, cell in cells.items() if Path(cell.table_path).exists()}
    assert written == {"short"}
    assert not any(Path(cells[name].samples_path).exists() for name in ("long", "judged"))
    short_before = pl.read_parquet(cells["short"].samples_path)

    # The orchestrator asks again for the cells without a table; the written one is not redone.
    due = {name: cell for name, cell in cells.items() if name not in written}
    reported, _, _ = run(ScriptedEngine(), due)
    assert set(reported) == {"long", "judged"}
    assert all(Path(cell.table_path).exists() for cell in cells.values())
    assert pl.read_parquet(cells["short"].samples_path).equals(short_before)


def test_progress_is_logged_at_most_every_n_seconds_with_requests_cells_tokens_and_time_left():
    now = [0.0]
    lines = []
    progress = StreamProgress("evaluation of c", [100, 100, 10, 10], 2, lines.append, every_s=30, clock=lambda: now[0])
    now[0] = 10.0
    progress.request_done(100, tokens=50)
    assert progress.tick() is None and lines == []
    now[0] = 30.0
    progress.request_done(100, tokens=70)
    progress.cell_done()
    line = progress.tick()
    assert line == ("evaluation of c: 2/4 requests, 1/2 cells, 120 tokens, 4.0 tokens/s, 30 s so far, about 3 s left")
    now[0] = 45.0
    assert progress.tick() is None and progress.tick(force=True) is not None and len(lines) == 2


def test_the_progress_lines_come_from_inside_the_stream(tmp_path, pool):
    cells = make_cells(tmp_path)
    _, progress, logs = run(ScriptedEngine(), cells, pool, progress_every_s=0.0)
    stream_lines = [line for line in logs if "requests" in line]
    assert len(stream_lines) >= 9  # a line per engine step here (throttle 0)
    assert stream_lines[-1].startswith("evaluation of r@step-00001: 9/9 requests, 3/3 cells")
    assert progress.tokens_per_second() is not None


def test_cells_split_across_engines_balance_their_work():
    shares = split_cells({"a": 10.0, "b": 6.0, "c": 5.0, "d": 1.0}, 2)
    assert shares == [["a", "d"], ["b", "c"]]  # loads 11 and 11
    assert split_cells({"a": 1.0}, 3) == [["a"], [], []]
    with pytest.raises(ValueError, match="1 or more engines"):
        split_cells({"a": 1.0}, 0)
