"""What every agent check reads: the base and head bytes of the change's files, their added lines and modes.

Both trees were written by intake from git's object store (pipeline/change.py), so modes are git's tree modes
and no attribute, filter or hook of the scanned repository shaped them. In full mode (a directory, no base)
there is no base: every file counts as added whole, and only the head-only checks run.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline.models import Change, ChangedFile, FileStatus, Finding, Severity
from airlock.scanners.tooling import MAX_TARGET_BYTES

MAX_FILE_BYTES = MAX_TARGET_BYTES  # larger text files are not parsed; each becomes agent.unchecked (high)
BINARY_PREFIX = 64 * 1024  # of a larger binary, enough to tell what it is
TOOL = "airlock"
STAGE = "agent"


@dataclass(frozen=True)
class Text:
    """A decoded file: lines numbered from 1, as git numbers them."""

    raw: bytes
    text: str
    lines: tuple[str, ...]


def decode(raw: bytes) -> Text | None:
    """Text, or None for a binary file (a NUL byte, or not UTF-8)."""
    if b"\0" in raw[:8192]:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Text(raw, text, tuple(text.split("\n")))


class ChangeView:
    def __init__(self, change: Change, paths: tuple[str, ...], timeout_s: float = 300.0) -> None:
        self.change = change
        self.head_root = change.workspace
        self.base_root = change.base_workspace if change.mode != "full" else None
        wanted = set(paths)
        self.files = tuple(f for f in change.files if f.path in wanted or f.status is FileStatus.DELETED)
        self.too_large: set[str] = set()
        self._cache: dict[tuple[str, str], bytes | None] = {}
        # In-process checks have no subprocess timeout to bound them: past the deadline no file is read, and
        # the scanner reports what was left unread.
        self.deadline = time.monotonic() + timeout_s
        self.unread_after_deadline: set[str] = set()

    @property
    def has_base(self) -> bool:
        return self.base_root is not None

    def live(self) -> Iterator[ChangedFile]:
        return (f for f in self.files if f.status is not FileStatus.DELETED)

    def _read(self, root: Path | None, side: str, rel: str | None) -> bytes | None:
        if root is None or not rel:
            return None
        key = (side, rel)
        if key not in self._cache:
            if time.monotonic() > self.deadline:
                self.unread_after_deadline.add(rel)
                return None
            self._cache[key] = self._load(root / rel, rel)
        return self._cache[key]

    def _load(self, p: Path, rel: str) -> bytes | None:
        try:
            st = os.lstat(p)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                if st.st_size <= MAX_FILE_BYTES:
                    return fh.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]
                head = fh.read(BINARY_PREFIX)
        except OSError:
            return None
        if b"\0" in head[:8192]:
            return head  # a large binary: its prefix says what it is, and no text check reads it
        self.too_large.add(rel)
        return None

    def head(self, rel: str) -> bytes | None:
        return self._read(self.head_root, "head", rel)

    def base(self, f: ChangedFile) -> bytes | None:
        """The base version of a changed file: its old path, or its path when the change deleted it."""
        if f.status is FileStatus.ADDED:
            return None
        rel = f.path if f.status is FileStatus.DELETED else f.old_path
        return self._read(self.base_root, "base", rel)

    def head_text(self, rel: str) -> Text | None:
        raw = self.head(rel)
        return decode(raw) if raw is not None else None

    def base_text(self, f: ChangedFile) -> Text | None:
        raw = self.base(f)
        return decode(raw) if raw is not None else None

    def executable(self, root: Path | None, rel: str | None) -> bool:
        if root is None or not rel:
            return False
        try:
            st = os.lstat(root / rel)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IXUSR)

    def added(self, f: ChangedFile, n_lines: int) -> set[int]:
        """Head line numbers the change added; every line when there is no base or the file is new."""
        if not self.has_base or f.status is FileStatus.ADDED:
            return set(range(1, n_lines + 1))
        return {n for a, b in f.added_lines for n in range(a, b + 1)}

    def added_text(self, f: ChangedFile) -> tuple[Text, set[int]] | None:
        """f's head text and the line numbers the change added; None when it is not text or adds no line."""
        text = self.head_text(f.path)
        if text is None:
            return None
        added = self.added(f, len(text.lines))
        return (text, added) if added else None


def finding(
    rule_id: str,
    severity: Severity,
    path: str,
    line: int,
    message: str,
    title: str,
    snippet: str = "",
    evidence: tuple[str, ...] = (),
) -> Finding:
    return Finding(
        stage=STAGE,
        tool=TOOL,
        rule_id=rule_id,
        message=message,
        severity=severity,
        path=path,
        start_line=line,
        end_line=line,
        title=title,
        snippet=snippet[:300],
        evidence=evidence,
    )
