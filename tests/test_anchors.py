"""Every finding can be shown somewhere: GitHub rejects SARIF results without a location.

Unit tests of pipeline/anchors.py, the SARIF writer's locations and categories checked on the golden report and on
path-less findings of every kind, and one real runtime-free scan whose SARIF is validated against the official schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airlock.pipeline.anchors import FALLBACK, anchored
from airlock.pipeline.models import Anchor, Finding, Severity
from airlock.reports.sarif import sarif_dict, split_sarif
from tests.report_fixture import sample_report

CONFIG = ("airlock.toml", '[gate]\nfail_on = "high"\n\n[runtime]\ncommands = [\n  "python -m pytest -q",\n'
          '  "sh -c \\"make all\\"",\n]\n[image]\narchives = ["build/app.tar"]\n')


def _rt(*evidence: str, message: str = "m") -> Finding:
    return Finding("runtime", "sandbox", "runtime.net.egress-blocked", message, Severity.HIGH, "", evidence=evidence)


def _locate(f: Finding, files: set[str] | None = None, fallback: str = "") -> Anchor | None:
    [out] = anchored([f], [CONFIG], lambda rel: rel in (files or set()), fallback)
    return out.anchor


def test_a_runtime_finding_points_at_the_config_line_that_declared_its_command() -> None:
    assert _locate(_rt("command[0]: python -m pytest -q")) == Anchor("airlock.toml", 6, "declared here")
    # TOML escapes the quotes; the line is still found.
    assert _locate(_rt('command[1]: sh -c "make all"')) == Anchor("airlock.toml", 7, "declared here")


def test_a_guessed_command_points_at_its_build_file_and_a_cli_one_at_the_ci_file() -> None:
    assert _locate(_rt("command[0]: npm test"), {"package.json"}) == Anchor(
        "package.json", 1, "the build file the command was guessed from")
    got = _locate(_rt("command[0]: ./x.sh"), fallback=".github/workflows/airlock.yml")
    assert got is not None and got.path == ".github/workflows/airlock.yml"
    got = _locate(_rt("command[0]: ./x.sh"))
    assert got is not None and got.path == "airlock.toml" and got.line == 1


def test_image_findings_and_files_named_in_evidence() -> None:
    img = Finding("image", "trivy-image", "CVE-1", "m", Severity.HIGH, "", evidence=("image: build/app.tar",))
    assert _locate(img) == Anchor("airlock.toml", 10, "declared here")
    named = _rt("file: src/setup.py")
    assert _locate(named, {"src/setup.py"}) == Anchor("src/setup.py", 1, "named in the evidence")
    tamper = _rt(message="the change opened conftest.py for writing during the run")
    assert _locate(tamper, {"conftest.py"}) == Anchor("conftest.py", 1, "named in the finding")


def test_evidence_cannot_point_outside_the_repository() -> None:
    for ev in ("file: ../../etc/passwd", "file: /etc/passwd", "file: a/./b", "image: ../x.tar"):
        got = _locate(_rt(ev), {"../../etc/passwd", "/etc/passwd", "a/./b", "../x.tar"})
        assert got is not None and got.path == "airlock.toml", ev


def test_findings_with_a_file_are_left_alone() -> None:
    f = Finding("sast", "bandit", "B602", "m", Severity.HIGH, "app.py", 3, 3)
    assert anchored([f], [CONFIG], lambda _r: True) == [f]


def _results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for run in doc["runs"] for r in run["results"]]


def _check(doc: dict[str, Any], validator: Any) -> None:
    validator.validate(doc)
    for r in _results(doc):
        [loc] = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]
    categories = [run["automationDetails"]["id"] for run in doc["runs"]]
    assert len(categories) == len(set(categories)), categories


def test_every_sarif_result_has_a_location_and_every_run_its_own_category(sarif_validator: Any) -> None:
    doc = sarif_dict(sample_report())
    _check(doc, sarif_validator)
    rt = next(r for r in _results(doc) if r["ruleId"] == "runtime.net.egress-blocked")
    assert rt["locations"][0]["physicalLocation"]["region"] == {"startLine": 7, "endLine": 7}
    # Neither a file nor an anchor (a finding built outside a scan): still a location.
    bare = [Finding(st, tool, f"r.{n}", "m", Severity.HIGH, "", fingerprint=f"{n:032x}")
            for n, (st, tool) in enumerate([("runtime", "sandbox"), ("image", "trivy-image"), ("agent", "airlock")])]
    doc = sarif_dict(sample_report(bare))
    _check(doc, sarif_validator)
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in _results(doc)} == {FALLBACK}


def test_split_parts_keep_locations_and_unique_categories(sarif_validator: Any) -> None:
    many = [Finding("runtime", "sandbox", f"runtime.r{n}", "m", Severity.LOW, "", fingerprint=f"{n:032x}",
                    anchor=Anchor("airlock.toml", 3, "declared here")) for n in range(25)]
    parts = split_sarif(sarif_dict(sample_report(many)), max_results=10, max_runs=2)
    assert len(parts) >= 2
    seen: list[str] = []
    for p in parts:
        _check(p, sarif_validator)
        seen += [run["automationDetails"]["id"] for run in p["runs"]]
    assert len(seen) == len(set(seen))


def test_a_real_scan_writes_sarif_with_locations_only(tmp_path: Path, sarif_validator: Any) -> None:
    from tests.conftest import commit, git, make_repo, run_airlock, write_files

    # B602 without a confirmed request source is medium (docs/severity.md), so gate at medium.
    policy = '[gate]\nfail_on = "medium"\n[tools.semgrep]\nenabled = false\n[tools.trivy-secret]\nenabled = false\n'
    repo = make_repo(tmp_path / "r", {"airlock.toml": policy, "a.py": "x = 1\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {"b.py": "import subprocess\nsubprocess.call(input(), shell=True)\n"})
    commit(repo, "agent")
    out = tmp_path / "o.sarif"
    done = run_airlock("scan", repo, "--base", "main", "--stages", "sast", "--sarif-output", out,
                       "--gitlab-sast-output", tmp_path / "gl.json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(out.read_text())
    _check(doc, sarif_validator)
    assert any(r["ruleId"] == "B602" for r in _results(doc))
    assert json.loads((tmp_path / "gl.json").read_text())["vulnerabilities"]


def test_a_real_image_finding_is_anchored_at_the_line_naming_the_image(tmp_path: Path, sarif_validator: Any) -> None:
    from tests.conftest import make_repo, run_airlock

    policy = '[gate]\nfail_on = "high"\n\n[image]\narchives = ["build/app.tar"]\n'
    repo = make_repo(tmp_path / "r", {"airlock.toml": policy, "build/app.tar": "not a tar\n"})
    out = tmp_path / "o.sarif"
    done = run_airlock("scan", repo, "--stages", "image", "--sarif-output", out, "--json-output", tmp_path / "r.json")
    assert done.returncode == 2, done.stderr  # the image could not be verified: an error and a finding
    [f] = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert (f["rule_id"], f["path"], f["anchor"]) == (
        "airlock.image.unverified", "", {"path": "airlock.toml", "line": 5, "why": "declared here"})
    doc = json.loads(out.read_text())
    _check(doc, sarif_validator)
    [r] = _results(doc)
    assert r["locations"][0]["physicalLocation"]["region"]["startLine"] == 5


def test_a_real_runtime_finding_is_anchored_at_the_command_in_the_policy(tmp_path: Path, sarif_validator: Any) -> None:
    """The real sandbox (bwrap + strace): the command reads /etc/shadow; the finding has no file of its own, so
    SARIF, the annotations and GitLab show it at the policy line that declared the command."""
    from tests.conftest import make_repo, run_airlock

    policy = '[gate]\nfail_on = "high"\n\n[runtime]\ncommands = [\n  "python3 probe.py",\n]\n'
    repo = make_repo(tmp_path / "r", {"airlock.toml": policy, "probe.py": "open('/etc/shadow')\n"})
    out = tmp_path / "o.sarif"
    done = run_airlock("scan", repo, "--stages", "runtime", "--sarif-output", out, "--json-output",
                       tmp_path / "r.json", "--format", "github")
    assert done.returncode == 1, done.stderr
    read = [f for f in json.loads((tmp_path / "r.json").read_text())["findings"]
            if f["rule_id"] == "runtime.fs.sensitive-read"]
    declared = {"path": "airlock.toml", "line": 6, "why": "declared here"}
    assert [(f["path"], f["anchor"]) for f in read] == [("", declared)]
    doc = json.loads(out.read_text())
    _check(doc, sarif_validator)
    [r] = [r for r in _results(doc) if r["ruleId"] == "runtime.fs.sensitive-read"]
    assert r["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    assert "::error file=airlock.toml,line=6,endLine=6,title=runtime.fs.sensitive-read" in done.stdout
