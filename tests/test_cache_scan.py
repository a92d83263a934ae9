"""The content cache with the real semgrep, bandit and trivy through `airlock scan --cache-dir`.

A warm scan must report exactly what a cold one does; anything the result depends on (the bytes, the rule
pack, the policy's tool settings, the tool's version) must miss; two scans writing one cache at once must
leave it correct; and no entry, however broken or planted, may change a result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import airlock_env, cache_notes, commit, git, make_repo, run_airlock, scan_json, write_files

GH_TOKEN = "ghp_R7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2nXq1"  # a made-up token in GitHub's format
TREE = {
    "app.py": (
        "import subprocess\n\nimport yaml\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n\n\n"
        "def load(text):\n    return yaml.load(text)\n\n\ndef hello():\n    print('hi')\n"
    ),
    "keys.py": f'TOKEN = "{GH_TOKEN}"\n',
    "util.py": "def add(a, b):\n    return a + b\n",
    "sup.py": "import pickle\n\n\ndef f(b):\n    return pickle.loads(b)  # nosec\n",
    "rules/extra.yaml": (
        "rules:\n  - id: test.print-call\n    languages: [python]\n    severity: WARNING\n"
        "    message: a print call\n    pattern: print(...)\n"
    ),
    "airlock.toml": '[tools.semgrep]\nrules = ["rules/extra.yaml"]\n',
}
PY_FILES = 4
ALL_FILES = len(TREE)


def _scan(tree: Path, cache: Path, tmp: Path, *extra: str) -> dict[str, Any]:
    code, report, done = scan_json(tree, "--stages", "sast", "--cache-dir", cache, *extra, tmp_path=tmp)
    assert code in (0, 1), done.stderr
    return report


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A tree, a cache filled by one cold scan of it, and that scan's report."""
    tmp = tmp_path_factory.mktemp("cold")
    tree = tmp / "tree"
    write_files(tree, TREE)
    cache = tmp / "cache"
    report = _scan(tree, cache, tmp)
    assert cache_notes(report) == {}
    ids = {(f["rule_id"], f["path"]) for f in report["findings"]}
    ids |= {(s["rule_id"], f["path"]) for f in report["findings"] for s in f.get("sources", [])}
    assert {("B602", "app.py"), ("B506", "app.py"), ("test.print-call", "app.py"), ("B301", "sup.py")} <= ids
    tools = {(s["tool"], f["path"]) for f in report["findings"] for s in f.get("sources", [])}
    assert ("trivy-secret", "keys.py") in tools
    return tree, cache, report


def _copy(cold: tuple[Path, Path, dict[str, Any]], tmp: Path) -> tuple[Path, Path]:
    tree, cache, _ = cold
    shutil.copytree(tree, tmp / "tree")
    shutil.copytree(cache, tmp / "cache", symlinks=True)
    return tmp / "tree", tmp / "cache"


