"""Where airlock writes: one scratch root per run (removed at the end, swept when its owner died) and a cache dir.

Every scratch dir's name carries its owner: `airlock-<kind>.<pid>.<start time>.<pid namespace>.<random>`.
A run that is killed outright (SIGKILL, as CI cancellation ends with) cannot clean up; the next run sweeps
every `airlock-*` dir in the temp root whose owner process is gone. A watchdog process (watchdog.py) holds
the read end of a pipe only airlock writes to: when airlock dies the pipe closes, and the watchdog kills the
tools' process groups and removes the run's scratch root at once, without waiting for a next run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from airlock.pipeline import fsutil, proc

_active: Path | None = None  # the run root while run_root() is active
_OWNED = re.compile(r"^airlock-[A-Za-z0-9_-]+\.(\d+)\.(\d+)\.(\d+)\.")


def cache_dir() -> Path:
    """airlock's own cache dir: $XDG_CACHE_HOME/airlock, else ~/.cache/airlock."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "airlock"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of pid (clock ticks since boot): with the pid, an identity that is never reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _pid_ns() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def owner_tag() -> str:
    pid = os.getpid()
    return f"{pid}.{_start_time(pid) or 0}.{_pid_ns()}"


def make_dir(kind: str, parent: Path | str | None = None) -> Path:
    """A private scratch dir whose name says which process owns it."""
    return Path(tempfile.mkdtemp(prefix=f"airlock-{kind}.{owner_tag()}.", dir=parent))


def tool_dir(tool: str) -> Path:
    """A scratch dir for one tool run: under the run root when one is active (removed with it), else
    removed when this process exits (library use, tests)."""
    path = make_dir(f"tool-{tool}")
    if _active is None:
        atexit.register(fsutil.rmtree, path)
    return path


def _owner_gone(pid: int, start: str, ns: str) -> bool:
    if ns != _pid_ns():
        return False  # another pid namespace (a container sharing /tmp): its pids are not ours to judge
    return _start_time(pid) != start


def sweep(temp_root: Path | str | None = None) -> list[Path]:
    """Remove the scratch dirs of airlock runs that died; returns what was removed."""
    root = Path(temp_root or tempfile.gettempdir())
    removed: list[Path] = []
    uid = os.getuid()
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        m = _OWNED.match(name)
        if m is None:
            continue
        path = root / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid != uid or not os.path.isdir(path) or os.path.islink(path):
            continue
        if _owner_gone(int(m.group(1)), m.group(2), m.group(3)) and fsutil.rmtree(path):
            removed.append(path)
    return removed


def _start_watchdog(root: Path) -> subprocess.Popen[bytes] | None:
    """A separate process in its own session, so the signal that ends airlock's process group spares it."""
    import airlock

    package_parent = str(Path(airlock.__file__).resolve().parent.parent)
    code = "import sys; sys.path.insert(0, sys.argv[1]); from airlock.pipeline.watchdog import main; main(sys.argv[2])"
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, an argument list
            [sys.executable, "-S", "-c", code, package_parent, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None  # without it, process groups and the next run's sweep still clean up


@contextlib.contextmanager
def run_root() -> Iterator[Path]:
    """This run's scratch root: every temp dir of airlock and its tools lives below it while it is active."""
    sweep()
    global _active
    root = make_dir("run")
    previous, outer = tempfile.tempdir, _active
    _active = root
    tempfile.tempdir = str(root)  # mkdtemp/TemporaryDirectory anywhere in airlock now land below root
    watchdog = _start_watchdog(root)
    proc.attach_watchdog(watchdog.stdin if watchdog is not None else None)
    try:
        yield root
    finally:
        tempfile.tempdir, _active = previous, outer
        fsutil.rmtree(root)
        proc.attach_watchdog(None)
        if watchdog is not None:
            with contextlib.suppress(OSError):
                if watchdog.stdin is not None:
                    watchdog.stdin.close()  # EOF: the watchdog finds nothing left to do and exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                watchdog.wait(timeout=2)
