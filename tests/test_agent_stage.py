"""The agent stage end to end: the fixture repository's agent branch commits every case, the clean branch none."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import FIXTURES, scan_json


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_fixture", FIXTURES / "agent" / "make_repo.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["agent_fixture"] = mod
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return GEN.build(tmp_path_factory.mktemp("agent-repo") / "repo")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def trivy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """trivy's offline DB: without one, trivy-deps gives no verdict on a change that touches dependency files."""
    cache = tmp_path_factory.mktemp("trivy") / "cache"
    shutil.copytree(FIXTURES / "trivy-db" / "cache", cache)
    return cache


def _scan(*args: Any, db: Path, tmp_path: Path) -> tuple[int, dict[str, Any], Any]:
    return scan_json(*args, "--offline", "--image-cache-dir", db, tmp_path=tmp_path)


def _agent(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["stage"] == "agent" and f["tool"] == "airlock"]


def test_agent_branch_reports_every_case(repo: Path, tmp_path: Path, trivy_cache: Path) -> None:
    code, report, done = _scan(
        repo, "--base", "main", "--head", "agent", "--stages", "agent", db=trivy_cache, tmp_path=tmp_path
    )
    assert code == 1, done.stderr
    got = {(f["rule_id"], f["path"], f["start_line"]) for f in _agent(report)}
    missing = GEN.EXPECTED - got
    assert not missing, f"missing {sorted(missing)}; got {sorted(got)}"
    extra = {g for g in got if g not in GEN.EXPECTED}
    assert not extra, f"unexpected {sorted(extra)}"
    assert [s["name"] for s in report["stages"]] == ["agent"]
    by_rule = {f["rule_id"]: f for f in _agent(report)}
    assert "test_mul" in by_rule["agent.test-skipped"]["message"]
    deleted = {f["message"] for f in _agent(report) if f["rule_id"] == "agent.test-deleted"}
    assert any("TestMore::test_gone" in m for m in deleted) and any("test_legacy" in m for m in deleted)
    assert not any("test_renamed" in m for m in deleted)


def test_clean_branch_has_nothing_above_info(repo: Path, tmp_path: Path, trivy_cache: Path) -> None:
    code, report, done = _scan(
        repo, "--base", "main", "--head", "clean", "--stages", "agent", db=trivy_cache, tmp_path=tmp_path
    )
    assert code == 0, done.stderr
    above = [(f["rule_id"], f["path"], f["severity"]) for f in _agent(report) if f["severity"] != "info"]
    assert above == []
    assert report["stages"][0]["status"] == "passed"


def test_full_mode_runs_only_the_head_only_checks(tmp_path: Path, trivy_cache: Path) -> None:
    tree = tmp_path / "tree"
    files = {
        "src/a.py": "x = 'user\u202e \u2066# admin\u2069 \u2066'\n",
        "tests/test_a.py": "def test_a():\n    assert True\n",
        "requirements.txt": "flask==3.0\nreqeusts==1.0\n",
        ".github/workflows/ci.yml": "on: [push]\njobs: {t: {steps: [{run: 'true'}]}}\n",
        "AGENTS.md": "# Agents\n\nRun the tests.\n",
    }
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text, encoding="utf-8")
    code, report, done = _scan(tree, "--stages", "agent", db=trivy_cache, tmp_path=tmp_path)
    assert code == 1, done.stderr
    got = sorted((f["rule_id"], f["path"], f["start_line"]) for f in _agent(report))
    assert got == [
        ("agent.bidi-control", "src/a.py", 1),
        ("agent.dependency-lookalike", "requirements.txt", 2),
        ("agent.dependency-unverified", "requirements.txt", 1),
    ]


def test_hostile_manifests_are_unchecked_not_crashes(tmp_path: Path, trivy_cache: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "web").mkdir(parents=True)
    (tree / "web" / "package.json").write_text("[" * 100_000 + "]" * 100_000)
    (tree / "Pipfile").write_text("[packages\nname = \n")
    code, report, done = _scan(tree, "--stages", "agent", db=trivy_cache, tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert sorted((f["rule_id"], f["path"]) for f in _agent(report)) == [
        ("agent.unchecked", "Pipfile"),
        ("agent.unchecked", "web/package.json"),
    ]
    assert {t["name"]: t["status"] for s in report["stages"] for t in s["tools"]}["airlock"] == "ok"
