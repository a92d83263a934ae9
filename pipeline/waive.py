"""`airlock waive`: add one [[waiver]] entry to .airlock-waivers.toml, checked by the same strict parser."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from airlock.pipeline.errors import UsageError
from airlock.pipeline.waivers import FILENAME, parse

DEFAULT_DAYS = 30


def entry(
    *, reason: str, owner: str, expires: dt.date, fingerprint: str | None = None, rule: str | None = None,
    path: str | None = None,
) -> str:
    """One [[waiver]] table. json.dumps gives a TOML basic string: the same quotes and escapes, ASCII only."""
    lines = ["[[waiver]]"]
    for key, value in (("fingerprint", fingerprint), ("rule", rule), ("path", path), ("reason", reason),
                       ("owner", owner)):
        if value is not None:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=True)}")
    lines.append(f"expires = {expires.isoformat()}")
    return "\n".join(lines) + "\n"


def add(file: Path, text: str) -> None:
    """Append text to file, refusing to write anything the gate would then reject (a bad file is exit 2)."""
    try:
        old = file.read_bytes() if file.exists() else b""
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}; fix its permissions") from None
    sep = b"" if not old or old.endswith(b"\n\n") else (b"\n" if old.endswith(b"\n") else b"\n\n")
    new = old + sep + text.encode("utf-8")
    parse(new, str(file))  # raises UsageError naming the problem
    try:
        file.write_bytes(new)
    except OSError as exc:
        raise UsageError(f"cannot write {file}: {exc.strerror}; choose a writable repository") from None


def expiry(text: str | None, today: dt.date) -> dt.date:
    if text is None:
        return today + dt.timedelta(days=DEFAULT_DAYS)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--expires {text}: not a date; write it like 2026-12-31") from None
    if day < today:
        raise UsageError(f"--expires {text}: already past; a waiver must end today or later")
    return day


def default_file(repo: Path) -> Path:
    return repo / FILENAME
