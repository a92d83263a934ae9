"""The iterative walk and removal: no tree a change can build breaks them."""

from __future__ import annotations

import os
from pathlib import Path

from airlock.pipeline.fsutil import WalkStats, rmtree, walk


def _deep(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY)
    for i in range(depth):
        os.mkdir("d" * 40, dir_fd=fd)
        nfd = os.open("d" * 40, os.O_RDONLY, dir_fd=fd)
        if i % 500 == 0:
            os.mkfifo("fifo", dir_fd=nfd)
            os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o000, dir_fd=nfd))
        if i == 1200:
            os.mkdir("locked", dir_fd=nfd)
            os.chmod("locked", 0, dir_fd=nfd)
        os.close(fd)
        fd = nfd
    os.close(fd)


def test_walk_of_a_deep_tree_stops_at_the_depth_cap_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    _deep(tmp_path / "t", 3000)
    stats = WalkStats()
    entries = list(walk(tmp_path / "t", stats=stats, max_depth=256))
    assert stats.max_depth == 256
    assert stats.cap_hit == "directories nested deeper than 256 levels"
    assert len(entries) == 256 + 2  # 256 dirs, plus the FIFO and file at the top level
    assert rmtree(tmp_path / "t")  # pytest's own cleanup recurses and cannot remove such a tree


def test_walk_entry_cap_is_reported(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"f{i}").write_text("x")
    stats = WalkStats()
    assert len(list(walk(tmp_path, stats=stats, max_entries=10))) == 10
    assert stats.cap_hit == "more than 10 entries"


def test_walk_never_follows_links(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    os.symlink("/etc", tmp_path / "inside" / "etc")
    rels = [e.rel for e in walk(tmp_path)]
    assert rels == ["inside", "inside/etc"]


def test_rmtree_removes_a_deep_hostile_tree(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    _deep(tmp_path / "t", 3000)
    os.symlink("/etc/passwd", tmp_path / "t" / "link")
    assert rmtree(tmp_path / "t") is True
    assert not (tmp_path / "t").exists()
    assert Path("/etc/passwd").exists()  # the link was removed, not followed


def test_rmtree_of_missing_path_is_fine(tmp_path: Path) -> None:
    assert rmtree(tmp_path / "nope") is True
