"""Filesystem diff: hash the workspace and the sandbox's $HOME before and after, and classify what changed."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_HASH_BYTES = 32 << 20  # larger files are compared by size and mtime
MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class Entry:
    kind: str  # "file", "dir", "link", "other"
    mode: int
    size: int
    digest: str


Snapshot = dict[str, Entry]


def snapshot(root: Path) -> Snapshot:
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            if len(out) >= MAX_ENTRIES:
                return out
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                out[rel] = Entry("link", st.st_mode, 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = Entry("dir", st.st_mode, 0, "")
            elif stat.S_ISREG(st.st_mode):
                out[rel] = Entry("file", st.st_mode, st.st_size, _digest(full, st))
            else:
                out[rel] = Entry("other", st.st_mode, 0, "")
    return out


def _digest(path: str, st: os.stat_result) -> str:
    if st.st_size > MAX_HASH_BYTES:
        return f"size={st.st_size},mtime={st.st_mtime_ns}"
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return "unreadable"
    return h.hexdigest()


@dataclass(frozen=True)
class Change:
    area: str  # "workspace" or "home"
    path: str  # relative to the area root
    what: str  # "added", "modified", "deleted", "emptied", "mode"
    before: Entry | None
    after: Entry | None

    @property
    def new_executable(self) -> bool:
        a, b = self.after, self.before
        if a is None or a.kind != "file" or not a.mode & 0o111:
            return False
        return b is None or not b.mode & 0o111 or b.digest != a.digest


def diff(area: str, before: Snapshot, after: Snapshot) -> list[Change]:
    out: list[Change] = []
    for rel in sorted(set(before) | set(after)):
        b, a = before.get(rel), after.get(rel)
        if b == a:
            continue
        if b is None:
            what = "added"
        elif a is None:
            what = "deleted"
        elif a.kind == "file" and a.size == 0 and b.size > 0:
            what = "emptied"
        elif a.digest == b.digest and a.kind == b.kind:
            what = "mode"
        else:
            what = "modified"
        out.append(Change(area, rel, what, b, a))
    return out
