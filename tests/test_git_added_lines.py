"""Added line ranges come from git's blobs compared with difflib, never from diff text an agent can shape."""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.pipeline.git import INDEX, Git, added_ranges, split_lines
from tests.conftest import commit, git, make_repo

# Lines that imitate diff structure, plus ordinary ones.
TRICKY = [
    "+++ b/other.py",
    "++ b/other.py",
    "--- a/x.py",
    "-- a/x.py",
    "@@ -1,3 +1,4 @@",
    "@ -0,0 +1 @@",
    "diff --git a/x b/x",
    "\\ No newline at end of file",
    "x = 1",
    "eval(x)  # nosec",
    "",
    " ",
    "\r",
]
contents = st.lists(st.sampled_from(TRICKY), max_size=14).map(lambda ls: "\n".join(ls))
endings = st.sampled_from(["", "\n"])


def reference(old: bytes, new: bytes) -> list[tuple[int, int]]:
    """What difflib says the change added, computed independently of airlock."""
    a, b = old.split(b"\n"), new.split(b"\n")
    if a[-1] == b"":
        a.pop()
    if b[-1] == b"":
        b.pop()
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [(j1 + 1, j2) for tag, _i1, _i2, j1, j2 in ops if tag in ("replace", "insert") and j2 > j1]


def hostile_repo(path: Path, old: bytes) -> Path:
    """A repository whose attributes and diff settings would blind a diff-text parser."""
    make_repo(path, {".gitattributes": "*.py -diff\n"})
    for key, value in (("diff.noprefix", "true"), ("diff.mnemonicPrefix", "true"), ("diff.external", "false")):
        git(path, "config", key, value)
    (path / "app.py").write_bytes(old)
    commit(path, "base")
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=contents, new=contents, end_old=endings, end_new=endings)
def test_ranges_through_git_equal_difflib_in_staged_and_diff_modes(
    old: str, new: str, end_old: str, end_new: str
) -> None:
    old_b, new_b = (old + end_old).encode(), (new + end_new).encode()
    with tempfile.TemporaryDirectory() as tmp:
        repo = hostile_repo(Path(tmp) / "r", old_b)
        base = git(repo, "rev-parse", "HEAD")
        (repo / "app.py").write_bytes(new_b)
        git(repo, "add", "-A")
        want = reference(old_b, new_b)
        staged = {f.path: list(f.added_lines) for f in Git(repo).changed_files(base, INDEX)}
        assert staged.get("app.py", []) == want
        head = commit(repo, "head")
        diff = {f.path: list(f.added_lines) for f in Git(repo).changed_files(base, head)}
        assert diff.get("app.py", []) == want


@settings(max_examples=300, deadline=None)
@given(old=st.lists(st.sampled_from(TRICKY[:6] + ["a", "b"]), max_size=1500), new_ops=st.data())
def test_unadded_lines_are_base_lines_in_order(old: list[str], new_ops: st.DataObject) -> None:
    new = new_ops.draw(st.lists(st.sampled_from(TRICKY[:6] + ["a", "b", "c"]), max_size=1500))
    old_b, new_b = "\n".join(old).encode(), "\n".join(new).encode()
    ranges = added_ranges(old_b, new_b)
    b = split_lines(new_b)
    added = {n for lo, hi in ranges for n in range(lo, hi + 1)}
    kept = [line for n, line in enumerate(b, 1) if n not in added]
    it = iter(split_lines(old_b))
    assert all(any(line == x for x in it) for line in kept), "a line counted as unchanged is not in the base"
    assert all(n in added for n, line in enumerate(b, 1) if line not in set(split_lines(old_b)))
    if max(len(split_lines(old_b)), len(b)) <= 1000:
        assert ranges == reference(old_b, new_b)


def test_large_files_fall_back_to_more_added_never_fewer() -> None:
    old = b"x\n" * 3000 + b"z\n" * 3000
    new = b"y\n" + b"z\n" * 3000 + b"x\n" * 3000
    ranges = added_ranges(old, new)
    assert ranges and ranges[0][0] == 1
    same = b"".join(b"%d\n" % i for i in range(20000))
    assert added_ranges(same, same.replace(b"\n10000\n", b"\nchanged\n")) == [(10001, 10001)]


def test_content_line_that_looks_like_a_file_header_keeps_later_hunks_in_place(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "a\nb\nc\nd\ne\n"})
    base = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text("a\n++ b/other.py\nb\nc\nd\nnew  # nosec\ne\n")
    head = commit(repo, "head")
    files = {f.path: f.added_lines for f in Git(repo).changed_files(base, head)}
    assert files == {"app.py": ((2, 2), (6, 6))}
    # The same diff as text really does print the content line as a file header.
    text = subprocess.run(["git", "diff", "-U0", base, head], cwd=repo, capture_output=True, text=True).stdout
    assert "\n+++ b/other.py\n" in text


def test_entries_filter_by_file_or_directory_without_a_pathspec(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r", {"ci/semgrep/a.yaml": "x", "ci/semgrepx/b.yaml": "y", "airlock.toml": "", "d/airlock.toml": ""}
    )
    got = sorted(e.path for e in Git(repo).entries("HEAD", ["ci/semgrep", "airlock.toml", "missing"]))
    assert got == ["airlock.toml", "ci/semgrep/a.yaml"]
    assert Git(repo).entries("HEAD", []) == []
