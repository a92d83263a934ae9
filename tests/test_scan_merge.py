"""The merge step end to end with the real bandit: baselines, waivers, suppressions, the gate an agent cannot loosen.

semgrep is switched off in most of these repositories' policy to keep the suite lean; the merge
logic is tool-agnostic and its cross-tool rules are covered by the unit tests. bandit alone rates a
shell call medium (it cannot see where the command comes from), so the tests that need a shell call
to fail the gate turn semgrep on and feed the call request data, which the taint rule confirms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import commit, git, make_repo, run_airlock, scan_json, write_files

POLICY = '[gate]\nfail_on = "high"\n[tools.semgrep]\nenabled = false\n'
SAFE = "import subprocess\n\n\ndef run():\n    return subprocess.call(['ls'])  # nosec\n"
SHELL = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
TAINT_POLICY = '[gate]\nfail_on = "high"\n'
# request data reaches shell=True (line 7): bandit's B602 and semgrep's taint rule, one critical finding
REQUEST_SHELL = (
    "import subprocess\n\nfrom flask import request\n\n\n"
    "def run():\n    return subprocess.call(request.args['cmd'], shell=True)\n"
)
TAINT_RULE = "airlock.command-injection.request-data-to-shell"


def _with_source(report: dict, rule: str) -> list[dict]:
    """Findings that `rule` reported, merged or not."""
    return [f for f in report["findings"] if rule in {f["rule_id"], *(s["rule_id"] for s in f["sources"])}]


def _branch(repo: Path, name: str = "agent") -> None:
    git(repo, "checkout", "-q", "-b", name)


def test_agent_cannot_loosen_its_own_gate(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"airlock.toml": TAINT_POLICY, "app.py": "print('hi')\n"})
    _branch(repo)
    write_files(repo, {
        "app.py": REQUEST_SHELL,
        "airlock.toml": TAINT_POLICY.replace('"high"', '"critical"') + "[tools.semgrep]\nenabled = false\n",
        ".airlock-waivers.toml": '[[waiver]]\nrule = "B602"\nreason = "fine"\nowner = "agent"\nexpires = 2099-01-01\n',
    })
    commit(repo, "agent: lower the gate and waive my own finding")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    [shell] = _with_source(report, "B602")
    assert shell["rule_id"] == TAINT_RULE and shell["new"] and not shell["suppressed"]
    changes = sorted(f["path"] for f in report["findings"] if f["rule_id"] == "agent.policy-change")
    assert changes == [".airlock-waivers.toml", "airlock.toml"]
    assert report["policy"]["fail_on"] == "high" and "base revision" in report["policy"]["source"]
    assert "1 new critical finding in sast" in report["gate"]["reasons"]
    assert "2 new high findings in agent" in report["gate"]["reasons"]


def test_suppression_added_by_the_change_is_not_honoured(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"airlock.toml": POLICY, "old.py": SHELL.replace("True)", "True)  # nosec")})
    _branch(repo)
    write_files(repo, {"new.py": SHELL.replace("True)", "True)  # nosec"),
                       "old.py": SHELL.replace("True)", "True)  # nosec") + "\nX = 1\n"})
    commit(repo, "agent: hide it")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    found = [(f["rule_id"], f["path"], f["suppressed"], f["new"]) for f in report["findings"]
             if f["rule_id"] in ("B602", "agent.suppression-added")]
    assert sorted(found) == [
        ("B602", "new.py", False, True),  # its nosec was written by the change: not honoured
        ("B602", "old.py", True, False),  # the nosec was already there: honoured
        ("agent.suppression-added", "new.py", False, True),
    ]
    added = next(f for f in report["findings"] if f["rule_id"] == "agent.suppression-added")
    assert added["severity"] == "high" and "B602" in added["message"] and added["start_line"] == 5


def test_baseline_create_then_scan_ignores_known_findings_even_when_lines_move(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"airlock.toml": POLICY, "app.py": SHELL})
    done = run_airlock("baseline", "create", repo, "--stages", "sast")
    assert done.returncode == 0, done.stderr
    data = json.loads((repo / ".airlock-baseline.json").read_text())
    assert {(e["rule_id"], e["path"]) for e in data["findings"]} >= {("B602", "app.py"), ("B404", "app.py")}
    (repo / "app.py").write_text("# a new header\n# and another\n" + SHELL)  # lines inserted above
    code, report, done = scan_json(repo, "--stages", "sast", tmp_path=tmp_path)
    assert code == 0, done.stdout
    b602 = next(f for f in report["findings"] if f["rule_id"] == "B602")
    assert b602["new"] is False and b602["start_line"] == 7
    # A damaged baseline stops a scan (exit 2) but never its own re-creation.
    (repo / ".airlock-baseline.json").write_text("{not json")
    assert run_airlock("scan", repo, "--stages", "sast").returncode == 2
    assert run_airlock("baseline", "create", repo, "--stages", "sast").returncode == 0


def test_waivers_apply_expire_and_must_be_complete(tmp_path: Path) -> None:
    waivers = (
        '[[waiver]]\nrule = "B602"\npath = "tools/*.py"\nreason = "constant argv"\nowner = "alice"\n'
        "expires = 2099-12-31\n\n"
        '[[waiver]]\nrule = "B602"\npath = "app.py"\nreason = "old"\nowner = "bob"\nexpires = 2020-01-01\n'
    )
    repo = make_repo(tmp_path / "r", {"airlock.toml": TAINT_POLICY, "tools/run.py": REQUEST_SHELL,
                                      "app.py": REQUEST_SHELL, ".airlock-waivers.toml": waivers})
    code, report, done = scan_json(repo, "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    b602 = {f["path"]: f for f in _with_source(report, "B602")}
    assert sorted(b602) == ["app.py", "tools/run.py"]
    assert {f["rule_id"] for f in b602.values()} == {TAINT_RULE}  # a waiver of B602 covers the merged finding
    assert b602["tools/run.py"]["suppression"]["kind"] == "waiver"
    assert "constant argv" in b602["tools/run.py"]["suppression"]["justification"]
    assert b602["app.py"]["suppressed"] is False  # its waiver expired
    assert [f["rule_id"] for f in report["findings"] if f["path"] == ".airlock-waivers.toml"] == [
        "agent.waiver-expired"
    ]
    assert any("expired on 2020-01-01" in w for w in report["gate"]["warnings"])

    (repo / ".airlock-waivers.toml").write_text('[[waiver]]\nrule = "B602"\nreason = "x"\nexpires = 2099-01-01\n')
    done = run_airlock("scan", repo, "--stages", "sast")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "airlock: error: .airlock-waivers.toml: waiver #1: 'owner' is required and must be a non-empty string"
    ]


def test_every_output_from_one_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"airlock.toml": TAINT_POLICY, "app.py": REQUEST_SHELL})
    out = tmp_path / "out"
    done = run_airlock("scan", repo, "--stages", "sast", "--format", "github", "--html-output", out / "r.html",
                       "--markdown-output", out / "r.md", "--junit-output", out / "r.xml", "--sarif-output",
                       out / "r.sarif")
    assert done.returncode == 1
    assert f"::error file=app.py,line=7,endLine=7,title={TAINT_RULE} (critical%2C semgrep)::" in done.stdout
    assert done.stderr == ""  # not a TTY: no progress noise
    assert "gate ❌ failed" in (out / "r.md").read_text()
    assert f'name="{TAINT_RULE} at app.py:7"' in (out / "r.xml").read_text()
    html = (out / "r.html").read_text()
    assert "default-src &#39;none&#39;" in html and not re.search(r"<[a-z]+[^>]*\s(src|href)=", html)
