"""Runs beside airlock: when airlock dies (even by SIGKILL), kill its tools and remove its scratch root.

airlock writes "+<pgid>" when a tool starts and "-<pgid>" once it is reaped, on a pipe whose write end
only airlock holds. EOF means airlock is gone: every group still listed is killed, then the root removed.
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
    if groups:
        time.sleep(0.2)  # let the killed tools release their files before the tree goes
    if os.path.isdir(root):
        from pipeline.fsutil import rmtree

        rmtree(root)
