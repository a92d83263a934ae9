"""A live progress display on stderr while stages run: one line per job (stage, tool, state, elapsed).

Only on a TTY: in CI logs and pipes it stays silent, so the report is the only output.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from airlock.reports.escape import terminal

_STYLE = {"running": "yellow", "ok": "green", "error": "bold red", "skipped": "dim"}


class Progress:
    """Use as a context manager; pass .on_event to the scan as its progress callback."""

    def __init__(self, stream: TextIO) -> None:
        self._console = Console(file=stream, highlight=False)
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str, str], tuple[str, float, float | None]] = {}
        self._live = Live(console=self._console, refresh_per_second=8, transient=True,
                          get_renderable=self._table)

    def on_event(self, tool: str, stage: str, label: str, state: str) -> None:
        with self._lock:
            key = (stage, tool, label)
            started = self._rows.get(key, (state, time.monotonic(), None))[1]
            self._rows[key] = (state, started, None if state == "running" else time.monotonic())

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for col in ("stage", "tool", "state", "elapsed"):
            table.add_column(col, justify="right" if col == "elapsed" else "left")
        now = time.monotonic()
        with self._lock:
            rows = sorted(self._rows.items())
        for (stage, tool, label), (state, started, ended) in rows:
            name = escape(terminal(tool)) + (" (base)" if label == "base" else "")
            style = _STYLE.get(state, "white")
            table.add_row(escape(stage), name, f"[{style}]{escape(state)}[/]", f"{(ended or now) - started:.1f}s")
        return table

    def __enter__(self) -> Progress:
        self._live.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._live.stop()
