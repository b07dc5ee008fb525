"""The device lease: runs racing for two fake GPUs never share one, all-or-none requests never
wait on each other, and a killed holder's devices come back."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resources.launchers.devices import (
    RESERVED,
    DeviceLeaseError,
    Lease,
    holders,
    leased,
    release,
    restrict,
    try_acquire,
)
from workloads.core.hardware import Gpu, parse_gpu_list

ROOT = Path(__file__).resolve().parents[1]
DEVICES = [0, 1]


def _racer(folder: str, log: str, name: int, count: int) -> None:
    with leased(DEVICES, count, f"racer {name}", folder=folder, poll_s=0.02) as lease:
        start = time.time()
        time.sleep(0.15)
        end = time.time()
    with open(log, "a") as f:
        f.write(json.dumps({"name": name, "devices": lease.devices, "start": start, "end": end}) + "\n")


def test_racing_runs_never_share_a_device(tmp_path):
    log = tmp_path / "held.jsonl"
    # Eight runs want one device, three want both: all-or-none, so none waits for ever.
    wants = [1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1]
    context = multiprocessing.get_context("fork")
    racers = [context.Process(target=_racer, args=(str(tmp_path), str(log), i, n)) for i, n in enumerate(wants)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    held = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(h["name"] for h in held) == list(range(len(wants)))
    assert all(len(h["devices"]) == wants[h["name"]] for h in held)
    for device in DEVICES:
        spans = sorted((h["start"], h["end"]) for h in held if device in h["devices"])
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"device {device} held by two runs at once"


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from resources.launchers.devices import try_acquire
lease = try_acquire([0, 1], 2, "holder", folder={folder!r})
print("held" if lease else "refused", flush=True)
time.sleep(600)
"""


def test_a_killed_holders_devices_come_back(tmp_path):
    code = HOLDER.format(root=str(ROOT), folder=str(tmp_path))
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert try_acquire(DEVICES, 1, "second", folder=str(tmp_path)) is None
        assert all(str(holder.pid) in h for h in holders(DEVICES, str(tmp_path)).values())
        os.kill(holder.pid, signal.SIGKILL)  # no cleanup runs: the kernel drops the locks
        holder.wait(10)
        with leased(DEVICES, 2, "after the kill", folder=str(tmp_path), timeout_s=5, poll_s=0.05) as lease:
            assert lease.devices == DEVICES
    finally:
        if holder.poll() is None:
            holder.kill()


def test_a_workload_that_inherited_the_lease_holds_it_until_it_exits(tmp_path):
    lease = try_acquire(DEVICES, 1, "step", folder=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], pass_fds=tuple(lease.fds))
    try:
        release(lease)  # the step's process is gone ...
        assert try_acquire([lease.devices[0]], 1, "other", folder=str(tmp_path)) is None  # ... its workload is not
    finally:
        child.kill()
        child.wait()
    again = try_acquire([lease.devices[0]], 1, "other", folder=str(tmp_path))
    assert again is not None
    release(again)


def test_a_wait_gives_up_after_its_timeout_and_impossible_requests_fail_at_once(tmp_path):
    held = try_acquire(DEVICES, 2, "all", folder=str(tmp_path))
    try:
        with pytest.raises(DeviceLeaseError, match="no 1 free GPU"):
            with leased(DEVICES, 1, "late", folder=str(tmp_path), timeout_s=0.2, poll_s=0.05):
                pass
    finally:
        release(held)
    with pytest.raises(DeviceLeaseError, match="needs 3 GPU"):
        with leased(DEVICES, 3, "greedy", folder=str(tmp_path)):
            pass


def test_devices_reserved_by_the_step_are_used_by_its_engines(tmp_path):
    with leased(DEVICES, 2, "judge", folder=str(tmp_path)) as judge:
        token = RESERVED.set(Lease(judge.devices[1:], judge.fds))
        try:
            with leased(DEVICES, 1, "engine", folder=str(tmp_path), timeout_s=0.2) as engine:
                assert engine.devices == [1]
        finally:
            RESERVED.reset(token)
        with pytest.raises(DeviceLeaseError):  # outside the reservation the judge's devices are taken
            with leased(DEVICES, 1, "engine", folder=str(tmp_path), timeout_s=0.2, poll_s=0.05):
                pass


def test_the_driver_list_and_the_study_gpus_restriction():
    gpus = parse_gpu_list("0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n")
    assert gpus == [Gpu(0, "NVIDIA H100 80GB HBM3", 79.6), Gpu(1, "NVIDIA H100 80GB HBM3", 79.6)]
    assert parse_gpu_list("") == []
    assert restrict(gpus, None).ids == [0, 1]
    assert restrict(gpus, "1").ids == [1]
    with pytest.raises(DeviceLeaseError, match=r"no device \[4\]"):
        restrict(gpus, "0,4")
    with pytest.raises(DeviceLeaseError, match="comma-separated"):
        restrict(gpus, "all")
