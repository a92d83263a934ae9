"""Throwaway copies of the scanned tree. Only regular files are written; links are never followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from airlock.pipeline import fsutil, scratch
from airlock.pipeline.git import Git, TreeEntry

Failed = list[tuple[str, str]]  # (repository-relative path, why it is not in the workspace)

# Directories that are never part of a change worth scanning when a plain directory is scanned whole.
DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".terraform",
    }
)


def safe_relpath(path: str) -> str | None:
    """A repository-relative POSIX path, or None when it could escape the root."""
    if not path or "\0" in path:
        return None
    parts = PurePosixPath(path).parts
    if PurePosixPath(path).is_absolute() or any(p in ("..", "") for p in parts):
        return None
    return "/".join(parts)


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A private temp dir, removed on exit, on error and on a signal; its name says who owns it (scratch.sweep)."""
    path = scratch.make_dir(prefix)
    try:
        yield path
    finally:
        fsutil.rmtree(path)  # iterative: a 10,000-deep tree cannot make cleanup raise


def _makedirs(dest_root: Path, rel_dir: str) -> None:
    """mkdir -p without recursion (Path.mkdir(parents=True) recurses once per level)."""
    cur = dest_root
    for part in PurePosixPath(rel_dir).parts:
        cur = cur / part
        try:
            os.mkdir(cur)
        except FileExistsError:
            if cur.is_symlink() or not cur.is_dir():
                raise OSError(f"refusing to write through a link: {rel_dir}") from None


def write_file(dest_root: Path, rel: str, data: bytes, executable: bool = False) -> None:
    target = dest_root / rel
    _makedirs(dest_root, PurePosixPath(rel).parent.as_posix() if "/" in rel else "")
    if target.parent.resolve() != (dest_root.resolve() / rel).parent:
        raise OSError(f"refusing to write through a link: {rel}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(target, flags, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def materialize_entries(
    git: Git, rev: str, entries: Iterable[TreeEntry], dest: Path, failed: Failed | None = None
) -> list[str]:
    """Write the regular files of a commit or index into dest; return notes on what was skipped.

    A regular file that could not be written (a name too long, an unsafe path) is added to failed, which
    intake turns into airlock.unscanned: such a file is content no tool will see.
    """
    failed = failed if failed is not None else []
    notes: list[str] = []
    wanted: list[TreeEntry] = []
    for e in entries:
        rel = safe_relpath(e.path)
        if rel is None:
            notes.append(f"skipped unsafe path {e.path!r}")
            failed.append((e.path, "its path is unsafe to write (absolute, '..' or empty parts)"))
        elif e.mode == "120000":
            notes.append(f"skipped symlink {rel}: links are never followed")
        elif e.mode == "160000":
            notes.append(f"skipped submodule {rel}")
        else:
            wanted.append(e)
    blobs = git.blobs(sorted({e.sha for e in wanted}))
    for e in wanted:
        try:
            write_file(dest, e.path, blobs.get(e.sha, b""), executable=e.mode == "100755")
        except (OSError, ValueError) as exc:
            failed.append((e.path, f"it could not be written to the scan workspace ({_why(exc)})"))
    return notes


def _why(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))[:200]


def copy_tree_files(
    src_root: Path, rels: Iterable[str], dest: Path, failed: Failed | None = None
) -> tuple[list[str], list[str]]:
    """Copy regular files that lie inside src_root; return (copied, notes). Failures go to failed."""
    failed = failed if failed is not None else []
    root = src_root.resolve()
    copied: list[str] = []
    notes: list[str] = []
    for rel in rels:
        safe = safe_relpath(rel)
        if safe is None:
            notes.append(f"skipped unsafe path {rel!r}")
            failed.append((rel, "its path is unsafe to copy (absolute, '..' or empty parts)"))
            continue
        full = root / safe
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            continue  # listed by git but gone from the tree: nothing to scan
        except OSError as exc:
            failed.append((safe, f"it could not be read from the tree ({_why(exc)})"))
            continue
        if stat.S_ISLNK(st.st_mode):
            notes.append(f"skipped symlink {safe}: links are never followed")
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        try:
            if not full.parent.resolve().is_relative_to(root):
                notes.append(f"skipped {safe}: it lies behind a link that leaves the repository")
                continue
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read()
            write_file(dest, safe, data, executable=bool(st.st_mode & stat.S_IXUSR))
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a link loop in resolve()
            failed.append((safe, f"it could not be copied to the scan workspace ({_why(exc)})"))
            continue
        copied.append(safe)
    return copied, notes


def walk_files(root: Path, failed: Failed | None = None) -> list[str]:
    """Every file below root, as relative POSIX paths, without entering excluded or linked dirs.

    Iterative (pipeline/fsutil.walk): no depth makes it raise. A cap it hits goes to failed.
    """
    stats = fsutil.WalkStats()
    out = [
        e.rel
        for e in fsutil.walk(root, skip_dirs=DEFAULT_EXCLUDED_DIRS, stats=stats)
        if not stat.S_ISDIR(e.st.st_mode) and not any(p in DEFAULT_EXCLUDED_DIRS for p in e.rel.split("/")[:-1])
    ]
    if failed is not None:
        if stats.cap_hit:
            failed.append(("", f"the directory walk stopped: {stats.cap_hit}"))
        if stats.unreadable:
            failed.append(("", f"{stats.unreadable} directories could not be listed"))
    return sorted(out)
