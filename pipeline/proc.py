"""The one place airlock starts a subprocess: argument lists, captured output, a timeout, a size cap.

Every tool runs in its own session (process group). airlock reads its pipes itself, with a deadline:
- past the timeout, or when airlock is interrupted, the whole group is killed;
- once the tool itself has exited (or been killed), its pipes get DRAIN_S more seconds; whatever still
  holds them open then (a grandchild that escaped into another session) is killed, and the pipes closed;
- output beyond the cap kills the tool and raises OutputTooLarge: a stage error, never a truncated pass.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_OUTPUT_BYTES = 256 * 1024 * 1024  # stdout + stderr of one tool run; past it the run is an error
MAX_BINARY_BYTES = 1024 * 1024 * 1024  # run_bytes (git cat-file --batch of a whole tree)
DRAIN_S = 2.0  # how long pipes are read after the tool is gone, before whatever holds them is killed
_POLL_S = 0.2  # how often a blocked read looks at the cancel flag and the child's state
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class ToolMissing(Exception):
    pass


class ProcError(Exception):
    """A run that airlock stopped: never a result to interpret."""


class OutputTooLarge(ProcError):
    pass


class Cancelled(ProcError):
    """airlock was interrupted (a signal); no tool result may be trusted or started."""


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.RLock()  # re-entrant: a signal handler may call kill_all while the main thread holds it
_cancel = threading.Event()
_cancel_reason: list[str] = []
_watchdog: IO[bytes] | None = None


def cancel(reason: str) -> None:
    """Stop every running tool now and refuse to start new ones (signal handlers call this)."""
    if not _cancel.is_set():
        _cancel_reason.append(reason)
        _cancel.set()
    kill_all()


def cancelled() -> str | None:
    """The reason airlock was interrupted, or None."""
    return _cancel_reason[0] if _cancel.is_set() and _cancel_reason else None


def reset_cancel() -> None:
    """For embedders and tests that run several scans in one process."""
    _cancel.clear()
    _cancel_reason.clear()


def kill_all() -> None:
    """On Ctrl-C or SIGTERM: take every running tool down with airlock."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _kill_group(p)


def attach_watchdog(stream: IO[bytes] | None) -> None:
    """Report each tool's process group to a watchdog that kills them when airlock dies (see scratch.py)."""
    global _watchdog
    with _live_lock:
        _watchdog = stream
        if stream is not None:
            for p in _live:
                _tell_watchdog(f"+{p.pid}")


def _tell_watchdog(line: str) -> None:
    global _watchdog
    if _watchdog is None:
        return
    try:
        _watchdog.write(f"{line}\n".encode("ascii"))
        _watchdog.flush()
    except (OSError, ValueError):
        _watchdog = None  # the watchdog is gone; the process groups and the sweep still hold


def _register(p: subprocess.Popen[bytes]) -> None:
    with _live_lock:
        _live.add(p)
        _tell_watchdog(f"+{p.pid}")


def _unregister(p: subprocess.Popen[bytes]) -> None:
    with _live_lock:
        if p in _live:
            _live.discard(p)
            _tell_watchdog(f"-{p.pid}")


