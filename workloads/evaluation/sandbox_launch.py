"""The sandbox's launcher and reaper (:mod:`workloads.evaluation.sandbox` runs this file as a script, in a fresh
single-threaded ``python -I -S``: it imports the standard library only).

``launch CONFIG`` sets a run up and becomes (or starts) the program:

- every mode: the launcher dies with the process that started it (``PR_SET_PDEATHSIG``), so a
  killed evaluator takes its runs with it;
- ``namespaces``: the launcher unshares a pid namespace and forks its init, which unshares mount,
  network, IPC and UTS namespaces, builds a minimal root (read-only system folders, a few devices, a
  /proc of the new pid namespace, a private /tmp), chroots into it and forks the program under the
  run's own uid. When the program exits, init exits, and the kernel kills every process left in the
  namespace before init's parent sees it gone: nothing of the run can outlive it, and nothing the
  program does can stop that (init is root, and pid 1 cannot be killed from inside its namespace).
- ``uid``: the launcher takes the run's uid and becomes the program;
- ``rlimits``: the launcher becomes the program.

``reap UID`` kills every process of a run's uid. It runs with another real and saved uid (and the
run's uid as its effective uid, which is what lets it signal them), so the run's processes can
neither signal nor trace it: ``kill(-1)`` from the run reaches the run only.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time
import traceback

# Per-run user ids, far above any account's: base + the launcher's pid, unique among live runs.
UID_BASE = 1_500_000_000
# Reapers' real uids lie above every run's (pids stay below 2**22), so no run shares one.
REAPER_UID_BASE = UID_BASE + (1 << 22)
# What a program sees of the host in the namespaces mode; everything else is absent.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
NEW_ROOT = "/tmp"  # a mount point of the private mount namespace, whose host content stays hidden

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT = 1, 2, 4, 8, 32
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 1 << 14, 1 << 18
_PR_SET_PDEATHSIG = 1


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc, source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encoded = [s.encode() if s else None for s in (source, target, fstype, data)]
    _check(libc.mount(encoded[0], encoded[1], encoded[2], flags, encoded[3]), f"mount {target}")


def live_processes(uid: int) -> list[int]:
    """Live processes whose real uid is ``uid``, read from /proc/PID/status, which stays readable
    when a process makes itself non-dumpable (zombies are already dead and are left out)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            real_uid, state = int(fields["Uid"].split()[0]), fields["State"].split()[0]
        except (OSError, KeyError, IndexError, ValueError):
            continue
        if real_uid == uid and state not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def remove_ipc(uid: int) -> int:
    """Remove the SysV shared memory, message queues and semaphores that ``uid`` created or owns in
    this IPC namespace (the uid mode has no namespace of its own); returns how many."""
    libc, removed = _libc(), 0
    for kind, remove in (
        ("shm", lambda i: libc.shmctl(i, 0, None)),  # IPC_RMID = 0
        ("msg", lambda i: libc.msgctl(i, 0, None)),
        ("sem", lambda i: libc.semctl(i, 0, 0)),
    ):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header, *rows = [line.split() for line in f]
        except OSError:
            continue
        for row in rows:
            fields = dict(zip(header, row, strict=False))  # shm rows may carry more columns
            if uid in (int(fields["uid"]), int(fields["cuid"])):
                removed += remove(int(row[1])) == 0
    return removed


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        os._exit(1)


