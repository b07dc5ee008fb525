"""Programs that try to outlive or outwit the sandbox: a reaper-killing daemon, a killed evaluator,
SysV IPC between runs, Unix sockets, files and processes of the host, user namespaces, and a
program that ignores the file-size signal. Each test checks its rule in the modes it holds for."""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from recipe_schema.data_files import PROJECT_ROOT
from workloads.evaluation.sandbox import Limits, RunResult, live_processes, run_program
from workloads.evaluation.sandbox_launch import SYSTEM_FOLDERS

TIGHT = Limits(cpu_seconds=2, wall_seconds=5.0, memory_mb=256, processes=8, file_mb=1, tmpfs_mb=8, output_chars=10_000)
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="namespaces and per-run user ids need root on Linux")
PRIVATE_MODES = pytest.mark.parametrize("mode", ["namespaces", "uid"])


def run(program: str, stdin: str = "", mode: str | None = None) -> RunResult:
    result = run_program(program, stdin, TIGHT, mode=mode)
    if result.uid is not None:
        assert live_processes(result.uid) == [], "a sandboxed program left processes behind"
    return result


# A daemon that leaves the session and signals every process it may, over and over.
KILL_EVERYONE = (
    "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        while True:\n"
    "            try:\n"
    "                os.kill(-1, 9)\n"
    "            except OSError:\n"
    "                pass\n"
    "    os._exit(0)\n"
    "time.sleep(0.3)\n"
    "print('done')\n"
)


@needs_root
@PRIVATE_MODES
def test_a_daemon_killing_everyone_it_can_is_reaped(mode):
    result = run(KILL_EVERYONE, mode=mode)  # and run() found none of its processes alive
    assert result.status in {"ok", "killed"}


@needs_root
def test_a_daemon_killing_everyone_fails_its_own_item_only():
    import json

    from workloads.evaluation.tasks.livecodebench import livecodebench_scores

    tests = json.dumps([{"input": "2 3\n", "output": "5\n", "testtype": "stdin"}])
    reference = json.dumps({"question_id": "k", "public_test_cases": tests, "private_test_cases": "[]"})
    honest = "```python\nprint(sum(map(int, input().split())))\n```"
    hostile = f"```python\n{KILL_EVERYONE}```"
    assert livecodebench_scores([hostile, honest, hostile], [reference] * 3, workers=2) == [0.0, 1.0, 0.0]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _is_program(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").endswith(b"/main.py")
    except OSError:
        return False


CALLER = (
    "import sys\n"
    "from workloads.evaluation.sandbox import Limits, isolation, run_program\n"
    "print(isolation(), flush=True)  # probed (that starts a program of its own): what follows is the run\n"
    "run_program('import time\\ntime.sleep(300)', limits=Limits(cpu_seconds=5, wall_seconds=60.0), mode=sys.argv[1])\n"
)


@needs_root
@pytest.mark.parametrize("mode", ["namespaces", "uid", "rlimits"])
@pytest.mark.parametrize("how", ["SIGKILL-caller", "SIGTERM-group"])
def test_programs_die_with_the_process_that_started_them(mode, how):
    # The killed caller cannot remove its run's folders: they go in one of the test's own.
    folder = tempfile.mkdtemp(prefix="sandbox-caller-")
    os.chmod(folder, 0o755)  # the uid mode's program reaches its working folder through it
    env = {**os.environ, "TMPDIR": folder}
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, mode], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert caller.stdout.readline().strip(), "the caller did not start"
        deadline, started = time.monotonic() + 20, []
        while not started and time.monotonic() < deadline:
            time.sleep(0.1)
            family = _descendants(caller.pid)
            if any(map(_is_program, family)):
                started = family
        assert started, "the sandboxed program never started"
        if how == "SIGKILL-caller":
            caller.kill()
        else:
            os.killpg(caller.pid, signal.SIGTERM)
        caller.wait()
        deadline = time.monotonic() + 5
        while any(map(_alive, started)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, started)), "a sandboxed program outlived its caller"
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
        caller.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


