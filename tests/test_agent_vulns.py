"""Known vulnerabilities of added dependency versions: the real trivy with the fixture DB, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, commit, git, make_repo, scan_json, write_files


def _repo(tmp: Path) -> Path:
    repo = make_repo(tmp / "repo", {"requirements.txt": "requests==2.19.0\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {"requirements.txt": "requests==2.19.0\nurllib3==2.0.0\n"})
    commit(repo, "add urllib3")
    return repo


def test_only_what_the_change_added_is_reported(tmp_path: Path) -> None:
    cache = tmp_path / "trivy-cache"
    shutil.copytree(FIXTURES / "trivy-db" / "cache", cache)
    code, report, done = scan_json(_repo(tmp_path), "--base", "main", "--stages", "agent", "--offline",
                                   "--image-cache-dir", cache, "--fail-on", "medium", tmp_path=tmp_path)
    assert code == 1, done.stderr
    vulns = [(f["tool"], f["rule_id"], f["path"], f["start_line"], f["severity"]) for f in report["findings"]
             if f["tool"] == "trivy"]
    # requests 2.19.0 (CVE-2018-18074) was already in the base: old, not reported.
    assert vulns == [("trivy", "CVE-2024-37891", "requirements.txt", 2, "medium")]
    tools = {t["name"]: t["status"] for s in report["stages"] for t in s["tools"]}
    assert tools == {"airlock": "ok", "trivy-deps": "ok"}


def test_without_a_db_there_is_no_verdict_and_the_fix_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    code, report, done = scan_json(_repo(tmp_path), "--base", "main", "--stages", "agent", "--offline",
                                   "--image-cache-dir", empty, tmp_path=tmp_path)
    assert code == 2, done.stderr  # a check that cannot run never passes
    (deps,) = [t for s in report["stages"] for t in s["tools"] if t["name"] == "trivy-deps"]
    assert deps["status"] == "error" and "no trivy vulnerability DB" in deps["error"]
    assert "--image-cache-dir" in deps["error"]
