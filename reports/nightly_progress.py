"""Nightly progress on stderr: a bar over the branches (and the tools running now) on a terminal, one plain
line per finished branch anywhere else (CI logs)."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from airlock.reports.escape import terminal


class NightlyProgress:
    def __init__(self, total: int, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], int] = {}
        self._progress: Progress | None = None
        if self._live:
            self._progress = Progress(
                TextColumn("[bold]nightly"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=Console(file=self._stream), transient=True,
            )
            self._task = self._progress.add_task("", total=total)

    def on_event(self, tool: str, stage: str, label: str, state: str) -> None:
        """The stage runner's callback: which tools run now (a shared run counts once)."""
        with self._lock:
            key = (stage, tool)
            self._running[key] = self._running.get(key, 0) + (1 if state == "running" else -1)
            if self._running[key] <= 0:
                del self._running[key]
            now = ", ".join(f"{s}:{t}" for s, t in sorted(self._running))
        if self._progress is not None:
            self._progress.update(self._task, description=escape(terminal(now)))

    def on_branch(self, branch: str, verdict: str, index: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=index)
            self._progress.console.print(f"{escape(terminal(branch))}: {escape(verdict)}", highlight=False)
        else:
            print(f"airlock nightly: [{index}/{total}] {terminal(branch)}: {verdict}", file=self._stream, flush=True)

    def __enter__(self) -> NightlyProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
