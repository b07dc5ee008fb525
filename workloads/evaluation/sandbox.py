"""Run untrusted programs (generated code) one per process, inside OS limits.

Every run gets: a CPU-time limit (RLIMIT_CPU), an address-space limit (RLIMIT_AS), a wall-clock
timeout, a cap on file size (RLIMIT_FSIZE, which also caps captured output: stdout and stderr
are files), on open files and on processes (RLIMIT_NPROC), no core dumps, an environment holding
only PATH/HOME/TMPDIR/LANG/PYTHONHASHSEED, a new session whose processes are all killed at the end, and a private
working directory.

Three levels (:func:`isolation` picks the strongest this process can give; docs/sandbox.md says
what each platform gets):

- ``namespaces`` (root with CAP_SYS_ADMIN on Linux): its own network namespace (only a loopback
  device, down: no network at all), its own mount namespace with a private, size-capped tmpfs as
  ``/tmp`` (the working directory) and on the other world-writable folders, the project and data
  folders hidden under empty read-only tmpfs, and its own unprivileged user id (unique per run).
  The user id is what makes RLIMIT_NPROC hold (root ignores it) and what lets the reaper kill
  every process of the run, including any that left the session.
- ``uid`` (root without CAP_SYS_ADMIN, as in a default container): the run's own user id, the
  reaper and a working directory only it can enter; no network or filesystem isolation.
- ``rlimits`` (not root): the limits and the session kill only.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# A system interpreter on a standard PATH: the project's virtualenv may live where the sandbox's
# user id cannot read (a home folder) and is one of the folders it must not see.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Per-run user ids, far above any account's: base + the child's pid, unique among live runs.
UID_BASE = 1_500_000_000
WRITABLE_ELSEWHERE = ("/var/tmp", "/dev/shm", "/run/lock")
MODES = ("namespaces", "uid", "rlimits")  # strongest first
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18


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
    uid: int | None = None  # the run's own user id (namespaces isolation only)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc, source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _isolate(program: bytes, uid: int, limits: Limits, hidden: list[str]) -> None:
    """New network and mount namespaces, a private /tmp holding the program, hidden folders, then
    drop to the run's own user id."""
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWNET), "unshare")
    _mount(libc, "none", "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted here leaks out
    private = f"size={limits.tmpfs_mb}m,mode=0700,uid={uid},gid={uid}"
    _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, private)
    for folder in WRITABLE_ELSEWHERE:
        if os.path.isdir(folder):
            _mount(libc, "tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "size=4k")
    for folder in hidden:
        if os.path.isdir(folder):
            _mount(libc, "tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "size=4k,mode=0755")
    with open("/tmp/main.py", "wb") as f:
        f.write(program)
    os.chown("/tmp/main.py", uid, uid)
    os.chdir("/tmp")
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _launch(config_path: str) -> None:
    """The launcher: a fresh single-threaded interpreter (this file run as a script) that sets the
    run up and then becomes the program. Done here rather than in a ``preexec_fn``, which is
    unsafe in a threaded parent such as an inference engine's."""
    with open(config_path) as f:
        config = json.load(f)
    limits = Limits(**config["limits"])
    script, uid = config["script"], UID_BASE + os.getpid()
    if config["mode"] == "namespaces":
        with open(script, "rb") as f:
            program = f.read()
        _isolate(program, uid, limits, config["hidden"])
        script = "/tmp/main.py"
    elif config["mode"] == "uid":
        os.chown(os.path.dirname(script), uid, uid)
        os.chown(script, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    for name, value in (
        (resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1)),
        (resource.RLIMIT_AS, (limits.memory_mb << 20,) * 2),
        (resource.RLIMIT_FSIZE, (limits.file_mb << 20,) * 2),
        (resource.RLIMIT_NPROC, (limits.processes,) * 2),
        (resource.RLIMIT_NOFILE, (limits.open_files,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(name, value)
    interpreter = config["interpreter"]
    os.execve(interpreter, [interpreter, "-I", "-S", script], dict(os.environ))


def live_processes(uid: int) -> list[int]:
    """Live processes of a user id (zombies are already dead, only waiting for init to reap them)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                with open(f"/proc/{entry}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if state not in ("Z", "X"):
                pids.append(int(entry))
    return pids


def _reap_uid(uid: int) -> None:
    """Kill every process of the run's user id, including any that left its session: as that
    uid, signal -1 (every process it may signal: exactly that uid's) until none is left."""
    os.setgid(uid)
    os.setuid(uid)
    for _ in range(200):
        if not [pid for pid in live_processes(uid) if pid != os.getpid()]:
            return
        os.kill(-1, signal.SIGKILL)  # on Linux, every process of this uid except the caller
        time.sleep(0.02)
    raise RuntimeError(f"sandbox: processes of uid {uid} still running after repeated kills")


def _reap(interpreter: str, uid: int) -> None:
    """The reaper runs as its own process: it gives up root for the run's uid."""
    if live_processes(uid):
        subprocess.run([interpreter, "-I", "-S", __file__, "reap", str(uid)], check=False, timeout=60)
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


def _status(returncode: int, timed_out: bool, stdout_size: int, stderr: str, limits: Limits) -> str:
    if timed_out:
        return "timeout"
    if returncode == 0:
        return "ok"
    if returncode == -signal.SIGXCPU:
        return "cpu-limit"
    if returncode == -signal.SIGXFSZ or stdout_size >= limits.file_mb << 20:
        return "output-limit"
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
                [interpreter, "-I", "-S", __file__, "launch", str(io_dir / "launch.json")],
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
        stdout = _read_capped(io_dir / "stdout", limits.output_chars)
        stderr = _read_capped(io_dir / "stderr", limits.output_chars)
        status = _status(returncode, timed_out, (io_dir / "stdout").stat().st_size, stderr, limits)
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


if __name__ == "__main__":
    {"launch": lambda arg: _launch(arg), "reap": lambda arg: _reap_uid(int(arg))}[sys.argv[1]](sys.argv[2])
