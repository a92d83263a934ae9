"""--patch on a plain directory: a `.git` file the input carries never points airlock's own git calls elsewhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import airlock_env, git, make_repo, scan_json


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_a_gitdir_file_in_the_input_cannot_redirect_the_scratch_repository(tmp_path: Path) -> None:
    # The gitdir is relative: from the project it points nowhere (so the project is a plain directory), but from
    # the scratch copy at $TMPDIR/airlock-run.*/airlock-patch.*/ it points at the victim in $TMPDIR.
    tmpdir = tmp_path / "t"
    victim = make_repo(tmpdir / "victim", {"README.md": "the victim\n"})
    before_head = git(victim, "rev-parse", "HEAD")
    before = _tree_digest(victim / ".git")
    plain = tmp_path / "work" / "project"
    plain.mkdir(parents=True)
    (plain / "app.py").write_text("print('hi')\n")
    (plain / ".git").write_text("gitdir: ../../victim/.git\n")
    patch = tmp_path / "change.patch"
    patch.write_text(
        "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1 +1,2 @@\n print('hi')\n+print('there')\n"
    )
    code, report, done = scan_json(
        plain, "--patch", patch, "--stages", "sast", tmp_path=tmp_path, env=airlock_env({"TMPDIR": str(tmpdir)})
    )
    assert report, done.stderr
    assert code in (0, 1)
    assert [f["path"] for f in report["findings"] if f["path"] == ".git"] == []
    # Nothing was written into the victim: same HEAD, same objects, same index.
    assert git(victim, "rev-parse", "HEAD") == before_head
    assert _tree_digest(victim / ".git") == before
