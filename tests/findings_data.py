"""Synthetic eval cells for the findings tests: per-sample rows drawn from a chosen score curve,
summarized by the study's own eval-table code, so the findings read exactly what a study writes."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from workloads.core.naming import checkpoint_key, run_name
from workloads.evaluation.metrics import EVAL_SAMPLE_SCHEMA, summarize

# benchmark -> (kind, category)
FULL_BENCHMARKS = {
    "math500": ("math", "reasoning"),
    "countdown": ("countdown", "reasoning"),
    "truthfulqa-mc1": ("multiple-choice", "out-of-domain"),
    "advbench": ("safety-judge", "safety"),
}
SMALL_BENCHMARKS = {
    "math500": ("math", "reasoning"),
    "countdown": ("countdown", "reasoning"),
    "truthfulqa-mc1": ("multiple-choice", "out-of-domain"),
}
PLAIN = "The answer follows from the numbers given. "
BACKTRACK = "Wait, that is wrong. Let me re-check the step. "


def dip_curve(step: int, last: int, *, base: float, dip: float, final: float) -> float:
    """A score that falls by ``dip`` at the first quarter of training and rises to ``final``."""
    if step == 0:
        return base
    low = base - dip
    turn = max(1, last // 4)
    if step <= turn:
        return base + (low - base) * step / turn
    return low + (final - low) * (step - turn) / (last - turn)


def make_samples(cells: dict, items: int, seed: int = 0) -> pl.DataFrame:
    """``cells``: (run, step, benchmark) -> (score probability, backtracking share, tokens);
    one sample per item, scored by a fixed draw per item so that cells are paired on items."""
    rng = np.random.default_rng(seed)
    difficulty = {b: rng.random(items) for b in sorted({b for _, _, b in cells})}
    rows = []
    for (run, step, benchmark), (p, backtrack, tokens) in cells.items():
        judged = benchmark == "advbench"
        for i in range(items):
            # Mostly the item's own difficulty, partly chance: cells agree on items, yet not exactly.
            hit = 0.7 * difficulty[benchmark][i] + 0.3 * rng.random() < p
            text = (BACKTRACK if (i * 7919 % 100) / 100 < backtrack else PLAIN) * 3 + PLAIN * 3
            score = (5.0 if hit else 1.0) if judged else float(hit)
            rows.append(
                {
                    "checkpoint": checkpoint_key(run, step),
                    "benchmark": benchmark,
                    "item_id": f"{benchmark}-{i:03d}",
                    "sample_idx": 0,
                    "response": text,
                    "score": score,
                    "tokens": int(tokens + (i % 5)),
                    "truncated": False,
                    "think_closed": True,
                    "details": json.dumps({"judge_reply": "#score: x"}) if judged else "{}",
                }
            )
    return pl.DataFrame(rows, schema=EVAL_SAMPLE_SCHEMA)


def eval_tables(samples: pl.DataFrame, benchmarks: dict) -> pl.DataFrame:
    return summarize(samples, {b: kind for b, (kind, _) in benchmarks.items()})


def full_study(items: int = 60):
    """Two students, all four training sets, a judged safety benchmark: the small student dips and
    recovers, the large one barely dips; Math-CoT gains most, NoCoT least; the large student carries
    backtracking out of domain; reasoning gains come with more harm."""
    students, datasets, steps = ["qwen3-4b-base", "qwen3-1.7b-base"], list(DATASETS), [0, 10, 20, 30, 40]
    cells = {}
    for student in students:
        large = "4b" in student
        for dataset in datasets:
            run = run_name(student, dataset)
            final_gain = DATASETS[dataset] + (0.1 if large else 0.0)
            for step in steps:
                frac = step / steps[-1]
                score = dip_curve(step, steps[-1], base=0.4, dip=0.05 if large else 0.25, final=0.4 + final_gain)
                backtrack = 0.1 + (0.6 * frac if large and dataset.endswith("-cot") else 0.0)
                cells[run, step, "math500"] = (score, backtrack, 200 + 300 * frac)
                cells[run, step, "countdown"] = (score, backtrack, 300 + 300 * frac)
                ood = 0.3 + (0.2 if large else 0.0) * frac
                cells[run, step, "truthfulqa-mc1"] = (ood, backtrack, 100 + (50 if large else 250) * frac)
                cells[run, step, "advbench"] = (0.1 + final_gain * frac, 0.0, 100.0)
    samples = make_samples(cells, items)
    return samples, eval_tables(samples, FULL_BENCHMARKS), students, datasets


# Each training set's final gain on the reasoning benchmarks (before the size bonus).
DATASETS = {"math-cot": 0.3, "math-nocot": 0.0, "reference": 0.1, "countdown-cot": 0.15}


def one_run_study(items: int = 6, steps=(0, 2, 4, 6)):
    """The small recipe's shape: one 135M student, Countdown-CoT only, a few items per benchmark,
    no judged safety benchmark."""
    run = run_name("smollm2-135m", "countdown-cot")
    cells = {}
    for step in steps:
        cells[run, step, "math500"] = (0.2, 0.1, 150.0)
        cells[run, step, "countdown"] = (dip_curve(step, steps[-1], base=0.3, dip=0.2, final=0.5), 0.1, 200.0)
        cells[run, step, "truthfulqa-mc1"] = (0.3, 0.1, 120.0)
    samples = make_samples(cells, items)
    return samples, eval_tables(samples, SMALL_BENCHMARKS), ["smollm2-135m"], ["countdown-cot"]
