"""A vLLM OpenAI-compatible server on 127.0.0.1, started and stopped (by its PID) by this process:
the local judge, and the tests and benchmarks of the HTTP backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from resources.launchers.processes import kill_process_group, start_process_group
from workloads.core.hardware import compute_dtype


class VllmServerError(RuntimeError):
    """The server exited or never became healthy; the message quotes its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(log_file, size: int = 3000) -> str:
    """The last ``size`` bytes of the server's log, as text."""
    end = os.fstat(log_file.fileno()).st_size
    return os.pread(log_file.fileno(), size, max(0, end - size)).decode(errors="replace")


@contextmanager
def vllm_server(
    model_dir: str,
    *,
    served_name: str,
    max_model_len: int,
    memory_utilization: float = 0.3,
    startup_timeout_s: float = 600,
    env: dict | None = None,
    enforce_eager: bool = True,
) -> Iterator[str]:
    """A ``vllm serve`` process on 127.0.0.1 for ``model_dir``; yields its base URL (``.../v1``).
    It computes in this machine's native dtype (``workloads/core/hardware.py``). Its log goes to an
    unnamed temporary file whose tail is quoted when it fails to start. ``enforce_eager``: no CUDA graphs
    (a CPU, or a quick start); ``env``: e.g. ``CUDA_VISIBLE_DEVICES``, the device it may use."""
    dtype = compute_dtype("auto").dtype
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_dir,
        "--served-model-name",
        served_name,
        "--dtype",
        dtype,
        *(["--enforce-eager"] if enforce_eager else []),
        "--max-model-len",
        str(max_model_len),
        "--gpu-memory-utilization",
        str(memory_utilization),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # An anonymous file: it has no name to leave behind, and it is gone with the last process
    # holding it, however this one ends.
    log_file = tempfile.TemporaryFile()
    # Its own process group, ended with this process even if this one is killed: no orphaned server.
    proc = start_process_group(command, {**os.environ, **(env or {})}, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise VllmServerError(f"vLLM server for {model_dir} exited with {proc.returncode}:\n{_tail(log_file)}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise VllmServerError(
                    f"vLLM server for {model_dir} not healthy after {startup_timeout_s:.0f} s:\n{_tail(log_file)}"
                )
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        kill_process_group(proc, grace_s=60)
        log_file.close()
