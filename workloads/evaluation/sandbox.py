"""Run untrusted programs (generated code) one per process, inside OS limits.

Every run gets: a CPU-time limit (RLIMIT_CPU), an address-space limit (RLIMIT_AS), a wall-clock
timeout, a cap on file size (RLIMIT_FSIZE, which also caps captured output: stdout and stderr
are files), on open files and on processes (RLIMIT_NPROC), no core dumps, an environment holding
only PATH/HOME/TMPDIR/LANG/PYTHONHASHSEED, a new session killed at the end, a private working
directory, and a launcher that dies with the process that started it.

Three levels (:func:`isolation` picks the strongest this process can give; docs/sandbox.md says
what each platform gets; :mod:`workloads.evaluation.sandbox_launch` sets each up):

- ``namespaces`` (root with CAP_SYS_ADMIN on Linux): its own pid, mount, network, IPC and UTS
  namespaces; a minimal root (system folders read-only, a few devices, its own /proc, a private
  size-capped /tmp as the working directory), with the project, data and home folders hidden
  wherever they lie; its own unprivileged uid. The pid namespace's init ends the run: every process
  left in it dies with it, and with the evaluator.
- ``uid`` (root without CAP_SYS_ADMIN, as in a default container): the run's own user id, a reaper
  under another real uid, and a working directory only it can enter; no namespaces.
- ``rlimits`` (not root): the limits and the session kill only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# The launcher's entry points are named by function so that scorer versions cover their code.
from workloads.evaluation.sandbox_launch import UID_BASE, launch, live_processes, reap, remove_ipc

# A system interpreter on a standard PATH: the project's virtualenv may live where the sandbox's
# user id cannot read (a home folder) and is one of the folders it must not see.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
MODES = ("namespaces", "uid", "rlimits")  # strongest first
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("sandbox_launch.py")  # a Path: versions count paths by type only


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 4
    wall_seconds: float = 10.0
    memory_mb: int = 512
    processes: int = 16
    file_mb: int = 16  # any one file, stdout and stderr included
    tmpfs_mb: int = 64  # the whole working directory
    open_files: int = 64
    output_chars: int = 1_000_000  # how much of stdout/stderr comes back


@dataclass(frozen=True)
class RunResult:
    status: str  # ok | error | timeout | cpu-limit | output-limit | memory-limit | killed
    returncode: int | None
    stdout: str
    stderr: str
    wall_seconds: float
    uid: int | None = None  # the run's own user id (namespaces and uid isolation)


def _reap(interpreter: str, uid: int) -> None:
    """The reaper runs as its own process, out of the run's reach (see :mod:`workloads.evaluation.sandbox_launch`)."""
    if live_processes(uid):
        subprocess.run([interpreter, "-I", "-S", str(LAUNCHER), reap.__name__, str(uid)], check=False, timeout=60)
    if live_processes(uid):
        raise RuntimeError(f"sandbox: processes of uid {uid} still running after the reaper")


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _works(mode: str) -> bool:
    """Whether this process can run programs in ``mode``: tried on a trivial program."""
    if mode == "rlimits":
        return True
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    try:
        result = _run(b"print(1)", "", Limits(), mode=mode, interpreter=interpreter(), hidden=())
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return False
    return result.status == "ok" and result.stdout.strip() == "1"


@lru_cache(maxsize=1)
def isolation() -> str:
    """The strongest of :data:`MODES` available here (see the module docstring)."""
    return next(mode for mode in MODES if _works(mode))


def interpreter() -> str:
    found = shutil.which("python3", path=SYSTEM_PATH)
    if found is None:
        raise FileNotFoundError(f"no python3 on {SYSTEM_PATH} for sandboxed programs")
    return found


def _read_capped(path: Path, chars: int) -> str:
    with open(path, "rb") as f:
        return f.read(chars).decode("utf-8", errors="replace")


def _status(returncode: int, timed_out: bool, output_size: int, stderr: str, limits: Limits) -> str:
    if timed_out:
        return "timeout"
    # Output that reached the file-size cap was cut, even if the program ignored SIGXFSZ and exited 0.
    if returncode == -signal.SIGXFSZ or output_size >= limits.file_mb << 20:
        return "output-limit"
    if returncode == 0:
        return "ok"
    if returncode == -signal.SIGXCPU:
        return "cpu-limit"
    if "MemoryError" in stderr:
        return "memory-limit"
    if returncode == -signal.SIGKILL:
        return "killed"
    return "error"


