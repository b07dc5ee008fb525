"""Verdict functions in worker processes, with a hard wall-clock limit per item.

math-verify guards itself with SIGALRM, which works only in a process's main thread, counts whole
seconds, and cannot interrupt a long C call inside sympy. So the limit is enforced from outside:
each worker is a process that verifies one item at a time, the parent knows when each item started,
and it SIGKILLs a worker whose item runs past the limit. That item gets ``(None, "timeout")``, a
fresh worker takes the dead one's place, and the other items go on. A worker that dies by itself
(segfault, out of memory) costs its item ``(None, "worker crashed")``, never the batch.

Only the standard library here: this runs inside the verification workload.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

DEFAULT_REGISTRY = "workloads.evaluation.registry:VERDICTS"
TIMEOUT = "timeout"
CRASHED = "worker crashed"
# How long a new worker may take to import the verdicts and warm up before the pool gives up on
# verifying at all (a worker that can't start is a broken environment, not a bad item).
STARTUP_LIMIT_S = 120.0

Verdict = tuple[bool | None, str | None]


def usable_cores() -> int:
    """The cores this process may run on (a container or taskset can allow fewer than exist)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_registry(spec: str) -> dict:
    """``"package.module:NAME"`` -> the dict ``NAME`` of kind -> verdict function in that module."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------------------
# The worker side: a loop in its own process.
#
# Messages to the parent: ("ready",) once, or ("failed", traceback) if it cannot start; then one
# ("verdict", correct, error) per item received. It exits when its end of the pipe closes.
# ---------------------------------------------------------------------------------------------


def _serve(conn: Connection, registry: str) -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        verdicts = _load_registry(registry)
        # math-verify builds its LaTeX grammar on first use (about half a second): do that before
        # saying ready, so it is not charged to the first item's time limit.
        if "math" in verdicts:
            verdicts["math"]("$1$", "1")
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready",))
    while True:
        try:
            kind, final, reference = conn.recv()
        except EOFError:  # the pool closed: nothing more to do
            return
        try:
            correct, error = verdicts[kind](final, reference)
        except Exception as err:  # one item's verifier bug is that item's verdict, not a dead worker
            correct, error = None, f"verifier error: {type(err).__name__}: {err}"
        conn.send(("verdict", correct, error))


def _exit_with_parent() -> None:
    """If the pool's process dies without closing the pool (SIGKILL, a cancelled run), a worker
    stuck on an item would otherwise spin on as an orphan with nobody to read its answer."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


# ---------------------------------------------------------------------------------------------
# The parent side.
# ---------------------------------------------------------------------------------------------


class _Worker:
    """One worker process and what the parent knows about it: ready yet, and which item it holds."""

    def __init__(self, context: multiprocessing.context.BaseContext, registry: str) -> None:
        self.conn, child_conn = context.Pipe()
        # daemon: a parent that exits without closing the pool ends its workers on the way out (and
        # _exit_with_parent covers a parent that is killed).
        self.process = context.Process(target=_serve, args=(child_conn, registry), daemon=True)
        self.process.start()
        # Drop the parent's copy of the child's end, so a dead worker reads as EOF on our end.
        child_conn.close()
        self.created = time.monotonic()
        self.ready = False
        self.item: int | None = None  # index of the item it is verifying, None when idle
        self.started = 0.0  # when it got that item

    def give(self, index: int, task: tuple[str, str, object]) -> None:
        self.conn.send(task)
        self.item, self.started = index, time.monotonic()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: a C-level hang ignores anything politer
        self.process.join()
        self.conn.close()


