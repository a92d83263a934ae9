"""Filesystem walks and removal that no tree can break: iterative (no recursion), never following links.

A hostile change may hold a 10,000-deep tree, FIFOs, sockets, unreadable or unwritable directories and
names with any bytes. Walks here have no recursion limit, cap what they visit and say when they hit a
cap; removal fixes permissions on the way and never follows a link out of the tree.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WalkEntry:
    rel: str  # relative POSIX path below the walked root
    st: os.stat_result  # lstat: a link is reported as a link, never followed
    depth: int


class WalkCapHit(Exception):
    """Raised by walk(strict=True) when a cap is hit; the message names the cap."""


@dataclass
class WalkStats:
    entries: int = 0
    max_depth: int = 0
    cap_hit: str = ""  # "" or a sentence naming the cap that stopped the walk
    unreadable: int = 0  # directories that could not be listed


def walk(
    root: Path | str,
    *,
    max_entries: int = 1_000_000,
    max_depth: int = 256,
    skip_dirs: frozenset[str] = frozenset(),
    stats: WalkStats | None = None,
) -> Iterator[WalkEntry]:
    """Every entry below root (not root itself), depth-first and sorted, without recursion.

    Directories are opened relative to their parent's descriptor, so no path length limit applies and
    a link is never followed. Stops at max_entries, does not enter directories below max_depth, and
    records either in stats.cap_hit, so the caller turns the cap into a finding, never a silent stop.
    At most max_depth descriptors are open at once.
    """
    stats = stats if stats is not None else WalkStats()
    root_fd = _open_dir(os.fspath(root))
    if root_fd is None:
        stats.unreadable += 1
        return
    # Each level: (its fd, its relative path, the sorted names still to visit).
    stack: list[tuple[int, str, list[str]]] = []
    try:
        names = _listdir(root_fd, stats)
        stack.append((root_fd, "", names))
        while stack:
            fd, rel_dir, pending = stack[-1]
            if not pending:
                stack.pop()
                os.close(fd)
                continue
            name = pending.pop(0)
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                st = os.lstat(name, dir_fd=fd)
            except OSError:
                continue
            if stats.entries >= max_entries:
                stats.cap_hit = f"more than {max_entries} entries"
                return
            stats.entries += 1
            depth = len(stack)
            stats.max_depth = max(stats.max_depth, depth)
            yield WalkEntry(rel, st, depth)
            if not stat.S_ISDIR(st.st_mode) or name in skip_dirs:
                continue
            if depth >= max_depth:
                stats.cap_hit = stats.cap_hit or f"directories nested deeper than {max_depth} levels"
                continue
            child = _open_dir(name, fd)
            if child is None:
                stats.unreadable += 1
                continue
            stack.append((child, rel, _listdir(child, stats)))
    finally:
        for fd, _rel, _names in stack:
            os.close(fd)


def _listdir(fd: int, stats: WalkStats) -> list[str]:
    try:
        with os.scandir(fd) as it:
            return sorted(e.name for e in it)
    except OSError:
        stats.unreadable += 1
        return []


def rmtree(path: Path | str) -> bool:
    """Remove path and everything below it, however deep or strange; True when nothing is left.

    Uses directory file descriptors (openat/unlinkat), so long paths never hit PATH_MAX and a link is
    removed, never followed. Unreadable or unwritable directories are made accessible first.
    """
    target = os.fspath(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(target)
        except OSError:
            return False
        return True
    parent_fd = _open_dir(os.path.dirname(os.path.abspath(target)) or "/")
    if parent_fd is None:
        return False
    try:
        _rmtree_at(parent_fd, os.path.basename(os.path.abspath(target)))
    finally:
        os.close(parent_fd)
    return not os.path.lexists(target)


def _open_dir(path: str, dir_fd: int | None = None) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None


def _open_child_dir(parent_fd: int, name: str) -> int | None:
    fd = _open_dir(name, parent_fd)
    if fd is None:
        # An unreadable/untraversable directory (mode 000): make it ours to remove, then retry.
        try:
            os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
        except (OSError, NotImplementedError):
            return None
        fd = _open_dir(name, parent_fd)
    return fd


FLATTEN_DEPTH = 64  # deeper directories are moved up to the top before removal: bounded descriptors


def _rmtree_at(top_parent_fd: int, top_name: str) -> None:
    """Iterative post-order removal over a stack of open directory descriptors.

    A directory deeper than FLATTEN_DEPTH is renamed into the top directory first, so neither the
    stack nor the number of open descriptors grows with the tree's depth.
    """
    top_fd = _open_child_dir(top_parent_fd, top_name)
    if top_fd is None:
        return
    _make_writable(top_fd)
    stack: list[tuple[int, str, int]] = [(top_parent_fd, top_name, top_fd)]
    stuck: set[tuple[int, str]] = set()  # (dir inode, name) that could not be removed: never retried
    moved = 0
    while stack:
        _parent_fd, _name, fd = stack[-1]
        try:
            ino = os.fstat(fd).st_ino
            with os.scandir(fd) as it:
                entries = [e for e in it if (ino, e.name) not in stuck]
        except OSError:
            entries = []
        descended = False
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:
                try:
                    os.unlink(entry.name, dir_fd=fd)
                except OSError:
                    stuck.add((ino, entry.name))
                continue
            if len(stack) >= FLATTEN_DEPTH:
                moved += 1
                try:
                    flat = f".airlock-rm-{moved}-{os.urandom(6).hex()}"
                    os.rename(entry.name, flat, src_dir_fd=fd, dst_dir_fd=top_fd)
                    continue
                except OSError:
                    pass
            child = _open_child_dir(fd, entry.name)
            if child is None:
                stuck.add((ino, entry.name))
                continue
            _make_writable(child)
            stack.append((fd, entry.name, child))
            descended = True
            break
        if descended:
            continue
        parent_fd, name, fd = stack.pop()
        os.close(fd)
        try:
            os.rmdir(name, dir_fd=parent_fd)
        except OSError:
            try:
                stuck.add((os.fstat(parent_fd).st_ino, name))
            except OSError:
                pass


def _make_writable(fd: int) -> None:
    try:
        os.chmod(fd, 0o700)  # a directory we cannot write cannot be emptied
    except OSError:
        pass


def copy_file(src: str, dest: str, mode: int) -> None:
    """Copy one regular file without following a link or blocking on a FIFO; dest must not exist."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777)
        try:
            while chunk := os.read(fd, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view) :]
        finally:
            os.close(out)
    finally:
        os.close(fd)
