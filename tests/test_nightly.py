"""`airlock nightly` end to end on the generated repository (tests/nightly_repo.py): 30 agent branches, real
semgrep, bandit and trivy (sast stage only, to keep the suite's time modest)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airlock.pipeline.cli import main
from tests.conftest import airlock_env, cache_notes
from tests.nightly_repo import VULN, commit_on, git, make_repo, vulnerable_branches

BRANCHES = [f"agent/{b:02d}" for b in range(30)]
FLAGS = ["--branches", "agent/*", "--stages", "sast", "--offline"]


def _doc(out: Path) -> dict[str, Any]:
    return json.loads((out / "nightly.json").read_text(encoding="utf-8"))


def _by_branch(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["branch"]: b for b in doc["branches"]}


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """The generated repository and one unsharded nightly over it: (repo, output dir, exit code)."""
    root = tmp_path_factory.mktemp("nightly")
    repo = make_repo(root / "repo")
    out = root / "out"
    rc = main(["nightly", "--repo", str(repo), *FLAGS, "--output-dir", str(out)])
    return repo, out, rc


def test_every_agent_branch_against_its_merge_base(night: tuple[Path, Path, int]) -> None:
    repo, out, rc = night
    doc = _doc(out)
    entries = _by_branch(doc)
    assert sorted(entries) == BRANCHES  # not feature/human, not agent-like
    assert rc == 1 and doc["summary"]["exit_code"] == 1
    bases = set()
    for name, e in entries.items():
        assert e["head"] == git(repo, "rev-parse", f"refs/heads/{name}")
        assert e["base"] == git(repo, "merge-base", "main", f"refs/heads/{name}")
        bases.add(e["base"])
        report = json.loads((out / e["reports"]["json"]).read_text(encoding="utf-8"))
        assert (report["target"]["mode"], report["target"]["base"], report["target"]["head"]) == (
            "diff", e["base"], e["head"])
        changed = int(name[-2:]) % 5 + 1
        assert report["target"]["files"] == changed
        rules = {f["rule_id"] for f in report["findings"] if f["new"]}
        if name in vulnerable_branches():
            assert e["verdict"] == "failed" and "B602" in rules, (name, rules)
            assert e["by_severity"]["medium"] >= 1 and e["error"] is None
        else:
            assert e["verdict"] == "passed" and rules == set(), (name, rules)
        for fmt in ("json", "sarif", "html", "defectdojo"):
            assert (out / e["reports"][fmt]).stat().st_size > 100
        sarif = json.loads((out / e["reports"]["sarif"]).read_text(encoding="utf-8"))
        assert sarif["version"] == "2.1.0"
    assert len(bases) == 2  # main moved on after the first 15 branches forked
    dojo = json.loads((out / entries["agent/06"]["reports"]["defectdojo"]).read_text(encoding="utf-8"))
    assert {f["vuln_id_from_tool"] for f in dojo["findings"]} >= {"B602"}
    assert (out / "dashboard.html").read_text(encoding="utf-8").count("<circle") == 1
    assert doc["previous_run"] is None and doc["summary"]["new"] == sum(len(e["findings"]) for e in entries.values())


def test_one_branch_fixes_one_adds_next_night(night: tuple[Path, Path, int], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    repo0, out0, _rc = night
    repo, out = tmp_path / "repo", tmp_path / "out"
    shutil.copytree(repo0, repo, symlinks=True)
    shutil.copytree(out0, out, symlinks=True)
    before = _by_branch(_doc(out))
    fixed_fps = {f["fingerprint"] for f in before["agent/00"]["findings"]}
    assert len(fixed_fps) == 2  # B602 and B404 on the same file
    rel = before["agent/00"]["findings"][0]["path"]
    commit_on(repo, "agent/00", rel, '"""fixed"""\n', "agent fixes the shell call")
    commit_on(repo, "agent/01", "pkg/new_tool.py", VULN.format(n=99), "agent adds a shell call")

    # Night two over agent/0* only: agent/10..29 are gone from this run.
    rc = main(["nightly", "--repo", str(repo), "--branches", "agent/0*", "--stages", "sast", "--offline",
               "--output-dir", str(out)])
    doc = _doc(out)
    after = _by_branch(doc)
    assert rc == 1
    assert doc["previous_run"] is not None
    assert (after["agent/00"]["verdict"], after["agent/00"]["new"], after["agent/00"]["fixed"]) == ("passed", 0, 2)
    assert {f["fingerprint"] for f in after["agent/00"]["fixed_findings"]} == fixed_fps
    assert (after["agent/01"]["verdict"], after["agent/01"]["new"], after["agent/01"]["fixed"]) == ("failed", 2, 0)
    assert {f["rule_id"] for f in after["agent/01"]["findings"] if f["new_since_last_run"]} == {"B602", "B404"}
    for name in BRANCHES[2:10]:
        assert (after[name]["new"], after[name]["fixed"]) == (0, 0), name
    assert doc["branches_gone"] == BRANCHES[10:] and doc["branches_added"] == []
    assert doc["summary"]["new"] == 2 and doc["summary"]["fixed"] == 2
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert html.count("<circle") == 2 and "pkg/new_tool.py" in html

    # The history answers: where the new finding first appeared, who carries it, the counts per night.
    fp = next(f["fingerprint"] for f in after["agent/01"]["findings"] if f["rule_id"] == "B602")
    capsys.readouterr()
    assert main(["history", "first-seen", fp[:12], "--output-dir", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["branch"], r["rule_id"], r["run"]) for r in rows] == [("agent/01", "B602", "2")]
    assert main(["history", "branches", fp, "--output-dir", str(out), "--json"]) == 0
    assert [(r["branch"], r["current"]) for r in json.loads(capsys.readouterr().out)] == [("agent/01", "yes")]
    assert main(["history", "counts", "--output-dir", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["repository", "started_at", "label"] and len(table) == 3
    assert [line.split()[-2:] for line in table[1:]] == [[str(before_new := _doc(out0)["summary"]["new"]), "0"],
                                                           ["2", "2"]]
    assert before_new == 10


def test_shards_merged_equal_the_unsharded_run(night: tuple[Path, Path, int], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo, out_all, _rc = night
    shards = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
    # The three ways a shard learns its slice: --shard, a Kubernetes Indexed Job, GitLab parallel.
    assert main(["nightly", "--repo", str(repo), *FLAGS, "--shard", "1/3", "--output-dir", str(shards[0])]) in (0, 1)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("JOB_COMPLETIONS", "3")
    assert main(["nightly", "--repo", str(repo), *FLAGS, "--output-dir", str(shards[1])]) in (0, 1)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    monkeypatch.delenv("JOB_COMPLETIONS")
    monkeypatch.setenv("CI_NODE_INDEX", "3")
    monkeypatch.setenv("CI_NODE_TOTAL", "3")
    assert main(["nightly", "--repo", str(repo), *FLAGS, "--output-dir", str(shards[2])]) in (0, 1)
    monkeypatch.delenv("CI_NODE_INDEX")
    monkeypatch.delenv("CI_NODE_TOTAL")
    picked = [sorted(_by_branch(_doc(s))) for s in shards]
    assert [len(p) for p in picked] == [10, 10, 10] and sorted(sum(picked, [])) == BRANCHES
    assert [_doc(s)["shard"] for s in shards] == ["1/3", "2/3", "3/3"]

    merged = tmp_path / "merged"
    rc = main(["nightly", "merge", *map(str, shards), "--output-dir", str(merged)])
    assert rc == 1
    a, m = _doc(out_all), _doc(merged)
    assert m["branches"] == a["branches"]
    assert m["summary"] == a["summary"] and m["shard"] is None and m["repository"] == a["repository"]
    for e in m["branches"]:
        for fmt, rel in e["reports"].items():
            assert (merged / rel).read_bytes() != b"", (e["branch"], fmt)
    html = (merged / "dashboard.html").read_text(encoding="utf-8")
    assert html.count('<tr data-branch="') == 30 and html.count("<circle") == 1
    # Merging the same shards again is a second night: nothing new, nothing fixed.
    assert main(["nightly", "merge", *map(str, shards), "--output-dir", str(merged)]) == 1
    again = _doc(merged)
    assert again["summary"]["new"] == 0 and again["summary"]["fixed"] == 0 and again["previous_run"]


def test_two_concurrent_runs_sharing_an_output_dir(night: tuple[Path, Path, int], tmp_path: Path) -> None:
    repo, _out, _rc = night
    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "airlock", "nightly", "--repo", str(repo), "--branches", "agent/1*",
            "--stages", "sast", "--offline", "--output-dir", str(out)]
    procs = [subprocess.Popen(argv, env=airlock_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [r[1][-2000:] for r in results]
    for _stdout, stderr in results:
        assert "[10/10]" in stderr and "Traceback" not in stderr
    doc = _doc(out)
    entries = _by_branch(doc)
    assert sorted(entries) == [f"agent/1{i}" for i in range(10)]
    assert {n for n, e in entries.items() if e["verdict"] == "failed"} == {"agent/12", "agent/18"}
    for e in entries.values():
        for rel in e["reports"].values():
            text = (out / rel).read_text(encoding="utf-8")
            if rel.endswith((".json", ".sarif")):
                json.loads(text)
    assert not list(out.rglob("*.tmp")), "a half-written file was left behind"
    # Both runs are in the history, whole, one after the other: the later one saw the earlier as its previous.
    from airlock.pipeline.history.store import History, default_url

    with History(default_url(out)) as h:
        counts = h.counts(repo.name)
    assert len(counts) == 2 and all(c.branches == 10 and c.findings == 4 for c in counts)
    assert sorted(c.new for c in counts) == [0, 4]


def test_a_nights_union_runs_are_cached_under_each_branchs_own_paths(night: tuple[Path, Path, int],
                                                                       tmp_path: Path) -> None:
    """A union run of several branches' files is stored per branch and path, so the next night, and a plain
    scan of one of those branches, take every file from the cache and report exactly what the night did."""
    repo, _out, _rc = night
    cache, cold_out, warm_out = tmp_path / "cache", tmp_path / "cold", tmp_path / "warm"
    argv = ["nightly", "--repo", str(repo), "--branches", "agent/1*", "--stages", "sast", "--offline",
            "--cache-dir", str(cache)]
    assert main([*argv, "--output-dir", str(cold_out)]) == 1
    assert main([*argv, "--output-dir", str(warm_out)]) == 1
    for name in ("agent/12", "agent/13"):
        cold = json.loads((cold_out / _by_branch(_doc(cold_out))[name]["reports"]["json"]).read_text())
        warm = json.loads((warm_out / _by_branch(_doc(warm_out))[name]["reports"]["json"]).read_text())
        assert cache_notes(cold) == {}
        files = cold["target"]["files"]
        assert set(cache_notes(warm).values()) == {f"{files} of {files}"}, warm["notes"]
        assert warm["findings"] == cold["findings"]
        single = tmp_path / f"{name[-2:]}.json"
        main(["scan", str(repo), "--base", "main", "--head", name, "--stages", "sast", "--offline",
              "--cache-dir", str(cache), "--json-output", str(single)])
        scan = json.loads(single.read_text())
        assert set(cache_notes(scan).values()) == {f"{files} of {files}"}, scan["notes"]
        assert scan["findings"] == cold["findings"]
    # Nothing is stored under a union tree's slot paths.
    assert not [p for p in cache.rglob("*") if p.is_file() and b"slot-0" in p.read_bytes()]
