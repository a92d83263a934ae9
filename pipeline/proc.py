"""The one place airlock starts a subprocess: argument lists, captured output, a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class ToolMissing(Exception):
    pass


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def kill_all() -> None:
    """On Ctrl-C or SIGTERM: take every running tool down with airlock."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _kill_group(p)


def run(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Completed:
    """Run argv; on timeout kill its whole process group so no grandchild lingers."""
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found") from exc
    except PermissionError as exc:
        raise ToolMissing(f"{argv[0]} is not executable") from exc
    with _live_lock:
        _live.add(proc)
    try:
        out, err = proc.communicate(stdin, timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        timed_out = True
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
    return Completed(
        tuple(argv),
        proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        timed_out,
    )


def run_bytes(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> tuple[int, bytes, str]:
    """Like run, for commands whose stdout is binary (git cat-file)."""
    try:
        proc = subprocess.run(  # noqa: S603
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found") from exc
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
          pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """Start a long-running tool whose output the caller streams and whose lifetime it polices (the sandbox).

    The process is registered so Ctrl-C still takes it down; call `release` once it has been reaped.
    """
    try:
        p = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found") from exc
    with _live_lock:
        _live.add(p)
    return p


def release(p: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if kill:
        _kill_group(p)
    with _live_lock:
        _live.discard(p)
