"""A PostgreSQL server from the machine's binaries on 127.0.0.1, for the tests of the cluster's
Dagster instance and for benchmarks/orchestration_scale.py."""

import contextlib
import glob
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_postgres():
    """Yields the connection settings of a fresh server with an empty ``study`` database; stops
    the server and removes its files afterwards. Raises FileNotFoundError without the binaries."""
    import os

    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise FileNotFoundError("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)")
    # Not under pytest's tmp folder: that one is private to root, and PostgreSQL refuses to run
    # as root, so the server runs as the postgres user and needs a folder it can reach.
    base = Path(tempfile.mkdtemp(prefix="study-pg-"))
    data = base / "data"
    data.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(as_user + [initdb, "-D", str(data), "-A", "trust", "-U", "dagster"], check=True, capture_output=True)
    subprocess.run(
        as_user
        + [
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(data.parent / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {data}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        deadline = time.time() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE study")
        conn.close()
        yield {"host": "127.0.0.1", "port": port, "user": "dagster", "db": "study"}
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
