"""Throughput and time left of a long step, logged while it runs, so a slow machine shows at once."""

from __future__ import annotations

import time
from collections.abc import Callable


def eta_seconds(done: float, total: float, elapsed: float) -> float | None:
    """Time left at the pace so far; None before anything is done."""
    if done <= 0 or elapsed <= 0:
        return None
    return max(total - done, 0) * elapsed / done


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Counts units of work (queries, cells, steps) and generated tokens, and logs a line per update:
    ``generation: 16/32 queries, 1,200 tokens, 40.1 tokens/s, 30 s so far, about 30 s left``."""

    def __init__(self, label: str, total: int, unit: str, log: Callable[[str], None], clock=time.monotonic):
        self.label, self.total, self.unit, self.log, self.clock = label, total, unit, log, clock
        self.started = clock()
        self.done = 0
        self.tokens = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def tokens_per_second(self) -> float | None:
        return round(self.tokens / self.elapsed, 1) if self.tokens and self.elapsed > 0 else None

    def update(self, done: int = 1, tokens: int = 0) -> str:
        self.done += done
        self.tokens += tokens
        elapsed = self.elapsed
        parts = [f"{self.label}: {self.done}/{self.total} {self.unit}"]
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens, {self.tokens_per_second()} tokens/s")
        left = eta_seconds(self.done, self.total, elapsed)
        parts.append(f"{format_seconds(elapsed)} so far, about {format_seconds(left)} left")
        if self.unit == "steps":
            parts.append(f"{elapsed / self.done:.1f} s/step")
        line = ", ".join(parts)
        self.log(line)
        return line

    def metadata(self) -> dict:
        """What the step reports when it ends."""
        return {"seconds": round(self.elapsed, 1), "tokens_per_second": self.tokens_per_second()}


def make_step_logger(log: Callable[[str], None]):
    """A trainer callback logging each optimizer step: tokens/s, seconds per step, time left. A
    resumed run counts the steps this process runs."""
    from transformers import TrainerCallback

    class StepLogger(TrainerCallback):
        progress: Progress | None = None
        tokens_seen = 0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.progress = Progress("training", state.max_steps - state.global_step, "steps", log)
                self.tokens_seen = int(state.num_input_tokens_seen or 0)

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is None:
                return
            tokens = int(state.num_input_tokens_seen or 0)
            self.progress.update(tokens=tokens - self.tokens_seen)
            self.tokens_seen = tokens

    return StepLogger()


class StreamProgress:
    """Progress of one request stream (a checkpoint's evaluation): requests and cells done of their
    totals, generated tokens/s and the time left, logged at most once every ``every_s`` seconds
    however often the engine steps. Time left is paced by token budget (the new tokens the finished
    requests were allowed), since the stream runs its longest-budget requests first."""

    def __init__(
        self,
        label: str,
        budgets: list[int],
        cells: int,
        log: Callable[[str], None],
        every_s: float = 30.0,
        clock=time.monotonic,
    ):
        self.label, self.log, self.every_s, self.clock = label, log, every_s, clock
        self.requests, self.cells = len(budgets), cells
        self.total_budget = sum(budgets)
        self.started = self.last = clock()
        self.requests_done = self.cells_done = self.tokens = self.budget_done = 0

    def request_done(self, budget: int, tokens: int) -> None:
        self.requests_done += 1
        self.budget_done += budget
        self.tokens += tokens

    def cell_done(self) -> None:
        self.cells_done += 1

    def tokens_per_second(self) -> float | None:
        elapsed = self.clock() - self.started
        return round(self.tokens / elapsed, 1) if self.tokens and elapsed > 0 else None

    def line(self) -> str:
        elapsed = self.clock() - self.started
        left = eta_seconds(self.budget_done, self.total_budget, elapsed)
        return (
            f"{self.label}: {self.requests_done}/{self.requests} requests, {self.cells_done}/{self.cells} cells, "
            f"{self.tokens:,} tokens, {self.tokens_per_second() or 0} tokens/s, "
            f"{format_seconds(elapsed)} so far, about {format_seconds(left)} left"
        )

    def tick(self, force: bool = False) -> str | None:
        """Log a line if ``every_s`` has passed since the last one (or ``force``); returns it."""
        now = self.clock()
        if not force and now - self.last < self.every_s:
            return None
        self.last = now
        line = self.line()
        self.log(line)
        return line
