"""The settings a local machine chooses from its GPUs: engines, the judge, training, the run queue.

On a CPU-only machine everything stays as the small recipe was measured with: eager engines with
a 30% share of memory, one training process, a judge served here in eager mode.

On GPUs each engine runs with CUDA graphs (captured once per engine start, then every decode step
replays them) on a device of its own, leased for its run, so it takes 90% of that device. The
judge gets a device of its own too when the machine has more than one; on a single GPU it must
share it with the engines, so while a judge is served there both are sized for that (the engine
55%, the judge 35%) and the settings say so. A judge at a URL (the recipe's, or
``STUDY_JUDGE_BASE_URL``) takes no device.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.launchers.devices import Machine

CPU_MEMORY_SHARE = 0.3  # of the NUMA node, as the CPU recipe was measured
OWN_DEVICE_SHARE = 0.9  # an engine alone on its device; the rest is CUDA graphs, NCCL and allocator slack
SHARED_ENGINE_SHARE = 0.55  # an engine sharing the machine's one GPU with a judge's server ...
SHARED_JUDGE_SHARE = 0.35  # ... and the judge's: together the same 90%


@dataclass(frozen=True)
class EngineSettings:
    enforce_eager: bool
    memory_utilization: float
    tensor_parallel_size: int = 1


@dataclass(frozen=True)
class MachineSettings:
    machine: Machine
    teacher: EngineSettings
    evaluation: EngineSettings
    judge: str  # "external", "own device", "shares the GPU" or "cpu"
    judge_engine: EngineSettings
    train_gpus: int
    pools: dict[str, int]  # Dagster pool -> runs of that kind at once

    def describe(self) -> list[str]:
        """What the machine chose, one line each, for the console and the docs."""

        def engine(e: EngineSettings) -> str:
            graphs = "eager" if e.enforce_eager else "CUDA graphs"
            return f"{graphs}, {e.memory_utilization:.0%} of memory, tensor parallel {e.tensor_parallel_size}"

        return [
            f"machine: {self.machine.describe()}",
            f"teacher engine: {engine(self.teacher)}",
            f"evaluation engine: {engine(self.evaluation)}",
            f"judge: {self.judge}"
            + ("" if self.judge == "external" else f" ({engine(self.judge_engine)})")
            + (f"; an engine takes {SHARED_ENGINE_SHARE:.0%} while it runs" if self.judge == "shares the GPU" else ""),
            f"training: {self.train_gpus} process(es) under torchrun" if self.train_gpus > 1 else "training: 1 process",
            "runs at once: " + ", ".join(f"{pool} {n}" for pool, n in self.pools.items()),
        ]


def _tensor_parallel(value: int, gpus: int, name: str) -> int:
    if value < 1 or (gpus and (value > gpus or gpus % value)):
        raise ValueError(f"{name}={value}: GPUs per engine must divide the {gpus} GPU(s) the study may use here")
    return value


def choose_settings(
    machine: Machine,
    *,
    external_judge: bool,
    teacher_tp: int = 1,
    eval_tp: int = 1,
    train_gpus: int | None = None,
) -> MachineSettings:
    """Pure: the settings for ``machine``. ``external_judge``: the judge has a URL (takes no device);
    ``train_gpus``: GPUs per training run (default: all of them)."""
    gpus = len(machine.gpus)
    if not gpus:
        eager = EngineSettings(enforce_eager=True, memory_utilization=CPU_MEMORY_SHARE)
        return MachineSettings(
            machine, eager, eager, "external" if external_judge else "cpu", eager, 1, {"inference": 1, "training": 1}
        )
    teacher_tp = _tensor_parallel(teacher_tp, gpus, "STUDY_TEACHER_TENSOR_PARALLEL")
    eval_tp = _tensor_parallel(eval_tp, gpus, "STUDY_EVAL_TENSOR_PARALLEL")
    train_gpus = train_gpus or gpus
    if not 1 <= train_gpus <= gpus:
        raise ValueError(f"STUDY_TRAIN_GPUS={train_gpus}: between 1 and the {gpus} GPU(s) the study may use here")
    shared = gpus == 1 and not external_judge
    judge = "external" if external_judge else "shares the GPU" if shared else "own device"
    return MachineSettings(
        machine,
        teacher=EngineSettings(False, OWN_DEVICE_SHARE, teacher_tp),
        evaluation=EngineSettings(False, OWN_DEVICE_SHARE, eval_tp),
        judge=judge,
        judge_engine=EngineSettings(False, SHARED_JUDGE_SHARE if shared else OWN_DEVICE_SHARE),
        train_gpus=train_gpus,
        # One engine per device or tensor-parallel group at once; the lease maps each run to its ids.
        pools={"inference": gpus // max(teacher_tp, eval_tp), "training": gpus // train_gpus},
    )
