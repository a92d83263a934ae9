"""Throwaway copies of the scanned tree. Only regular files are written; links are never followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pipeline import fsutil, scratch
from pipeline.git import Git, TreeEntry

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
        fsutil.rmtree(path)


def write_file(dest_root: Path, rel: str, data: bytes, executable: bool = False) -> None:
    target = dest_root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent.resolve() != (dest_root.resolve() / rel).parent:
        raise OSError(f"refusing to write through a link: {rel}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(target, flags, 0o755 if executable else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def materialize_entries(git: Git, rev: str, entries: Iterable[TreeEntry], dest: Path) -> list[str]:
    """Write the regular files of a commit or index into dest; return notes on what was skipped."""
    notes: list[str] = []
    wanted: list[TreeEntry] = []
    for e in entries:
        rel = safe_relpath(e.path)
        if rel is None:
            notes.append(f"skipped unsafe path {e.path!r}")
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
        except OSError as exc:
            notes.append(f"skipped {e.path}: {exc.strerror or exc}")
    return notes


def copy_tree_files(src_root: Path, rels: Iterable[str], dest: Path) -> tuple[list[str], list[str]]:
    """Copy regular files that lie inside src_root; return (copied, notes)."""
    root = src_root.resolve()
    copied: list[str] = []
    notes: list[str] = []
    for rel in rels:
        safe = safe_relpath(rel)
        if safe is None:
            notes.append(f"skipped unsafe path {rel!r}")
            continue
        full = root / safe
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            notes.append(f"skipped symlink {safe}: links are never followed")
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if not full.parent.resolve().is_relative_to(root):
            notes.append(f"skipped {safe}: it lies behind a link that leaves the repository")
            continue
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read()
            write_file(dest, safe, data, executable=bool(st.st_mode & stat.S_IXUSR))
        except OSError as exc:
            notes.append(f"skipped {safe}: {exc.strerror or exc}")
            continue
        copied.append(safe)
    return copied, notes


def walk_files(root: Path) -> list[str]:
    """Every file below root, as relative POSIX paths, without entering excluded or linked dirs."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in DEFAULT_EXCLUDED_DIRS)
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            out.append((rel_dir / name).as_posix())
        # symlinked dirs appear in dirnames but os.walk does not descend into them
    return out
