"""Every changed file is scanned, or the gate says so with airlock.unscanned (real git, semgrep, bandit, checkov)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airlock.pipeline import fsutil
from airlock.scanners.tooling import MAX_TARGET_BYTES, argv_batches
from tests.conftest import GIT_ENV, commit, git, make_repo, rule_ids, scan_json, write_files

PAYLOAD = "import os\nos.system(input())\nAWS = 'AKIAQWERTYUIOPASDFGHJ'\n"


def _unscanned(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["tool"], f["path"]): f for f in report["findings"] if f["rule_id"] == "airlock.unscanned"}


def test_file_over_the_size_cap_fails_the_gate(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.py").write_text(PAYLOAD + "#" * 80 + "\n" + ("# padding\n" * (MAX_TARGET_BYTES // 10 + 10)))
    code, report, done = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    found = _unscanned(report)
    assert {("semgrep", "big.py"), ("bandit", "big.py")} <= set(found)
    f = found[("bandit", "big.py")]
    assert f["severity"] == "high" and f["stage"] == "sast" and f["new"] is True and f["suppression"] is None
    assert "over airlock's 5242880-byte limit" in f["message"]


def test_file_over_the_size_cap_in_diff_mode_is_new_even_when_the_base_was_big(tmp_path: Path) -> None:
    padding = "# padding\n" * (MAX_TARGET_BYTES // 10 + 10)
    repo = make_repo(tmp_path / "repo", {"big.py": "x = 1\n" + padding})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {"big.py": PAYLOAD + padding})
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    found = _unscanned(report)
    assert found[("bandit", "big.py")]["new"] is True and found[("semgrep", "big.py")]["new"] is True


def test_syntax_bandit_cannot_parse_is_unscanned(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    # PEP 695 syntax: Python 3.11's ast (bandit's) rejects it, so bandit sees nothing in the file.
    (tree / "new.py").write_text("type Alias = int\n\n\ndef f(x):\n    return x\n")
    if sys.version_info >= (3, 12):
        pytest.skip("LOUD: this Python's ast parses PEP 695, so bandit has no syntax error to report here")
    code, report, done = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    assert "syntax error" in _unscanned(report)[("bandit", "new.py")]["message"]


def test_semgrep_rule_timeout_is_unscanned(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    # Big enough that semgrep's per-rule timeout (5 s) trips, under airlock's own size cap.
    (tree / "slow.py").write_text(PAYLOAD + "x = 1\n" * 700_000)
    code, report, done = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    f = _unscanned(report)[("semgrep", "slow.py")]
    assert "Timeout" in f["message"] and f["severity"] == "high"


def test_checkov_manifest_it_cannot_read_is_unscanned(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: [\nspec:\n  containers:\n"
        "    - name: web\n      image: nginx\n      securityContext:\n        privileged: true\n"
    )
    code, report, done = scan_json(tree, "--stages", "iac", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    assert ("checkov", "pod.yaml") in _unscanned(report)
    iac = next(s for s in report["stages"] if s["name"] == "iac")
    assert iac["tools"][0]["status"] == "ok"


def test_path_longer_than_path_max_is_unscanned(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    long_path = "/".join(["d" * 250] * 20) + "/evil.py"  # 5,000+ bytes: no tool can open it
    env = {**os.environ, **GIT_ENV}
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo,
        input=PAYLOAD,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    git(repo, "checkout", "-q", "-b", "agent")
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{long_path}")
    tree = git(repo, "write-tree")
    head = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "agent change")
    git(repo, "update-ref", "refs/heads/agent", head)
    code, report, done = scan_json(repo, "--base", "main", "--head", "agent", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert ("airlock", long_path) in _unscanned(report)


def test_deep_tree_does_not_raise_and_is_reported(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ok.py").write_text("x = 1\n")
    fd = os.open(tree, os.O_RDONLY)
    try:
        for _ in range(10_000):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("deep.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, PAYLOAD.encode())
        os.close(leaf)
    finally:
        os.close(fd)
    try:
        code, report, done = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
        assert "RecursionError" not in done.stderr and "Traceback" not in done.stderr
        assert code == 1, done.stdout + done.stderr
        walk = [f for f in report["findings"] if f["rule_id"] == "airlock.unscanned" and f["tool"] == "airlock"]
        assert walk and "nested deeper than" in walk[0]["message"]
    finally:
        assert fsutil.rmtree(tree)


def test_fifty_thousand_files_do_not_overflow_a_command_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    for i in range(50_000):
        d = repo / f"pkg{i // 1000}"
        d.mkdir(exist_ok=True)
        (d / f"module_with_a_fairly_long_name_{i}.txt").write_text("a: 1\n")
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "iac", tmp_path=tmp_path, timeout=1800)
    assert "Argument list too long" not in done.stderr + done.stdout, done.stderr
    assert code == 0, done.stdout + done.stderr
    assert report["target"]["files"] == 50_000
    assert rule_ids(report) == []


def test_argv_batches_stay_under_the_budget() -> None:
    items = [f"dir/{'x' * 200}/{i}.py" for i in range(50_000)]
    batches = argv_batches(items, per_item=4)
    assert [x for b in batches for x in b] == items
    assert all(sum(len(x) + 5 for x in b) <= 256 * 1024 and len(b) <= 4_000 for b in batches)
    assert argv_batches([]) == []


def test_file_bandit_silently_skips_is_caught_by_the_cross_check(tmp_path: Path) -> None:
    # bandit drops explicitly named files under its default excluded dirs (.tox, .git, ...) without a word.
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {".tox/evil.py": "def f(x):\n    return x\n"})
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    f = _unscanned(report)[("bandit", ".tox/evil.py")]
    assert "metrics do not list it as scanned" in f["message"]
