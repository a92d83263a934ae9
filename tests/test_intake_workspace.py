"""Diff-mode intake writes only the changed files, and the whole head tree once a stage that needs it is planned.

A nightly of many branches spent most of a warm night writing every branch's unchanged files, which no static
check reads. The runtime stage runs the project, so it must still see every file of the head.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airlock.pipeline import proc
from airlock.pipeline.change import open_change
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import Git
from airlock.pipeline.models import ScanResult, ToolStatus
from airlock.pipeline.policy import Policy
from airlock.pipeline.scan import ScanOptions, plan
from airlock.scanners.interface import ScanContext
from tests.conftest import commit, git, make_repo, write_files


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"app.py": "x = 1\n", "lib/util.py": "y = 2\n", "tests/test_app.py": "\n"})
    os.symlink("app.py", repo / "alias.py")
    commit(repo, "base with a link")
    git(repo, "checkout", "-q", "-b", "agent/x")
    write_files(repo, {"app.py": "x = 3\n", "new.py": "z = 4\n"})
    commit(repo, "agent change")
    return repo


class _Stage:
    """A scanner of the given stage that runs nothing: plan() only needs its name and stage."""

    def __init__(self, stage: str) -> None:
        self.name, self.stage = f"fake-{stage}", stage

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return ()

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        return ScanResult(self.name, self.stage, ToolStatus.OK)


def test_a_diff_workspace_holds_the_changed_files_until_the_whole_tree_is_asked_for(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with open_change(repo, base="main", head="agent/x") as change:
        assert _files(change.workspace) == {"app.py", "new.py"}
        assert (change.workspace / "app.py").read_text() == "x = 3\n"
        notes = change.whole_workspace()
        assert _files(change.workspace) == {"app.py", "new.py", "lib/util.py", "tests/test_app.py"}
        assert (change.workspace / "app.py").read_text() == "x = 3\n"  # the head's version, not the base's
        assert notes == ("skipped symlink alias.py: links are never followed",)
        assert change.whole_workspace() == ()  # once
    assert not change.workspace.exists()


def test_planning_a_static_stage_keeps_the_workspace_small_and_runtime_fills_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    with open_change(repo, base="main", head="agent/x") as change:
        plan(change, Policy(), ScanOptions(stages=("sast", "iac")), [_Stage("sast"), _Stage("iac")])
        assert _files(change.workspace) == {"app.py", "new.py"}
        p = plan(change, Policy(), ScanOptions(stages=("sast", "runtime")), [_Stage("sast"), _Stage("runtime")])
        assert "lib/util.py" in _files(change.workspace) and "tests/test_app.py" in _files(change.workspace)
        assert "skipped symlink alias.py: links are never followed" in p.notes


def test_staged_and_patch_intake_fill_the_same_way(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write_files(repo, {"lib/util.py": "y = 5\n"})
    git(repo, "add", "lib/util.py")
    with open_change(repo, staged=True) as change:
        assert _files(change.workspace) == {"lib/util.py"}
        change.whole_workspace()
        assert (change.workspace / "lib/util.py").read_text() == "y = 5\n"
        assert _files(change.workspace) == {"app.py", "new.py", "lib/util.py", "tests/test_app.py"}
    git(repo, "reset", "-q", "--hard")
    patch = tmp_path / "p.diff"
    patch.write_text("--- a/new.py\n+++ b/new.py\n@@ -1 +1 @@\n-z = 4\n+z = 6\n")
    with open_change(repo, patch=patch) as change:
        assert change.mode == "patch" and change.base is None
        assert _files(change.workspace) == {"new.py"}
        change.whole_workspace()
        assert (change.workspace / "new.py").read_text() == "z = 6\n"
        assert _files(change.workspace) == {"app.py", "new.py", "lib/util.py", "tests/test_app.py"}


def test_gits_memos_vouch_only_for_what_git_said_in_that_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    g = Git(repo)
    assert Git.toplevel(repo) == repo.resolve()
    head = g.resolve("agent/x")
    entries = g.entries(head)
    blob = next(e.sha for e in entries if e.path == "app.py")
    assert g.blobs([blob]) == {blob: b"x = 3\n"}
    with pytest.raises(UsageError, match="unknown revision"):
        g.resolve("0" * 40)
    other = make_repo(tmp_path / "other", {"a.py": "1\n"})
    with pytest.raises(UsageError, match="unknown revision"):
        Git(other).resolve(head)  # verified in repo, not in other

    def no_git(*_a: object, **_k: object) -> object:
        raise AssertionError("git ran again for something immutable it already said")

    monkeypatch.setattr(proc, "run", no_git)
    monkeypatch.setattr(proc, "run_bytes", no_git)
    assert g.resolve(head) == head
    assert g.entries(head) == entries
    assert g.blobs([blob]) == {blob: b"x = 3\n"}
    assert Git.toplevel(repo) == repo.resolve()
    with pytest.raises(AssertionError):
        g.resolve("agent/x")  # a branch name moves: always asked
