"""The GPUs of this machine and the lease that hands them to runs.

A run that needs GPUs takes specific device ids and passes them to its workload as
``CUDA_VISIBLE_DEVICES``. Each device is a lock file in the instance's folder
(``$DAGSTER_HOME/device-leases/gpu-<id>.lock``), held with ``fcntl.flock`` by the step process
that launched the workload and by the workload itself (the descriptor is inherited). The kernel
drops a lock when the last process holding it exits, however it exits: a crashed, killed or
SIGKILLed run gives its devices back without anyone cleaning up. Two runs never hold one device,
whether the sensor, the schedule, a UI backfill or ``run_study`` started them, since every
workload passes through the launcher, and the launcher through the lease.

A run asks for all its devices at once and takes them all or none (it lets go of a partial set
and waits), so two runs each holding half of what the other needs never wait on each other.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from workloads.core.hardware import Gpu, gpu_inventory

GPUS_ENV = "STUDY_GPUS"  # e.g. 0,1,2,3: the devices the study may use on this machine
LOCK_DIR_ENV = "STUDY_DEVICE_LEASES"  # overrides the folder of the lock files
LOCK_FOLDER = "device-leases"
WAIT_REPORT_S = 60.0  # how often a run waiting for devices says so


class DeviceLeaseError(RuntimeError):
    """A run asked for more devices than the machine has, or for devices it cannot wait for."""


@dataclass(frozen=True)
class Machine:
    """The GPUs the study may use here (empty: a CPU-only machine)."""

    gpus: tuple[Gpu, ...] = ()

    @property
    def ids(self) -> list[int]:
        return [g.index for g in self.gpus]

    @property
    def gpu_memory_gib(self) -> float:
        """The smallest GPU's memory: what a plan over any of them must fit."""
        return min(g.memory_gib for g in self.gpus) if self.gpus else 0.0

    def describe(self) -> str:
        if not self.gpus:
            return "CPU only"
        names = sorted({g.name for g in self.gpus})
        return f"{len(self.gpus)} × {' / '.join(names)} ({self.gpu_memory_gib:g} GiB), devices {self.ids}"


def restrict(gpus: list[Gpu], selection: str | None) -> Machine:
    """The machine as ``STUDY_GPUS`` restricts it (ids as the driver numbers them)."""
    if not selection or not selection.strip():
        return Machine(tuple(gpus))
    try:
        wanted = [int(part) for part in selection.split(",") if part.strip()]
    except ValueError:
        raise DeviceLeaseError(
            f"{GPUS_ENV}={selection!r}: a comma-separated list of device ids, e.g. 0,1,2,3"
        ) from None
    found = {g.index: g for g in gpus}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise DeviceLeaseError(
            f"{GPUS_ENV}={selection!r}: no device {missing} on this machine (it has {sorted(found)})"
        )
    return Machine(tuple(found[i] for i in dict.fromkeys(wanted)))


def local_machine() -> Machine:
    """This machine's GPUs (the driver's list), restricted by ``STUDY_GPUS``."""
    return restrict(gpu_inventory(), os.environ.get(GPUS_ENV))


def lock_folder(configured: str | None = None) -> Path:
    """Where the lock files live: the given folder, else ``STUDY_DEVICE_LEASES``, else the
    instance's folder, else one per user in the temporary folder."""
    folder = configured or os.environ.get(LOCK_DIR_ENV)
    if not folder and os.environ.get("DAGSTER_HOME"):
        folder = str(Path(os.environ["DAGSTER_HOME"]) / LOCK_FOLDER)
    path = Path(folder or Path(tempfile.gettempdir()) / f"study-{LOCK_FOLDER}-{os.getuid()}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Lease:
    """Devices held by this process: ``fds`` are the open lock files (pass them to the workload)."""

    devices: list[int]
    fds: list[int]

    @property
    def visible_devices(self) -> str:
        return ",".join(str(d) for d in self.devices)


def _try_lock(path: Path, holder: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
    return fd


def holders(devices: list[int], folder: str | None = None) -> dict[int, str | None]:
    """Who holds each device now (``pid label``), None for a free one."""
    root = lock_folder(folder)
    found = {}
    for device in devices:
        fd = _try_lock(root / f"gpu-{device}.lock", "probe")
        if fd is not None:
            os.close(fd)  # free: taken and given back at once
            found[device] = None
        else:
            found[device] = (root / f"gpu-{device}.lock").read_text().strip() or "unknown"
    return found


def try_acquire(devices: list[int], count: int, holder: str, folder: str | None = None) -> Lease | None:
    """``count`` of ``devices`` if that many are free now (the lowest ids first), else None."""
    root = lock_folder(folder)
    taken: list[tuple[int, int]] = []
    for device in devices:
        fd = _try_lock(root / f"gpu-{device}.lock", holder)
        if fd is not None:
            taken.append((device, fd))
            if len(taken) == count:
                return Lease([d for d, _ in taken], [fd for _, fd in taken])
    for _, fd in taken:  # all or none: a partial set waits with nothing held
        os.close(fd)
    return None


def release(lease: Lease) -> None:
    for fd in lease.fds:
        os.close(fd)  # closing the last descriptor drops the lock
    lease.fds = []


# Devices the current step already holds for the engines it launches: a step that serves a judge
# leases the judge's device and its engines' in one go (taking them one after the other, runs
# that each hold a judge's device could wait on each other for ever).
RESERVED: ContextVar[Lease | None] = ContextVar("reserved_devices", default=None)
# The most of its device an engine may take while the step's judge server shares that device.
ENGINE_MEMORY_CAP: ContextVar[float | None] = ContextVar("engine_memory_cap", default=None)


@contextmanager
def leased(
    devices: list[int],
    count: int,
    holder: str,
    *,
    folder: str | None = None,
    log=None,
    timeout_s: float | None = None,
    poll_s: float = 1.0,
) -> Iterator[Lease]:
    """Hold ``count`` of ``devices`` for the block, waiting (``timeout_s``: at most) until they are free."""
    if count > len(devices):
        raise DeviceLeaseError(
            f"{holder} needs {count} GPU(s); the study may use {len(devices)} on this machine ({devices}); "
            f"lower the GPUs the recipe or the environment asks for, or widen {GPUS_ENV}"
        )
    if count == 0:
        yield Lease([], [])
        return
    reserved = RESERVED.get()
    if reserved is not None and len(reserved.devices) >= count:
        yield Lease(reserved.devices[:count], reserved.fds)
        return
    started = next_report = time.monotonic()
    while (lease := try_acquire(devices, count, holder, folder)) is None:
        now = time.monotonic()
        if timeout_s is not None and now - started > timeout_s:
            raise DeviceLeaseError(f"{holder}: no {count} free GPU(s) of {devices} after {timeout_s:.0f} s")
        if log is not None and now >= next_report:
            busy = {d: h for d, h in holders(devices, folder).items() if h}
            log.info(f"{holder}: waiting for {count} free GPU(s); held now: {busy}")
            next_report = now + WAIT_REPORT_S
        time.sleep(poll_s)
    try:
        yield lease
    finally:
        release(lease)
