"""GPU-hours of a study before it runs: generated tokens over a throughput table.

Pure arithmetic on counts the caller gathers from the recipe (``assets/study_plan.py``); the
throughput table is a YAML file whose header states where each figure comes from
(``recipes/throughput.yaml``), overridable per study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ThroughputError(ValueError):
    """A throughput table that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Throughput:
    gpus: dict[str, float]
    default_gpu: str
    training_mfu: float
    generation: dict[str, dict[float, float]]
    length_fraction: dict[str, float]
    example_tokens: dict[str, int]
    engine_start_minutes: float
    params_b: dict[str, float] = field(default_factory=dict)
    # The share of the generation rates that evaluation reaches, and where that figure comes from.
    evaluation_factor: float = 1.0
    evaluation_derivation: str = "not measured: evaluation at the generation rates as they stand"

    @classmethod
    def load(cls, path: str | Path) -> Throughput:
        path = Path(path)
        data = yaml.safe_load(path.read_text())
        try:
            table = cls(
                gpus={str(k): float(v["bf16_tflops"]) for k, v in data["gpus"].items()},
                default_gpu=str(data["default_gpu"]),
                training_mfu=float(data["training_mfu"]),
                generation={
                    str(g): {float(s): float(r) for s, r in rates.items()} for g, rates in data["generation"].items()
                },
                length_fraction={str(k): float(v) for k, v in data["length_fraction"].items()},
                example_tokens={str(k): int(v) for k, v in data["example_tokens"].items()},
                engine_start_minutes=float(data["engine_start_minutes"]),
                params_b={str(k): float(v) for k, v in (data.get("params_b") or {}).items()},
                **_evaluation_throughput(data.get("evaluation_throughput")),
            )
        except KeyError as err:
            raise ThroughputError(f"{path.name}: {err.args[0]}: required field is missing") from None
        except (TypeError, ValueError, AttributeError) as err:
            raise ThroughputError(f"{path.name}: {err}") from None
        for gpu in table.gpus:
            if gpu not in table.generation:
                raise ThroughputError(f"{path.name}: generation.{gpu}: no generation rates for this GPU")
        if table.default_gpu not in table.gpus:
            raise ThroughputError(f"{path.name}: default_gpu: {table.default_gpu!r} is not in gpus")
        if not 0 < table.training_mfu <= 1:
            raise ThroughputError(f"{path.name}: training_mfu: must be in (0, 1]")
        if not 0 < table.evaluation_factor <= 1:
            raise ThroughputError(f"{path.name}: evaluation_throughput.factor: must be in (0, 1]")
        return table

    def check_gpu(self, gpu: str) -> None:
        if gpu not in self.gpus:
            raise ThroughputError(f"GPU type {gpu!r} is not in the throughput table (known: {', '.join(self.gpus)})")

    def tokens_per_second(self, gpu: str, params_b: float) -> float:
        """Generated tokens per second per GPU: the table's row for the size nearest on a log scale."""
        self.check_gpu(gpu)
        rates = self.generation[gpu]
        nearest = min(rates, key=lambda size: abs(math.log(size / params_b)))
        return rates[nearest]

    def evaluation_tokens_per_second(self, gpu: str, params_b: float) -> float:
        """Generated tokens per second per GPU while evaluating: the generation rate times the share
        of it evaluation reaches (``evaluation_throughput`` in the table, with its derivation)."""
        return self.tokens_per_second(gpu, params_b) * self.evaluation_factor

    def evaluation_note(self) -> str:
        """The line an estimate prints about how evaluation is priced."""
        return f"Evaluation priced at {self.evaluation_factor:.2f} x the generation rates: {self.evaluation_derivation}"

    def generation_gpu_hours(self, gpu: str, params_b: float, tokens: float) -> float:
        return tokens / self.tokens_per_second(gpu, params_b) / 3600

    def training_gpu_hours(self, gpu: str, params_b: float, tokens: float, *, checkpointing: bool) -> float:
        """6 FLOPs per parameter and token (8 when activation checkpointing runs the forward twice)."""
        self.check_gpu(gpu)
        flops = (8 if checkpointing else 6) * params_b * 1e9 * tokens
        return flops / (self.gpus[gpu] * 1e12 * self.training_mfu) / 3600


def _evaluation_throughput(entry) -> dict:
    """``evaluation_throughput: {factor, derivation}``; a table without it prices evaluation at the
    generation rates."""
    if entry is None:
        return {}
    return {"evaluation_factor": float(entry["factor"]), "evaluation_derivation": str(entry["derivation"]).strip()}


@dataclass(frozen=True)
class Line:
    """One row of an estimate. ``length``: where the mean generated length came from ("budget x
    0.30" or "measured"); ``expected_tokens`` for training is the tokens trained on."""

    stage: str
    item: str
    generations: int
    budget_tokens: int
    expected_tokens: float
    length: str
    gpu_hours: float


def generation_line(
    stage: str,
    item: str,
    *,
    generations: int,
    budget: int,
    measured_mean: float | None,
    fraction: float,
    gpu_hours_per_token: float,
) -> Line:
    """Generations with a per-generation budget: expected tokens from the measured mean length when
    there is one, else the budget times the assumed fraction."""
    mean = measured_mean if measured_mean is not None else budget * fraction
    expected = generations * mean
    return Line(
        stage,
        item,
        generations,
        generations * budget,
        expected,
        "measured" if measured_mean is not None else f"budget x {fraction:.2f}",
        expected * gpu_hours_per_token,
    )


FIGURES = ("generations", "budget_tokens", "expected_tokens", "gpu_hours")


def totals(lines: list[Line]) -> dict[str, dict[str, float]]:
    """Per stage and overall: generations, budget tokens, expected tokens, GPU-hours."""
    out: dict[str, dict[str, float]] = {}
    for line in lines:
        for stage in (line.stage, "total"):
            row = out.setdefault(stage, dict.fromkeys(FIGURES, 0))
            row["generations"] += line.generations
            row["budget_tokens"] += line.budget_tokens
            row["expected_tokens"] += line.expected_tokens
            row["gpu_hours"] += line.gpu_hours
    return out