IPC_CREATE = 0o1000
SYSV_IPC = (
    "import ctypes, sys\n"
    "libc = ctypes.CDLL(None)\n"
    "key, flags = map(int, sys.stdin.read().split())\n"
    "print(libc.shmget(key, 4096, flags), libc.msgget(key, flags))\n"
)


@needs_root
def test_sysv_ipc_is_private_to_each_run():
    key = random.Random().randrange(1 << 20, 1 << 30)
    created = run(SYSV_IPC, f"{key} {IPC_CREATE | 0o666}")
    assert all(int(i) >= 0 for i in created.stdout.split()), created.stderr
    assert run(SYSV_IPC, f"{key} 0").stdout.split() == ["-1", "-1"]  # a later run finds neither
    libc = ctypes.CDLL(None)
    assert (libc.shmget(key, 0, 0), libc.msgget(key, 0, 0)) == (-1, -1)  # nor does the host


@needs_root
def test_sysv_ipc_left_by_a_run_without_a_namespace_is_removed():
    key = random.Random().randrange(1 << 20, 1 << 30)
    created = run(SYSV_IPC, f"{key} {IPC_CREATE | 0o666}", mode="uid")
    assert all(int(i) >= 0 for i in created.stdout.split()), created.stderr
    libc = ctypes.CDLL(None)
    assert (libc.shmget(key, 0, 0), libc.msgget(key, 0, 0)) == (-1, -1)


def _accept(server: socket.socket, accepted: list) -> None:
    try:
        accepted.append(server.accept())
    except OSError:
        pass


@needs_root
def test_unix_sockets_and_world_readable_files_of_the_host_are_out_of_reach():
    with tempfile.TemporaryDirectory(dir="/var/tmp") as folder:
        os.chmod(folder, 0o755)
        secret, path = os.path.join(folder, "secret"), os.path.join(folder, "socket")
        with open(secret, "w") as f:
            f.write("hunter2")
        os.chmod(secret, 0o644)
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen(1)
        server.settimeout(3)
        accepted: list = []
        waiter = threading.Thread(target=lambda: _accept(server, accepted), daemon=True)
        waiter.start()
        program = (
            "import socket\n"
            f"try:\n    print(open({secret!r}).read())\nexcept OSError as e:\n    print(type(e).__name__)\n"
            f"try:\n    socket.socket(socket.AF_UNIX).connect({path!r})\n    print('connected')\n"
            "except OSError as e:\n    print(type(e).__name__)\n"
        )
        result = run(program)
        server.close()
    assert result.stdout.split() == ["FileNotFoundError", "FileNotFoundError"] and accepted == []


@needs_root
def test_the_root_holds_system_folders_devices_proc_and_tmp_only():
    result = run("import os\nprint(sorted(os.listdir('/')))\nprint(sorted(os.listdir('/dev')))")
    top, devices = (eval(line) for line in result.stdout.splitlines())
    allowed = {f.strip("/") for f in SYSTEM_FOLDERS} | {"dev", "proc", "tmp"}
    assert set(top) <= allowed and {"usr", "proc", "tmp"} <= set(top)
    assert set(devices) <= {"null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout", "stderr"}


@needs_root
def test_only_the_runs_own_processes_are_visible():
    program = (
        "import os\n"
        "for pid in os.listdir('/proc') if os.path.isdir('/proc/self') else []:\n"
        "    if pid.isdigit():\n"
        "        print(open(f'/proc/{pid}/cmdline').read().replace(chr(0), ' '))\n"
    )
    result = run(program)
    assert result.status == "ok" and all("/tmp/main.py" in line for line in result.stdout.splitlines()), result


@needs_root
def test_user_namespaces_cannot_be_created():
    program = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.unshare(0x10000000), os.strerror(ctypes.get_errno()))\n"
    )
    assert run(program).stdout.startswith("-1 ")


@pytest.mark.parametrize("mode", [None, "rlimits"])
def test_a_program_that_ignores_the_file_size_signal_is_cut_not_ok(mode):
    program = (
        "import os, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "try:\n"
        "    while True:\n"
        "        os.write(1, b'x' * 65536)\n"
        "except OSError:\n"
        "    pass\n"
    )
    result = run(program, mode=mode)
    assert (result.status, result.returncode) == ("output-limit", 0)