class VerifierPool:
    """Runs ``registry[kind](final, reference)`` for many items in ``workers`` processes, at most
    ``timeout_s`` seconds of wall clock each.

    ``registry`` names a dict of kind -> verdict function as ``"module:NAME"``; the default is
    :data:`workloads.evaluation.registry.VERDICTS`. It is a name, not the dict, because workers import it
    themselves (tests point it at a module with verdicts that hang or crash on purpose).

    Use it as a context manager; the workers start on entry (or on the first call) and are killed on
    exit. One pool can serve many calls of :meth:`verdicts`.
    """

    def __init__(self, workers: int | None = None, timeout_s: float = 10.0, registry: str = DEFAULT_REGISTRY):
        self.workers = usable_cores() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.registry = registry
        # The parent imports the registry too, only to reject an unknown kind before any work.
        self._kinds = set(_load_registry(registry))
        # Not fork: the caller may have threads (Dagster, polars), and a forked copy of a process
        # holding a lock in another thread can deadlock. A forkserver is a clean single-threaded
        # process that forks each worker; preloading math-verify there makes the replacement of a
        # killed worker cost a fork rather than an import of sympy. The preload only takes effect if
        # this process has not started its forkserver yet; a missing module is skipped.
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload([registry.partition(":")[0], "math_verify"])
        else:
            self._context = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = []
        # Seconds each item of the last call spent with a worker, as the parent saw it.
        self.item_seconds: list[float] = []

    def __enter__(self) -> VerifierPool:
        self._start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        # Workers hold nothing worth saving, so there is no polite shutdown to wait for.
        for worker in self._pool:
            worker.kill()
        self._pool = []

    def verdicts(self, kinds: Sequence[str], finals: Sequence[str], references: Sequence[object]) -> list[Verdict]:
        """``(correct, error)`` per item, in input order. ``(None, "timeout")`` for an item that ran
        past the limit, ``(None, "worker crashed")`` for one whose worker died, ``(None, "verifier
        error: ...")`` for one whose verdict function raised."""
        if not len(kinds) == len(finals) == len(references):
            raise ValueError(f"lengths differ: {len(kinds)} kinds, {len(finals)} finals, {len(references)} references")
        unknown = set(kinds) - self._kinds
        if unknown:
            raise ValueError(f"no verdict function for kind(s) {sorted(unknown)} in {self.registry}")
        self._start()
        results: list[Verdict | None] = [None] * len(kinds)
        self.item_seconds = [0.0] * len(kinds)
        waiting = deque(range(len(kinds)))
        while waiting or any(worker.item is not None for worker in self._pool):
            self._hand_out(waiting, kinds, finals, references)
            self._wait_for_news(results)
            self._kill_overdue(results)
        return results

    # --- the steps of the loop in verdicts() ------------------------------------------------------

    def _start(self) -> None:
        while len(self._pool) < self.workers:
            self._pool.append(_Worker(self._context, self.registry))

    def _hand_out(self, waiting: deque[int], kinds, finals, references) -> None:
        for worker in self._pool:
            if not waiting:
                return
            if worker.ready and worker.item is None:
                index = waiting.popleft()
                try:
                    worker.give(index, (kinds[index], finals[index], references[index]))
                except OSError:  # it died while idle (the OOM killer picks any process): not the item's fault
                    waiting.appendleft(index)
                    self._replace(worker)

    def _wait_for_news(self, results: list[Verdict | None]) -> None:
        """Block until a worker answers or dies, or until the next deadline passes."""
        now = time.monotonic()
        deadlines = [
            worker.started + self.timeout_s if worker.ready else worker.created + STARTUP_LIMIT_S
            for worker in self._pool
            if worker.item is not None or not worker.ready
        ]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        # A pipe turns readable with a message or at EOF; the sentinel as soon as the process ends.
        handles = {worker.conn: worker for worker in self._pool}
        handles.update({worker.process.sentinel: worker for worker in self._pool})
        for worker in {handles[handle] for handle in wait(list(handles), timeout)}:
            self._read(worker, results)

    def _read(self, worker: _Worker, results: list[Verdict | None]) -> None:
        try:
            message = worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):
            message = None
        if message is None:  # the worker is gone
            if not worker.ready:
                raise RuntimeError(f"a verifier worker died while starting (exit code {worker.process.exitcode})")
            if worker.item is not None:
                self._finish(worker, results, (None, CRASHED))
            self._replace(worker)
        elif message[0] == "ready":
            worker.ready = True
        elif message[0] == "failed":
            raise RuntimeError(f"a verifier worker could not start:\n{message[1]}")
        else:
            _, correct, error = message
            self._finish(worker, results, (correct, error))

    def _kill_overdue(self, results: list[Verdict | None]) -> None:
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.item is not None and now - worker.started > self.timeout_s:
                self._finish(worker, results, (None, TIMEOUT))
                self._replace(worker)
            elif not worker.ready and now - worker.created > STARTUP_LIMIT_S:
                raise RuntimeError(f"a verifier worker was not ready after {STARTUP_LIMIT_S:.0f} s")

    def _finish(self, worker: _Worker, results: list[Verdict | None], verdict: Verdict) -> None:
        results[worker.item] = verdict
        self.item_seconds[worker.item] = time.monotonic() - worker.started
        worker.item = None

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool[self._pool.index(worker)] = _Worker(self._context, self.registry)