def _same_findings(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["findings"] == b["findings"]  # rule ids, lines, snippets, fingerprints, suppressions, all of it
    assert a["gate"] == b["gate"]


def test_a_warm_scan_reports_exactly_what_the_cold_one_did(cold: tuple[Path, Path, dict[str, Any]],
                                                            tmp_path: Path) -> None:  # fmt: skip
    tree, cache, first = cold
    warm = _scan(tree, cache, tmp_path)
    _same_findings(first, warm)
    assert cache_notes(warm) == {
        "semgrep": f"{PY_FILES} of {PY_FILES}", "bandit": f"{PY_FILES} of {PY_FILES}",
        "trivy-secret": f"{ALL_FILES} of {ALL_FILES}",
    }  # fmt: skip
    tools = {t["name"]: t for s in warm["stages"] for t in s["tools"]}
    assert tools["semgrep"]["version"] == next(t for s in first["stages"] for t in s["tools"]
                                               if t["name"] == "semgrep")["version"]  # fmt: skip
    # Secrets stay masked on a hit, as on a miss, and the token is nowhere in the cache.
    assert GH_TOKEN not in json.dumps(warm)
    assert all(GH_TOKEN not in p.read_text() for p in cache.rglob("*.json"))


def test_a_changed_byte_rule_pack_or_policy_misses(cold: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    tree, cache = _copy(cold, tmp_path)
    # One byte of one file: that file alone is scanned again, by every tool that reads it.
    (tree / "util.py").write_text(TREE["util.py"].replace("a + b", "a - b"))
    r = _scan(tree, cache, tmp_path)
    assert cache_notes(r) == {
        "semgrep": f"{PY_FILES - 1} of {PY_FILES}", "bandit": f"{PY_FILES - 1} of {PY_FILES}",
        "trivy-secret": f"{ALL_FILES - 1} of {ALL_FILES}",
    }  # fmt: skip
    # The rule pack: semgrep misses every file (and reports the new message); bandit is not affected.
    (tree / "rules/extra.yaml").write_text(TREE["rules/extra.yaml"].replace("a print call", "print is banned"))
    r = _scan(tree, cache, tmp_path)
    notes = cache_notes(r)
    assert "semgrep" not in notes and notes["bandit"] == f"{PY_FILES} of {PY_FILES}"
    messages = {f["message"] for f in r["findings"] if f["rule_id"] == "test.print-call"}
    assert messages == {"print is banned"}
    # The policy's semgrep settings: another rule file listed misses semgrep again.
    (tree / "rules/more.yaml").write_text(TREE["rules/extra.yaml"].replace("test.print-call", "test.print-two"))
    (tree / "airlock.toml").write_text('[tools.semgrep]\nrules = ["rules/extra.yaml", "rules/more.yaml"]\n')
    r = _scan(tree, cache, tmp_path)
    assert "semgrep" not in cache_notes(r)
    assert {"test.print-call", "test.print-two"} <= {s["rule_id"] for f in r["findings"] for s in f["sources"]} | {
        f["rule_id"] for f in r["findings"]
    }
    # The gate's settings reach no tool: every result is a hit, and the gate still follows the new policy.
    before = r
    (tree / "airlock.toml").write_text(
        '[gate]\nmax_new = 1000\n[tools.semgrep]\nrules = ["rules/extra.yaml", "rules/more.yaml"]\n'
    )
    r = _scan(tree, cache, tmp_path)
    all_py = f"{PY_FILES} of {PY_FILES}"
    # trivy-secret reads airlock.toml itself too: that one file misses.
    assert cache_notes(r) == {"semgrep": all_py, "bandit": all_py, "trivy-secret": f"{ALL_FILES} of {ALL_FILES + 1}"}
    assert before["gate"]["verdict"] == "failed" and r["gate"]["verdict"] == "passed"
    assert [f["fingerprint"] for f in r["findings"]] == [f["fingerprint"] for f in before["findings"]]


def test_a_new_tool_version_misses(cold: tuple[Path, Path, dict[str, Any]], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The version each binary last reported is the boundary airlock owns: fake it, and nothing may hit."""
    from airlock.pipeline import cli
    from airlock.pipeline.cached_scanner import CachedScanner

    tree, cache = _copy(cold, tmp_path)
    monkeypatch.setattr(CachedScanner, "known_version", lambda self, ident: "0.0.0-upgraded")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    out = tmp_path / "r.json"
    code = cli.main(["scan", str(tree), "--stages", "sast", "--cache-dir", str(cache), "--json-output", str(out),
                     "-o", os.devnull])  # fmt: skip
    report = json.loads(out.read_text())
    assert code == 1 and cache_notes(report) == {}
    _same_findings(cold[2], report)


def test_two_concurrent_scans_share_one_cache_correctly(cold: tuple[Path, Path, dict[str, Any]],
                                                        tmp_path: Path) -> None:  # fmt: skip
    from airlock.pipeline.cache_store import FORMAT

    tree, _, first = cold
    cache = tmp_path / "shared-cache"
    outs = [tmp_path / f"r{n}.json" for n in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "airlock", "scan", str(tree), "--stages", "sast", "--cache-dir", str(cache),
             "--json-output", str(out), "-o", os.devnull],
            env=airlock_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        for out in outs
    ]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 1, err.decode()
    for out in outs:
        _same_findings(first, json.loads(out.read_text()))
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries and not [p for p in entries if p.name.startswith(".tmp-")]
    for p in entries:
        doc = json.loads(p.read_text())
        assert set(doc) == {"format", "key", "payload"} and doc["format"] == FORMAT
    warm = _scan(tree, cache, tmp_path)
    _same_findings(first, warm)
    assert cache_notes(warm)["semgrep"] == f"{PY_FILES} of {PY_FILES}"


def test_hostile_entries_change_nothing(cold: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    tree, cache = _copy(cold, tmp_path)
    entries = sorted((cache / "v1" / "results").rglob("*.json"))
    assert len(entries) == 2 * PY_FILES + ALL_FILES
    for i, entry in enumerate(entries):
        kind = i % 4
        if kind == 0:
            entry.write_bytes(b'{"format": 1, "key": ')  # truncated
        elif kind == 1:
            entry.write_bytes(b"[" * 200_000)  # garbage, and deep
        elif kind == 2:
            entry.unlink()
            entry.symlink_to(entries[0])
        else:
            with open(entry, "wb") as fh:
                fh.truncate(64 * 1024 * 1024)  # huge (sparse)
    r = _scan(tree, cache, tmp_path)
    assert cache_notes(r) == {}
    _same_findings(cold[2], r)


def test_diff_scans_cache_head_and_base_runs(tmp_path: Path) -> None:
    # The repo's own rule file is read from a fresh copy of the base each run: semgrep must still hit.
    repo = make_repo(tmp_path / "repo", TREE)
    git(repo, "checkout", "-q", "-b", "agent/one")
    write_files(repo, {"app.py": TREE["app.py"] + "\n\ndef more(x):\n    return eval(x)\n", "new.py": "x = 1\n"})
    commit(repo, "agent change")
    cache = tmp_path / "cache"
    first = _scan(repo, cache, tmp_path, "--base", "main")
    second = _scan(repo, cache, tmp_path, "--base", "main")
    _same_findings(first, second)
    assert {f["new"] for f in first["findings"]} == {True, False}  # the base run told old from new
    assert "test.print-call" in {f["rule_id"] for f in first["findings"]}
    assert cache_notes(second) == {"semgrep": "2 of 2", "bandit": "2 of 2", "trivy-secret": "2 of 2"}


def test_no_cache_writes_nothing_and_the_default_is_xdg(tmp_path: Path, private_cache_home: Path) -> None:
    write_files(tmp_path / "t", {"util.py": TREE["util.py"]})
    cfg = tmp_path / "airlock.toml"
    cfg.write_text("[tools.semgrep]\nenabled = false\n")
    code, report, done = scan_json(tmp_path / "t", "--stages", "sast", "--config", cfg, "--no-cache",
                                   tmp_path=tmp_path)  # fmt: skip
    assert code == 0, done.stderr
    assert not (private_cache_home / "airlock").exists()
    code, report, done = scan_json(tmp_path / "t", "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 0, done.stderr
    assert sorted(p.parent.parent.name for p in (private_cache_home / "airlock").rglob("*.json")) == [
        "bandit", "bandit", "trivy-secret", "trivy-secret",  # a result and a version each
    ]  # fmt: skip
    assert oct((private_cache_home / "airlock").stat().st_mode & 0o777) == "0o700"


def test_cache_options_are_checked_in_one_line(tmp_path: Path) -> None:
    done = run_airlock("scan", tmp_path, "--no-cache", "--cache-dir", tmp_path / "c")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--no-cache" in done.stderr
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    loose.chmod(0o777)
    done = run_airlock("scan", tmp_path, "--cache-dir", loose)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "writable by other users" in done.stderr
