"""A throwaway PostgreSQL server for the history tests: Debian's binaries, a unix socket in a temp dir, trust auth.

PostgreSQL refuses to run as root: as root, the data dir is handed to the `postgres` user and every server
command runs as that user (runuser). Nothing listens on TCP.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin", "/usr/bin")


class ServerUnavailable(Exception):
    pass


def _bin(name: str) -> str:
    for d in BIN_DIRS:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    found = shutil.which(name)
    if found is None:
        raise ServerUnavailable(f"{name} not found (apt-get install postgresql; .ci/run does)")
    return found


def _as_server_user(argv: list[str]) -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return argv, None, None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable("running as root and there is no 'postgres' user to run the server as") from None
    return ["runuser", "-u", "postgres", "--", *argv], pw.pw_uid, pw.pw_gid


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh database on a private server; stop and remove it afterwards."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    _, uid, gid = _as_server_user([])
    if uid is not None and gid is not None:
        os.chmod(root, 0o755)
        os.chown(root, uid, gid)
        os.chown(sock, uid, gid)
    started = False
    try:
        def run(argv: list[str], timeout: float = 120) -> None:
            cmd, _u, _g = _as_server_user(argv)
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                raise ServerUnavailable(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")

        run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        opts = f"-k {sock} -c listen_addresses='' -c fsync=off"
        run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start"])
        started = True
        import psycopg

        with psycopg.connect(host=str(sock), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE airlock")
        yield f"postgresql://postgres@/airlock?host={sock}"
    finally:
        if started:
            cmd, _u, _g = _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
            subprocess.run(cmd, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