def _popen(
    argv: Sequence[str], cwd: Path | str | None, env: Mapping[str, str] | None, stdin: int,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    if _cancel.is_set():
        raise Cancelled(f"airlock was interrupted ({cancelled()}); {argv[0]} not started")
    try:
        p = subprocess.Popen(  # noqa: S603 - argv is a list, never a shell string
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{argv[0]} not found") from exc
    except PermissionError as exc:
        raise ToolMissing(f"{argv[0]} is not executable") from exc
    _register(p)
    return p


def run(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    max_output: int = MAX_OUTPUT_BYTES,
) -> Completed:
    """Run argv; on timeout kill its whole process group so no grandchild lingers."""
    code, out, err, timed_out = _run(argv, timeout_s, cwd, env, stdin, max_output)
    return Completed(tuple(argv), code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), timed_out)


def run_bytes(
    argv: Sequence[str],
    *,
    timeout_s: float,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    max_output: int = MAX_BINARY_BYTES,
) -> tuple[int, bytes, str]:
    """Like run, for commands whose stdout is binary (git cat-file). A timeout is a non-zero code."""
    code, out, err, timed_out = _run(argv, timeout_s, cwd, env, stdin, max_output)
    if timed_out:
        return (code or -signal.SIGKILL), out, f"{argv[0]} timed out after {timeout_s:g} s"
    return code, out, err.decode("utf-8", "replace")


def _run(
    argv: Sequence[str],
    timeout_s: float,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    stdin: bytes | None,
    max_output: int,
) -> tuple[int, bytes, bytes, bool]:
    p = _popen(argv, cwd, env, subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    try:
        out, err, stop = _communicate(p, stdin, timeout_s, max_output)
    except BaseException:
        _kill_group(p)
        _close_pipes(p)
        _reap(p)
        raise
    finally:
        _unregister(p)
    if stop == "cancel" or _cancel.is_set():
        raise Cancelled(f"airlock was interrupted ({cancelled()}); {argv[0]} was stopped")
    if stop == "cap":
        raise OutputTooLarge(
            f"{Path(argv[0]).name} wrote more than {max_output // (1024 * 1024)} MiB of output and was stopped"
        )
    return p.returncode, out, err, stop == "timeout"


def _communicate(
    p: subprocess.Popen[bytes], data: bytes | None, timeout_s: float, max_output: int
) -> tuple[bytes, bytes, str | None]:
    """Read both pipes (and feed stdin) until EOF, with a deadline; returns (stdout, stderr, why stopped)."""
    assert p.stdout is not None and p.stderr is not None  # noqa: S101 - both are PIPE above
    out_fd, err_fd = p.stdout.fileno(), p.stderr.fileno()
    bufs: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    pipe_inodes = {os.fstat(fd).st_ino for fd in bufs}
    total = 0
    stop: str | None = None
    drain_until: float | None = None
    deadline = time.monotonic() + timeout_s
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pending = memoryview(data or b"")
    if p.stdin is not None:
        if pending:
            os.set_blocking(p.stdin.fileno(), False)
            sel.register(p.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            p.stdin.close()
    try:
        while sel.get_map():
            now = time.monotonic()
            if stop is None:
                if _cancel.is_set():
                    stop = "cancel"
                elif now >= deadline:
                    stop = "timeout"
                if stop is not None:
                    _kill_group(p)
            if drain_until is None and (stop is not None or _exited(p)):
                # The tool is gone (or going): kill what is left of its group, then read for a bounded time.
                _kill_group(p)
                drain_until = now + DRAIN_S
            if drain_until is not None and now >= drain_until:
                _kill_pipe_holders(pipe_inodes)
                break
            limit = min(_POLL_S, (drain_until if drain_until is not None else deadline) - now)
            for key, _mask in sel.select(max(limit, 0.0)):
                fd = int(key.fd)
                if fd not in bufs:  # stdin
                    assert p.stdin is not None  # noqa: S101
                    try:
                        n = os.write(fd, pending[:_CHUNK])
                        pending = pending[n:]
                    except BlockingIOError:
                        continue
                    except OSError:  # the tool closed its stdin (EPIPE): it has what it wanted
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        p.stdin.close()
                    continue
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                if stop is None and total + len(chunk) > max_output:
                    stop = "cap"
                    _kill_group(p)
                if stop != "cap":
                    total += len(chunk)
                    bufs[fd].extend(chunk)
    finally:
        sel.close()
        _close_pipes(p)
    if not _reap(p, deadline if stop is None else time.monotonic() + DRAIN_S):
        stop = stop or "timeout"
        _kill_group(p)
        _reap(p)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), stop


def _exited(p: subprocess.Popen[bytes]) -> bool:
    """Whether the tool has exited, without reaping it: its pid (the group id) stays ours to kill."""
    try:
        info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return p.returncode is not None
    return info is not None


def _reap(p: subprocess.Popen[bytes], until: float | None = None) -> bool:
    """Wait for the tool (until a deadline, else after SIGKILL at most DRAIN_S); True once reaped."""
    try:
        p.wait(timeout=max((until or time.monotonic() + DRAIN_S) - time.monotonic(), 0.0))
        return True
    except subprocess.TimeoutExpired:
        return False


def _close_pipes(p: subprocess.Popen[bytes]) -> None:
    for f in (p.stdin, p.stdout, p.stderr):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


def _kill_group(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            p.kill()


def _kill_pipe_holders(inodes: set[int]) -> None:
    """Kill our own processes that still hold a tool's output pipe: a grandchild that left the group."""
    if not sys.platform.startswith("linux"):
        return
    me, uid = os.getpid(), os.getuid()
    targets = {f"pipe:[{i}]" for i in inodes}
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return
    for pid in pids:
        if pid == me:
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    os.kill(pid, signal.SIGKILL)
                    break
            except OSError:
                continue


def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
          pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """Start a long-running tool whose output the caller streams and whose lifetime it polices (the sandbox).

    The process is registered so Ctrl-C still takes it down; call `release` once it has been reaped.
    """
    return _popen(argv, cwd, env, subprocess.DEVNULL, pass_fds)


def release(p: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if kill:
        _kill_group(p)
    _unregister(p)
