"""Runs beside airlock: when airlock dies (even by SIGKILL), kill its tools and remove its scratch root.

airlock writes "+<pgid>" when a tool starts and "-<pgid>" once it is reaped, on a pipe whose write end
only airlock holds. EOF means airlock is gone: every group still listed is killed, and so is any process
of ours that works inside the scratch root (its cwd or an open file there: a tool started in the instant
before airlock could list it, or one that left its group), then the root is removed.
A pipe, not PR_SET_PDEATHSIG: that would need code between fork and exec in a threaded parent.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(root: str) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the signal that ends airlock must not end its cleaner
    groups: set[int] = set()
    for raw in sys.stdin.buffer:
        line = raw.strip().decode("ascii", "replace")
        if line[:1] in "+-" and line[1:].isdigit():
            (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    killed = _kill_inside(root)
    if groups or killed:
        time.sleep(0.2)  # let the killed tools release their files before the tree goes
    if os.path.isdir(root):
        from airlock.pipeline.fsutil import rmtree

        rmtree(root)


def _kill_inside(root: str) -> int:
    """SIGKILL every process of this uid whose cwd or open files lie below root; returns how many."""
    prefix = os.path.realpath(root) + os.sep
    me, uid, n = os.getpid(), os.getuid(), 0
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        if pid == me:
            continue
        base = f"/proc/{pid}"
        try:
            if os.stat(base).st_uid != uid:
                continue
            links = [os.readlink(f"{base}/cwd")]
            links += [os.readlink(f"{base}/fd/{fd}") for fd in os.listdir(f"{base}/fd")]
        except OSError:
            continue
        if any((link + os.sep).startswith(prefix) for link in links):
            try:
                os.kill(pid, signal.SIGKILL)
                n += 1
            except OSError:
                pass
    return n
