"""A checkpoint's due eval cells as one request stream: every item of every cell enters one engine
together, each request with its own sampling parameters (the cell's ``n``, token budget and stop
list, the item's seed), so the engine's batch stays full instead of draining at the end of each
cell. A cell is scored and written the moment its last request finishes, on a thread beside the
engine: the verifier pool scores it (one scoring thread, the pool's workers doing the work) and a
safety cell's judge calls start at once on a thread of their own. Without a verifier pool, a cell
is scored on the engine's thread between steps.

Equal to the cell-at-a-time evaluation (``workloads.evaluation.cells.evaluate_cell``) for the same
seeds: a request's samples depend on its own seed, not on its batch. What a crash costs: the cells
not yet finished; a cell whose table was written stays written, and the orchestrator requests only
the cells without a current table the next time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl

from workloads.core.artifacts import write_parquet
from workloads.core.progress import StreamProgress
from workloads.evaluation.cells import PreparedCell, cell_samples, prepare_cell
from workloads.evaluation.metrics import summarize
from workloads.evaluation.registry import kind_of
from workloads.inference.engine import stream_generate
from workloads.programs.inputs import EvalCell

# Seconds between progress lines: often enough that a long cell is never silent, rarely enough
# that a day-long evaluation's log stays readable.
PROGRESS_EVERY_S = 60.0


def request_order(prepared: list[PreparedCell]) -> list[tuple[int, int]]:
    """``(cell, item)`` pairs in the order they enter the engine: the cells with the longest token
    budget first (their requests run longest, so they start while short ones fill the batch around
    them and the stream does not end waiting on a few long ones), more samples per request first
    among equals, then the given order; items in their order within a cell."""
    cells = sorted(range(len(prepared)), key=lambda c: (-prepared[c].budget, -prepared[c].samples))
    return [(c, i) for c in cells for i in range(len(prepared[c].items))]


def split_cells(work: dict[str, float], engines: int) -> list[list[str]]:
    """Cells (name -> expected generated tokens) split across data-parallel engines, each engine
    running its share as one stream: the largest cell first onto the least loaded engine."""
    if engines < 1:
        raise ValueError(f"cells can be split across 1 or more engines, not {engines}")
    shares: list[list[str]] = [[] for _ in range(engines)]
    loads = [0.0] * engines
    for name in sorted(work, key=lambda n: -work[n]):
        least = loads.index(min(loads))
        shares[least].append(name)
        loads[least] += work[name]
    return shares


def write_cell(cell: EvalCell, samples: pl.DataFrame, kinds: dict[str, str], seed: int) -> pl.DataFrame:
    """The cell's samples, then its table: the table's presence (under the cell's definition)
    marks the cell done, so it goes last."""
    write_parquet(samples, cell.samples_path)
    table = summarize(samples, kinds, seed=seed)
    write_parquet(table.with_columns(definition=pl.lit(cell.definition)), cell.table_path)
    return table


def evaluate_stream(
    llm,
    checkpoint: str,
    cells: dict[str, EvalCell],
    *,
    sampling: dict,
    seed: int,
    kinds: dict[str, str],
    judge=None,
    pool=None,
    log: Callable[[str], None] = print,
    on_written: Callable[[str, EvalCell, pl.DataFrame, dict], None] | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
    engine_stream=stream_generate,
) -> tuple[dict[str, dict], StreamProgress]:
    """Generate, score and write every cell of ``cells`` through one engine stream. Returns each
    cell's counts (in the given order) and the stream's progress (its tokens/s). ``on_written(name,
    cell, table, counts)`` runs after a cell is written, on the thread that wrote it. An error in
    the engine or in scoring stops the stream; the cells finished by then are written first."""
    tokenizer = llm.get_tokenizer()
    # Every cell's items are loaded before the engine starts: bad benchmark data fails at once.
    prepared = [prepare_cell(tokenizer, name, cell, sampling, seed) for name, cell in cells.items()]
    order = request_order(prepared)
    outputs: list[list] = [[None] * len(p.items) for p in prepared]
    remaining = [len(p.items) for p in prepared]
    progress = StreamProgress(
        f"evaluation of {checkpoint}",
        [prepared[c].budget * prepared[c].samples for c, _ in order],
        len(prepared),
        log,
        every_s=progress_every_s,
    )
    written = threading.Lock()  # on_written and the per-cell line, from either thread, one at a time

    def finish(c: int) -> dict:
        p = prepared[c]
        samples, counts = cell_samples(checkpoint, p, outputs[c], judge, pool)
        table = write_cell(p.cell, samples, kinds, seed)
        progress.cell_done()
        with written:
            if on_written is not None:
                on_written(p.name, p.cell, table, counts)
            log(f"{checkpoint} {p.name}: {counts['items']} items x {p.cell.n} samples {counts}")
        return counts

    scoring = ThreadPoolExecutor(1, thread_name_prefix="scoring")
    judging = ThreadPoolExecutor(1, thread_name_prefix="judging")
    futures: dict[int, Future] = {}

    def submit(c: int) -> None:
        if kind_of(prepared[c].cell.kind).needs_judge:
            futures[c] = judging.submit(finish, c)
        elif pool is not None:
            futures[c] = scoring.submit(finish, c)
        else:
            # Without the pool, verdicts run in this process, and math-verify's own time limit
            # (SIGALRM) works only on the main thread: such a cell is scored here, between steps.
            futures[c] = Future()
            futures[c].set_result(finish(c))

    try:
        for c in range(len(prepared)):
            if remaining[c] == 0:
                submit(c)
        prompts = [prepared[c].prompts[i] for c, i in order]
        params = [prepared[c].params[i] for c, i in order]
        for k, out in engine_stream(llm, prompts, params, heartbeat=progress.tick):
            c, i = order[k]
            outputs[c][i] = out
            remaining[c] -= 1
            progress.request_done(prepared[c].budget * prepared[c].samples, sum(len(s.token_ids) for s in out.outputs))
            if remaining[c] == 0:
                submit(c)
            _raise_first_failure(futures)
    finally:
        # Finished cells are written even when the stream stops early: a crash costs only the rest.
        scoring.shutdown(wait=True)
        judging.shutdown(wait=True)
    unfinished = [prepared[c].name for c in range(len(prepared)) if c not in futures]
    if unfinished:
        raise RuntimeError(f"the engine stopped with cells unfinished: {', '.join(unfinished)}")
    progress.tick(force=True)
    return {prepared[c].name: futures[c].result() for c in range(len(prepared))}, progress


def _raise_first_failure(futures: dict[int, Future]) -> None:
    for future in futures.values():
        if future.done() and future.exception() is not None:
            raise future.exception()
