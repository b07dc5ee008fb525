"""The compute dtype and the generation engine, decided once from what the hardware does natively.

bf16 where the device computes it natively (GPUs from Ampere on; CPUs whose oneDNN build has a
bf16 path: AVX512-BF16 or AMX), fp16 on GPUs without bf16, fp32 everywhere else. A CPU without
native bf16 emulates it, at a small fraction of its fp32 speed (``benchmarks/cpu_default.py``
measures both), so ``auto`` never picks an emulated dtype; a recipe may still force one, with a
warning. The decision is made where the workload runs (a GPU pod decides for its GPU), and every
workload reports it with its results.
"""

from __future__ import annotations

import os
import platform
import subprocess
import warnings
from dataclasses import dataclass

DTYPES = ("auto", "bfloat16", "float16", "float32")


class EmulatedDtypeWarning(UserWarning):
    """A forced dtype that this device only emulates: correct, but many times slower."""


@dataclass(frozen=True)
class Capability:
    """What the device computes natively; ``name`` describes it for the metadata."""

    device: str  # "cuda" or "cpu"
    name: str
    bf16: bool
    fp16: bool


@dataclass(frozen=True)
class DtypeDecision:
    dtype: str
    requested: str
    reason: str
    emulated: bool
    capability: Capability

    def metadata(self) -> dict:
        """What the assets record, so a result can be traced to the arithmetic that produced it."""
        return {
            "compute_dtype": self.dtype,
            "compute_dtype_reason": self.reason,
            "device": self.capability.name,
            "native_bf16": self.capability.bf16,
        }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe() -> Capability:
    """The device this process computes on: the first CUDA GPU, else the CPU (whose answer follows
    ``ONEDNN_MAX_CPU_ISA``, so a capped ISA is seen as the CPU it imitates)."""
    import torch

    if torch.cuda.is_available():
        return Capability(
            device="cuda",
            name=torch.cuda.get_device_name(0),
            bf16=torch.cuda.is_bf16_supported(including_emulation=False),
            fp16=True,
        )
    isa = torch.backends.cpu.get_cpu_capability()
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        isa += f", oneDNN capped at {os.environ['ONEDNN_MAX_CPU_ISA']}"
    return Capability(
        device="cpu",
        name=f"{cpu_name()} ({isa}, {os.cpu_count()} CPUs)",
        bf16=torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        fp16=torch.ops.mkldnn._is_mkldnn_fp16_supported(),
    )


def decide(requested: str, capability: Capability) -> DtypeDecision:
    """Pure: the dtype for ``requested`` (``auto`` or a dtype name) on ``capability``."""
    if requested not in DTYPES:
        raise ValueError(f"unknown dtype {requested!r}; choose one of {', '.join(DTYPES)}")
    native = {"bfloat16": capability.bf16, "float16": capability.fp16, "float32": True}
    kind = "GPU" if capability.device == "cuda" else "CPU"
    if requested != "auto":
        emulated = not native[requested]
        reason = f"forced by the recipe; {'emulated' if emulated else 'native'} on this {kind}"
        return DtypeDecision(requested, requested, reason, emulated, capability)
    if capability.bf16:
        dtype, reason = "bfloat16", f"native bf16 on this {kind}"
    elif capability.device == "cuda":
        dtype, reason = "float16", "GPU without bf16: fp16"
    else:
        dtype, reason = "float32", "CPU without native bf16: fp32 (bf16 would be emulated)"
    return DtypeDecision(dtype, requested, reason, False, capability)


def compute_dtype(requested: str = "auto", capability: Capability | None = None) -> DtypeDecision:
    """The dtype to compute in here; warns when a forced dtype is emulated on this device."""
    decision = decide(requested, capability or probe())
    if decision.emulated:
        warnings.warn(
            f"dtype {decision.dtype} is emulated on {decision.capability.name}: expect it to run many times "
            "slower than with dtype auto",
            EmulatedDtypeWarning,
            stacklevel=2,
        )
    return decision


ENGINES = ("auto", "vllm", "transformers")


def choose_engine(requested: str) -> tuple[str, str]:
    """The generation engine and why: vLLM on GPUs and, as measured by ``benchmarks/cpu_default.py``
    (several times faster in both dtypes), on CPUs too; transformers' batched generate when asked for."""
    if requested not in ENGINES:
        raise ValueError(f"unknown engine {requested!r}; choose one of {', '.join(ENGINES)}")
    if requested != "auto":
        return requested, "forced by the endpoint"
    return "vllm", "the faster engine on GPUs and CPUs (benchmarks/cpu_default.py)"


@dataclass(frozen=True)
class Gpu:
    """One GPU as the driver lists it: ``index`` is the id CUDA_VISIBLE_DEVICES takes."""

    index: int
    name: str
    memory_gib: float


NVIDIA_SMI_QUERY = ("nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits")


def parse_gpu_list(text: str) -> list[Gpu]:
    """``nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits`` (MiB) as GPUs."""
    gpus = []
    for line in text.strip().splitlines():
        index, rest = line.split(",", 1)
        name, mib = rest.rsplit(",", 1)  # a name may hold commas; the index and memory never do
        gpus.append(Gpu(int(index), name.strip(), round(float(mib) / 1024, 1)))
    return gpus


def gpu_inventory() -> list[Gpu]:
    """This machine's GPUs, read from the driver without creating a CUDA context (the orchestrator
    must not hold GPU memory that its workloads need); none where there is no NVIDIA driver."""
    try:
        listed = subprocess.run(NVIDIA_SMI_QUERY, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_gpu_list(listed.stdout)