def _drop_to(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _set_limits(limits: dict) -> None:
    for name, value in (
        (resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1)),
        (resource.RLIMIT_AS, (limits["memory_mb"] << 20,) * 2),
        (resource.RLIMIT_FSIZE, (limits["file_mb"] << 20,) * 2),
        (resource.RLIMIT_NPROC, (limits["processes"],) * 2),
        (resource.RLIMIT_NOFILE, (limits["open_files"],) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(name, value)


def _exec(config: dict, script: str) -> None:
    _set_limits(config["limits"])
    interpreter = config["interpreter"]
    os.execve(interpreter, [interpreter, "-I", "-S", script], dict(os.environ))


def _build_root(libc, config: dict, uid: int, program: bytes) -> None:
    """The program's whole filesystem, at NEW_ROOT: system folders read-only, a few devices, /proc,
    a private size-capped /tmp, and the hidden folders empty wherever they fall."""
    root, limits = NEW_ROOT, config["limits"]
    _mount(libc, "tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    prefix = os.path.realpath(sys.base_prefix)  # the interpreter's, wherever it is installed
    for folder in dict.fromkeys((*SYSTEM_FOLDERS, prefix)):
        inside = root + folder
        if os.path.islink(folder):
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            os.symlink(os.readlink(folder), inside)
        elif os.path.isdir(folder) and not os.path.exists(inside):
            os.makedirs(inside)
            _mount(libc, folder, inside, None, _MS_BIND)
            _mount(libc, "none", inside, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID)
    os.mkdir(root + "/dev")
    _mount(libc, "tmpfs", root + "/dev", "tmpfs", _MS_NOSUID | _MS_NOEXEC, "size=64k,mode=0755")
    for device in DEVICES:
        if os.path.exists(f"/dev/{device}"):
            open(f"{root}/dev/{device}", "w").close()
            _mount(libc, f"/dev/{device}", f"{root}/dev/{device}", None, _MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "fd/0"), ("stdout", "fd/1"), ("stderr", "fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/proc")
    try:  # hidepid=2: a program sees its own uid's processes only, not init's command line (host paths)
        _mount(libc, "proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
    except OSError:
        pass  # a container that masks parts of its /proc forbids a new one: the program gets none
    os.mkdir(root + "/tmp")
    private = f"size={limits['tmpfs_mb']}m,mode=0700,uid={uid},gid={uid}"
    _mount(libc, "tmpfs", root + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, private)
    for folder in config["hidden"]:
        if os.path.isdir(root + folder):
            _mount(libc, "tmpfs", root + folder, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "size=4k,mode=0755")
    with open(root + "/tmp/main.py", "wb") as f:
        f.write(program)
    os.chown(root + "/tmp/main.py", uid, uid)


def _init(config: dict, uid: int, program: bytes, alive: int, report: int) -> None:
    """Pid 1 of the run's pid namespace: isolate, start the program, wait for it, report its exit
    status on ``report`` and exit (which kills whatever the program left)."""
    _check(_libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if select.select([alive], [], [], 0)[0]:  # the launcher's end is closed: it died before the prctl
        os._exit(1)
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS), "unshare")
    _mount(libc, "none", "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted here leaks out
    _build_root(libc, config, uid, program)
    os.chroot(NEW_ROOT)
    os.chdir("/tmp")
    child = os.fork()
    if child == 0:
        try:
            _drop_to(uid)
            _exec(config, "/tmp/main.py")
        except BaseException:
            traceback.print_exc()
        os._exit(127)
    while True:  # as init, also reap the orphans re-parented here
        pid, status = os.wait()
        if pid == child:
            os.write(report, str(os.waitstatus_to_exitcode(status)).encode())
            os._exit(0)


def _launch_namespaces(config: dict, uid: int) -> None:
    with open(config["script"], "rb") as f:
        program = f.read()
    alive_r, alive_w = os.pipe()
    report_r, report_w = os.pipe()
    _check(_libc().unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    init = os.fork()
    if init == 0:
        os.close(alive_w)
        os.close(report_r)
        try:
            _init(config, uid, program, alive_r, report_w)
        except BaseException:
            traceback.print_exc()
        os._exit(126)
    os.close(alive_r)
    os.close(report_w)
    os.waitpid(init, 0)
    reported = os.read(report_r, 64)
    if not reported:
        os._exit(1)  # init failed (its traceback is in stderr)
    with open(config["status"], "wb") as f:
        f.write(reported)
    os._exit(0)


def launch(config_path: str) -> None:
    with open(config_path) as f:
        config = json.load(f)
    _die_with_parent(config["parent"])
    uid = UID_BASE + os.getpid()
    if config["mode"] == "namespaces":
        _launch_namespaces(config, uid)
    if config["mode"] == "uid":
        os.chown(os.path.dirname(config["script"]), uid, uid)
        os.chown(config["script"], uid, uid)
        _drop_to(uid)
        _die_with_parent(config["parent"])  # a change of uid clears the parent-death signal
    _exec(config, config["script"])


def reap(uid: int) -> None:
    """Kill every process of the run's uid, including any that left its session, until none is left."""
    reaper = REAPER_UID_BASE + os.getpid()
    os.setgroups([])
    os.setresgid(reaper, reaper, reaper)
    os.setresuid(reaper, uid, reaper)
    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)  # every process this one may signal: exactly the run's
        except ProcessLookupError:
            return
        time.sleep(0.02)
        if not live_processes(uid):
            return
    raise RuntimeError(f"sandbox: processes of uid {uid} still running after repeated kills")


if __name__ == "__main__":
    {"launch": launch, "reap": lambda uid: reap(int(uid))}[sys.argv[1]](sys.argv[2])
