"""Filesystem diff: the workspace and $HOME before (the host copies) and after (the sandbox's overlay, read through
/proc/PID/root while the sandbox is held open), and what changed.

Walks are iterative and capped (pipeline/fsutil); a cap that is hit is reported by the caller as a finding, never
a silent stop. Files are opened with O_NOFOLLOW|O_NONBLOCK and checked to be regular, so a link or FIFO the code
left behind is recorded, never followed or waited on.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from airlock.pipeline.fsutil import WalkStats, copy_file, walk

MAX_HASH_BYTES = 32 << 20  # larger files are compared by size and mtime
MAX_ENTRIES = 200_000
MAX_DEPTH = 256


@dataclass(frozen=True)
class Entry:
    kind: str  # "file", "dir", "link", "other"
    mode: int
    size: int
    digest: str
    # A file's identity in the tree it was read from: ties hard links together whatever their content. Never part
    # of equality, since two captures of one tree (the host copy, the sandbox's) always differ in it.
    dev: int = field(default=0, compare=False)
    ino: int = field(default=0, compare=False)


Snapshot = dict[str, Entry]


@dataclass
class Capture:
    entries: Snapshot = field(default_factory=dict)
    stats: WalkStats = field(default_factory=WalkStats)
    notes: list[str] = field(default_factory=list)
    space: os.statvfs_result | None = None  # the filesystem holding the tree, as the capture found it


def snapshot(
    root: Path | str,
    *,
    max_entries: int = MAX_ENTRIES,
    copy_to: Path | None = None,
    owner: tuple[int, int] | None = None,
) -> Capture:
    """Hash every entry below root; with copy_to, also copy it there (the next command's starting tree)."""
    cap = Capture()
    base = os.fspath(root)
    if copy_to is not None:
        os.makedirs(copy_to, exist_ok=True)
        if owner is not None:
            os.lchown(copy_to, *owner)
    for e in walk(base, max_entries=max_entries, max_depth=MAX_DEPTH, stats=cap.stats):
        full = os.path.join(base, e.rel)
        st = e.st
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(full)
            except OSError:
                target = "?"
            cap.entries[e.rel] = Entry("link", st.st_mode, 0, target)
        elif stat.S_ISDIR(st.st_mode):
            cap.entries[e.rel] = Entry("dir", st.st_mode, 0, "")
        elif stat.S_ISREG(st.st_mode):
            cap.entries[e.rel] = Entry("file", st.st_mode, st.st_size, _digest(full, st), st.st_dev, st.st_ino)
        else:
            cap.entries[e.rel] = Entry("other", st.st_mode, 0, "")
        if copy_to is not None:
            _copy_entry(full, os.path.join(copy_to, e.rel), st, owner, cap.notes, e.rel)
    return cap


def _copy_entry(
    src: str, dest: str, st: os.stat_result, owner: tuple[int, int] | None, notes: list[str], rel: str
) -> None:
    mode = stat.S_IMODE(st.st_mode) & 0o1777  # set-id bits never survive
    try:
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dest, 0o700)
            os.chmod(dest, mode | 0o700)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dest)
        elif stat.S_ISREG(st.st_mode):
            copy_file(src, dest, mode)
        else:
            return  # FIFOs, sockets, devices do not carry over to the next command
        if owner is not None:
            os.lchown(dest, *owner)
    except OSError as exc:
        notes.append(f"runtime: {rel} was not carried to the next command: {exc.strerror or exc}")


def _digest(path: str, st: os.stat_result) -> str:
    if st.st_size > MAX_HASH_BYTES:
        return f"size={st.st_size},mtime={st.st_mtime_ns}"
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not-regular"
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
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
        if b is not None and a is not None and b.kind == a.kind == "dir" and b.mode & 0o7777 == a.mode & 0o7777:
            continue  # an overlay copies a directory up when something below it changes: not itself a change
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
