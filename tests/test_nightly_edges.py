"""Nightly inputs from the scanned repository: hostile branch names, and a branch whose base policy is broken.
Fast on purpose: the iac stage finds nothing to scan in these repos, so only intake, gate and writers run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airlock.pipeline.cli import main
from tests.nightly_repo import commit_all, git

HOSTILE = ["agent/<svg/onload=alert(1)>", "agent/\u202eevil\u202c.py"]  # git refuses spaces and ':' in refs


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("x = 1\n", encoding="utf-8")
    commit_all(repo, "base")
    return repo


def _branch(repo: Path, name: str, start: str = "main") -> None:
    git(repo, "checkout", "-q", "-b", name, start)
    (repo / "app.py").write_text(f"x = {len(name)}\n", encoding="utf-8")
    commit_all(repo, "change")
    git(repo, "checkout", "-q", "main")


def test_hostile_branch_names_stay_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path)
    names = HOSTILE
    for name in ["agent/plain", *names]:
        _branch(repo, name)
    out = tmp_path / "out"
    assert main(["nightly", "--repo", str(repo), "--branches", "agent/*", "--stages", "iac",
                 "--output-dir", str(out)]) == 0
    err = capsys.readouterr().err
    doc = json.loads((out / "nightly.json").read_text(encoding="utf-8"))
    assert sorted(b["branch"] for b in doc["branches"]) == sorted(["agent/plain", *names])  # exact round trip
    dirs = sorted(p.name for p in (out / "branches").iterdir())
    assert len(dirs) == len(names) + 1 and all(p.parent == out / "branches" for p in (out / "branches").iterdir())
    assert all("<" not in d and "\u202e" not in d for d in dirs)
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert "<svg/onload" not in html and "&lt;svg/onload=alert(1)&gt;" in html
    assert "\u202e" not in html and "\\u202eevil" in html
    assert "\u202e" not in err and "\\u202eevil" in err  # the CI log line, cleaned


def test_a_branch_that_errors_does_not_stop_the_others(tmp_path: Path) -> None:
    """agent/old forked while main's airlock.toml was broken: its base policy cannot load, so it errors (exit 2);
    agent/new forked after the fix and passes. The branch cannot pick its own policy: it comes from the base."""
    repo = _repo(tmp_path)
    (repo / "airlock.toml").write_text("stages = [\n", encoding="utf-8")
    commit_all(repo, "broken policy")
    _branch(repo, "agent/old")
    (repo / "airlock.toml").write_text('stages = ["iac"]\n', encoding="utf-8")
    commit_all(repo, "fixed policy")
    _branch(repo, "agent/new")
    out = tmp_path / "out"
    assert main(["nightly", "--repo", str(repo), "--branches", "agent/*", "--output-dir", str(out)]) == 2
    entries = {b["branch"]: b for b in json.loads((out / "nightly.json").read_text(encoding="utf-8"))["branches"]}
    assert entries["agent/new"]["verdict"] == "passed" and entries["agent/new"]["error"] is None
    assert entries["agent/old"]["verdict"] == "error" and "airlock.toml" in entries["agent/old"]["error"]
    assert entries["agent/old"]["reports"] == {} and (out / entries["agent/new"]["reports"]["html"]).is_file()
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert 'data-verdict="error"' in html and 'data-verdict="passed"' in html
