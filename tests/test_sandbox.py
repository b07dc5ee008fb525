"""The sandbox holds against hostile programs: each is contained, fails within its limits, and
leaves nothing running. Limits are tight so the tests stay light on a shared machine."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from recipe_schema.data_files import PROJECT_ROOT
from workloads.evaluation.sandbox import Limits, RunResult, isolation, live_processes, run_program

TIGHT = Limits(cpu_seconds=1, wall_seconds=4.0, memory_mb=256, processes=8, file_mb=4, tmpfs_mb=8, output_chars=10_000)

# Namespaces and per-run uids need root on Linux; without them a program could signal its parent,
# so the hostile programs run only where they are contained.
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_namespaces = pytest.mark.skipif(not ROOT, reason="namespaces and per-run user ids need root on Linux")
# Hostile programs that the run's own uid alone must contain run in both private modes.
PRIVATE_MODES = pytest.mark.parametrize("mode", ["namespaces", "uid"])


def run(program: str, stdin: str = "", mode: str | None = None) -> RunResult:
    """Run under the tight limits and check that nothing of the run is left alive afterwards (only
    this run's uid is looked at: other tests on the machine may be running programs of their own)."""
    result = run_program(program, stdin, TIGHT, mode=mode)
    if result.uid is not None:
        assert live_processes(result.uid) == [], "a sandboxed program left processes behind"
    return result


@needs_namespaces
def test_root_on_linux_gets_namespaces():
    assert isolation() == "namespaces"


def test_a_well_behaved_program_reads_stdin_and_writes_stdout():
    result = run("import sys\nprint(sum(map(int, sys.stdin.read().split())))", "2 3 4")
    assert (result.status, result.stdout) == ("ok", "9\n")


def test_an_exception_is_an_error_with_its_traceback():
    result = run("raise ValueError('boom')")
    assert result.status == "error" and "ValueError: boom" in result.stderr


@pytest.mark.parametrize(
    "program, statuses",
    [
        ("while True:\n    pass", {"cpu-limit", "timeout"}),
        ("import time\ntime.sleep(60)", {"timeout"}),
        ("x = []\nwhile True:\n    x.append(bytearray(10**7))", {"memory-limit"}),
        ("import sys\nline = 'x' * (1 << 20)\nwhile True:\n    sys.stdout.write(line)", {"output-limit"}),
    ],
    ids=["infinite-loop", "sleeps-forever", "unbounded-allocation", "prints-gigabytes"],
)
def test_runaway_programs_stop_at_their_limit(program, statuses):
    result = run(program)
    assert result.status in statuses
    assert result.wall_seconds < TIGHT.wall_seconds + 2
    assert len(result.stdout) <= TIGHT.output_chars


@needs_namespaces
@PRIVATE_MODES
def test_a_fork_bomb_is_capped_and_fully_reaped(mode):
    # Children leave the session (setsid) so a process-group kill alone would miss them.
    program = (
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            os.setsid()\n"
        "    except OSError:\n"
        "        time.sleep(0.01)\n"
    )
    result = run(program, mode=mode)
    assert result.status != "ok"
    assert result.uid is not None  # and run() found none of its processes alive


@needs_namespaces
def test_writes_outside_the_private_folder_do_not_land(tmp_path):
    targets = [
        tmp_path / "escaped",
        PROJECT_ROOT / "escaped-by-sandbox",
        "/var/tmp/escaped-by-sandbox",
        "/etc/escaped-by-sandbox",
    ]
    program = (
        "written = []\n"
        + "".join(
            f"try:\n    open({str(t)!r}, 'w').write('x')\n    written.append({str(t)!r})\nexcept OSError:\n    pass\n"
            for t in targets
        )
        + "open('inside.txt', 'w').write('fine')\nprint(written)"
    )
    result = run(program)
    assert result.stdout.strip() == "[]"
    assert not any(os.path.exists(t) for t in targets)


def _listing(folder: str) -> str:
    """A program that prints a folder's entries, or [] where the folder is absent."""
    return f"import os\ntry:\n    print(os.listdir({folder!r}))\nexcept FileNotFoundError:\n    print([])\n"


@needs_namespaces
def test_the_project_folder_is_hidden_wherever_it_is_cloned():
    # Absent (outside the system folders, e.g. under /tmp) or empty (under one): no file of it is readable.
    probe = str(PROJECT_ROOT / "pyproject.toml")
    result = run(_listing(str(PROJECT_ROOT)) + f"print(os.path.exists({probe!r}))")
    assert result.stdout.split() == ["[]", "False"]


@needs_namespaces
def test_a_hidden_folder_inside_a_visible_system_folder_is_empty():
    result = run_program(
        _listing("/usr/share") + "print(bool(os.listdir('/usr/bin')))", "", TIGHT, hidden=("/usr/share",)
    )
    assert result.stdout.split() == ["[]", "True"]


@needs_namespaces
def test_no_network_even_to_a_server_on_this_machine():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    waiter = threading.Thread(target=accept)
    waiter.start()
    program = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print('blocked', type(e).__name__)\n"
    )
    result = run(program)
    waiter.join()
    server.close()
    assert result.stdout.startswith("blocked") and accepted == []


@pytest.mark.parametrize("mode", [None, "rlimits"])
def test_the_environment_is_scrubbed(monkeypatch, mode):
    monkeypatch.setenv("STUDY_TEST_SECRET", "hunter2")
    result = run("import os\nprint(sorted(os.environ))", mode=mode)
    assert "STUDY_TEST_SECRET" not in result.stdout and "hunter2" not in result.stdout
    assert eval(result.stdout) == ["HOME", "LANG", "PATH", "PYTHONHASHSEED", "TMPDIR"]


@needs_namespaces
@PRIVATE_MODES
def test_killing_the_parent_or_everyone_fails(mode):
    program = (
        "import os, signal\n"
        "for target in (os.getppid(), 1, -1):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('still here')\n"
    )
    result = run(program, mode=mode)
    # kill(-1) reaches only the run's own processes, itself included.
    assert result.status in {"ok", "killed"}
    assert os.getppid() > 1  # this process and its parent are alive


@needs_namespaces
@PRIVATE_MODES
def test_a_daemon_left_behind_by_a_finished_program_is_reaped(mode):
    program = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "print('done')\n"
    )
    result = run(program, mode=mode)
    assert (result.status, result.stdout) == ("ok", "done\n")


@needs_namespaces
def test_a_stronger_mode_than_available_is_refused(monkeypatch):
    import workloads.evaluation.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation", lambda: "uid")
    with pytest.raises(ValueError, match="not available"):
        run_program("print(1)", mode="namespaces")


@needs_namespaces
def test_the_uid_mode_keeps_its_working_folder_to_itself():
    result = run(
        "import os\nst = os.stat('.')\nprint(oct(st.st_mode & 0o777), st.st_uid == os.getuid() != 0)", mode="uid"
    )
    assert result.stdout.split() == ["0o700", "True"]
