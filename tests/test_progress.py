"""Long steps report their pace and the time left as they go."""

import pytest

from workloads.core.progress import Progress, eta_seconds, format_seconds


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "left"),
    [(0, 10, 5.0, None), (5, 10, 0.0, None), (5, 10, 10.0, 10.0), (2, 8, 30.0, 90.0), (10, 8, 30.0, 0.0)],
)
def test_time_left_follows_the_pace_so_far(done, total, elapsed, left):
    assert eta_seconds(done, total, elapsed) == left


@pytest.mark.parametrize(("seconds", "text"), [(None, "?"), (42.4, "42 s"), (600, "10 min"), (3 * 3600, "3.0 h")])
def test_durations_read_at_a_glance(seconds, text):
    assert format_seconds(seconds) == text


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_each_update_logs_tokens_per_second_and_time_left():
    clock, lines = Clock(), []
    progress = Progress("generation", 4, "queries", lines.append, clock=clock)
    clock.now += 20
    progress.update(1, tokens=400)
    assert lines == ["generation: 1/4 queries, 400 tokens, 20.0 tokens/s, 20 s so far, about 60 s left"]
    clock.now += 20
    progress.update(1, tokens=400)
    assert progress.metadata() == {"seconds": 40.0, "tokens_per_second": 20.0}


def test_training_steps_report_seconds_per_step():
    clock, lines = Clock(), []
    progress = Progress("training", 5, "steps", lines.append, clock=clock)
    clock.now += 30
    progress.update(tokens=0)
    assert lines[-1] == "training: 1/5 steps, 30 s so far, about 2 min left, 30.0 s/step"


def test_the_run_summary_shows_dtype_engine_and_pace():
    from orchestration.run_study import pace

    generation = [
        {"compute_dtype": "float32", "engine": "vllm", "tokens_per_second": 30.0, "samples": 64},
        {"compute_dtype": "float32", "engine": "vllm", "tokens_per_second": 40.0},
    ]
    assert pace(generation) == "float32, vllm, 35.0 tokens/s"
    assert pace([{"compute_dtype": "bfloat16", "seconds_per_step": 12.34}]) == "bfloat16, 12.3 s/step"
    assert pace([{"rows": 3}]) == ""