def _run(
    program: bytes, stdin: str, limits: Limits, *, mode: str, interpreter: str, hidden: tuple[str, ...]
) -> RunResult:
    io_dir = Path(tempfile.mkdtemp(prefix="sandbox-io-"))
    work = None
    try:
        (io_dir / "stdin").write_text(stdin)
        if mode == "namespaces":
            (io_dir / "main.py").write_bytes(program)  # read by the launcher, as root, before it drops
            script, cwd = str(io_dir / "main.py"), "/"
        else:
            work = Path(tempfile.mkdtemp(prefix="sandbox-work-"))
            (work / "main.py").write_bytes(program)
            script, cwd = str(work / "main.py"), str(work)
        config = {
            "limits": vars(limits),
            "script": script,
            "mode": mode,
            "hidden": list(hidden),
            "interpreter": interpreter,
            "parent": os.getpid(),
            "status": str(io_dir / "status"),  # the program's exit status, written by the launcher
        }
        (io_dir / "launch.json").write_text(json.dumps(config))
        home = "/tmp" if mode == "namespaces" else cwd
        env = {"PATH": SYSTEM_PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        started = time.monotonic()
        with (
            open(io_dir / "stdin", "rb") as fin,
            open(io_dir / "stdout", "wb") as fout,
            open(io_dir / "stderr", "wb") as ferr,
        ):
            proc = subprocess.Popen(
                [interpreter, "-I", "-S", str(LAUNCHER), launch.__name__, str(io_dir / "launch.json")],
                stdin=fin,
                stdout=fout,
                stderr=ferr,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
            timed_out = False
            try:
                returncode = proc.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_session(proc.pid)
                returncode = proc.wait()
        wall = time.monotonic() - started
        _kill_session(proc.pid)  # whatever the program left behind in its session
        uid = None if mode == "rlimits" else UID_BASE + proc.pid
        if uid is not None:
            _reap(interpreter, uid)
            remove_ipc(uid)  # the uid mode's leftovers; a namespaces run's went with its namespace
        if (io_dir / "status").exists():  # the namespaces mode's launcher outlives the program
            returncode = int((io_dir / "status").read_text())
        stdout = _read_capped(io_dir / "stdout", limits.output_chars)
        stderr = _read_capped(io_dir / "stderr", limits.output_chars)
        output_size = max((io_dir / name).stat().st_size for name in ("stdout", "stderr"))
        status = _status(returncode, timed_out, output_size, stderr, limits)
        return RunResult(
            status=status,
            returncode=None if timed_out else returncode,
            stdout=stdout,
            stderr=stderr,
            wall_seconds=round(wall, 3),
            uid=uid,
        )
    finally:
        shutil.rmtree(io_dir, ignore_errors=True)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def default_hidden(interpreter_path: str) -> tuple[str, ...]:
    """The project (code, virtualenv), the data folder and the home folder, less any that holds
    the interpreter (it must stay reachable) or is the root itself."""
    data = os.environ.get("STUDY_DATA_DIR") or str(PROJECT_ROOT.parent / "shared" / "data")
    folders = (str(PROJECT_ROOT), data, os.path.expanduser("~"))
    real = os.path.realpath(interpreter_path)
    return tuple(
        f
        for f in dict.fromkeys(folders)
        if f not in ("/", "") and not real.startswith(os.path.realpath(f).rstrip("/") + "/")
    )


def run_program(
    program: str,
    stdin: str = "",
    limits: Limits = Limits(),
    *,
    hidden: tuple[str, ...] | None = None,
    mode: str | None = None,
) -> RunResult:
    """Run a Python program on ``stdin`` under ``limits``, in ``mode`` (default :func:`isolation`;
    a weaker one may be asked for, never a stronger one); ``hidden`` folders (default
    :func:`default_hidden`) are not visible to it in the ``namespaces`` mode."""
    available = isolation()
    mode = mode or available
    if mode not in MODES or MODES.index(mode) < MODES.index(available):
        raise ValueError(f"sandbox mode {mode!r} not available here (available: {MODES[MODES.index(available) :]})")
    python = interpreter()
    return _run(
        program.encode(),
        stdin,
        limits,
        mode=mode,
        interpreter=python,
        hidden=default_hidden(python) if hidden is None else hidden,
    )
