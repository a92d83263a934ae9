"""airlock scan with the real semgrep and bandit on agent changes under fixtures/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, commit, git, make_repo, rule_ids, run_airlock, scan_json, write_files

VULNERABLE_IDS = {
    "B301",  # pickle
    "B307",  # eval
    "B506",  # yaml.load
    "B501",  # verify=False
    "B602",  # shell=True
    "B605",  # os.system
    "airlock.command-injection.subprocess-shell-true",
    "airlock.command-injection.os-system",
    "airlock.code-injection.eval-non-literal",
}


def test_vulnerable_change_fails_the_gate(tmp_path: Path) -> None:
    code, report, done = scan_json(FIXTURES / "sast" / "vulnerable", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    ids = set(rule_ids(report))
    assert VULNERABLE_IDS <= ids, VULNERABLE_IDS - ids
    assert report["gate"]["passed"] is False
    assert report["gate"]["verdict"] == "failed"
    assert any(r.endswith("new high findings in sast") for r in report["gate"]["reasons"])
    sast = next(s for s in report["stages"] if s["name"] == "sast")
    assert sast["status"] == "failed"
    assert {t["name"] for t in sast["tools"]} == {"semgrep", "bandit", "trivy-secret"}
    for tool in sast["tools"]:
        assert tool["status"] == "ok" and tool["version"] and tool["duration_s"] > 0
    # semgrep and bandit both flag the shell=True call: one merged finding, both kept as sources.
    shell = next(f for f in report["findings"] if "B602" in {s["rule_id"] for s in f["sources"]})
    assert {s["rule_id"] for s in shell["sources"]} >= {"B602", "airlock.command-injection.subprocess-shell-true"}
    assert shell["path"] == "app.py" and shell["start_line"] == 16 and shell["severity"] == "critical"
    assert shell["cwe"] == ["CWE-78"] and shell["new"] is True and len(shell["fingerprint"]) == 32
    assert "shell=True" in shell["snippet"]


def test_clean_change_passes_with_no_findings(tmp_path: Path) -> None:
    code, report, done = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", tmp_path=tmp_path)
    assert code == 0, done.stdout + done.stderr
    assert report["findings"] == []
    assert report["gate"] == {
        "passed": True,
        "verdict": "passed",
        "exit_code": 0,
        "reasons": ["no new findings at or above high"],
        "warnings": [],
    }


BASE_APP = """import subprocess


def legacy(cmd):
    return subprocess.call(cmd, shell=True)
"""


def test_diff_aware_existing_problem_does_not_gate(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": BASE_APP, "README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    # The agent edits the file above the old problem and adds a clean module.
    write_files(
        repo,
        {
            "app.py": "import json\n\n\ndef dump(x):\n    return json.dumps(x)\n\n\n" + BASE_APP,
            "util.py": "def add(a, b):\n    return a + b\n",
        },
    )
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 0, done.stdout + done.stderr
    old = [f for f in report["findings"] if f["rule_id"] == "B602"]
    assert len(old) == 1 and old[0]["new"] is False and old[0]["start_line"] == 12
    assert report["target"]["mode"] == "diff" and report["target"]["files"] == 2
    assert all(not f["new"] for f in report["findings"])


def test_diff_aware_new_problem_gates_and_old_one_stays_old(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": BASE_APP})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(
        repo,
        {
            "app.py": BASE_APP + "\n\ndef load(t):\n    import yaml\n    return yaml.load(t)\n",
            # request data reaches the shell: the taint rule confirms bandit's B605 at high
            "run.py": "import os\n\nfrom flask import request\n\n\n"
            "def go():\n    os.system('ls ' + request.args['x'])\n",
        },
    )
    commit(repo, "agent change")
    code, report, _ = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1
    new = set(rule_ids(report, new_only=True))
    assert {"B605", "airlock.command-injection.os-system"} <= new
    assert "B602" not in new  # it was there before the agent
    assert [f["new"] for f in report["findings"] if f["rule_id"] == "B602"] == [False]


def test_diff_aware_reads_nothing_outside_the_change_and_leaves_the_tree_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"keep.py": "x = 1\n", "gone.py": "y = 2\n", "old_name.py": BASE_APP})
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / "gone.py").unlink()
    git(repo, "mv", "old_name.py", "new_name.py")
    (repo / "bin.py").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    (repo / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    (repo / "escape.py").symlink_to("/etc/passwd")
    (repo / 'we"ird name\t.py').write_text("import os\nos.system('a' + input())\n")
    commit(repo, "agent change")
    (repo / "untracked.py").write_text("eval(input())\n")  # the user's uncommitted work: not the change
    git(repo, "add", "untracked.py")
    index_before = (repo / ".git" / "index").read_bytes()
    status_before = git(repo, "status", "--porcelain")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert "Traceback" not in done.stderr
    paths = {f["path"] for f in report["findings"]}
    assert 'we"ird name\t.py' in paths
    assert "new_name.py" in paths and "untracked.py" not in paths
    renamed = [f for f in report["findings"] if f["path"] == "new_name.py"]
    assert renamed and all(not f["new"] for f in renamed)  # a rename keeps the base's findings old
    assert any("escape.py" in n and "symlink" in n for n in report["notes"])
    assert "root:x:0:0" not in json.dumps(report)
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert git(repo, "status", "--porcelain") == status_before


def test_patch_file(tmp_path: Path) -> None:
    demo = FIXTURES / "demo"
    code, report, done = scan_json(
        demo / "project", "--patch", demo / "agent-change.patch", "--stages", "sast", tmp_path=tmp_path
    )
    assert code == 1, done.stderr
    assert report["target"]["mode"] == "patch" and report["target"]["files"] == 4
    assert {f["path"] for f in report["findings"]} == {
        "inventory/export.py",
        "inventory/store.py",
        "tests/smoke.py",
        "Dockerfile",
    }
    assert {"B602", "B506", "B501", "airlock.command-injection.subprocess-shell-true"} <= set(rule_ids(report))
    assert not (demo / "project" / "inventory" / "export.py").exists()  # the user's tree is untouched
    assert "hunter2-prod-Zq81" not in json.dumps(report)  # secrets are masked


def test_patch_that_does_not_apply_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text("--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n")
    done = run_airlock("scan", FIXTURES / "demo" / "project", "--patch", bad)
    assert done.returncode == 2
    assert done.stderr.startswith("airlock: error: patch") and done.stderr.count("\n") == 1


def test_patch_cannot_write_outside_the_copy(tmp_path: Path) -> None:
    evil = tmp_path / "evil.patch"
    evil.write_text("--- /dev/null\n+++ b/../../escaped.py\n@@ -0,0 +1 @@\n+x = 1\n")
    done = run_airlock("scan", FIXTURES / "demo" / "project", "--patch", evil)
    assert done.returncode == 2
    assert not (FIXTURES / "escaped.py").exists() and not (FIXTURES.parent / "escaped.py").exists()


def _policy(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(text)
    return cfg


def test_missing_tool_is_a_stage_error_exit_2(tmp_path: Path) -> None:
    cfg = _policy(tmp_path, '[tools.semgrep]\npath = "/nonexistent/bin/semgrep"\n')
    code, report, done = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 2
    assert report["gate"]["verdict"] == "error" and report["gate"]["passed"] is False
    assert report["gate"]["reasons"][0].startswith("stage sast errored: semgrep not found")
    sast = report["stages"][0]
    assert sast["status"] == "error" and "semgrep not found" in sast["error"]


def test_tool_missing_from_path_is_a_stage_error(tmp_path: Path) -> None:
    cfg = _policy(tmp_path, '[tools.bandit]\npath = "bandit-that-is-not-installed"\n')
    code, report, _ = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 2
    assert any("bandit not found" in r for r in report["gate"]["reasons"])


def test_corrupt_rule_file_is_a_stage_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("rules:\n  - id: x\n    pattern: [unclosed\n")
    cfg = _policy(tmp_path, '[tools.semgrep]\nrules = ["broken.yaml"]\n')
    code, report, _ = scan_json(
        FIXTURES / "sast" / "vulnerable", "--stages", "sast", "--config", cfg, tmp_path=tmp_path
    )
    assert code == 2
    semgrep = next(t for t in report["stages"][0]["tools"] if t["name"] == "semgrep")
    assert semgrep["status"] == "error" and semgrep["error"].startswith("semgrep exited")


def test_tool_timeout_is_a_stage_error(tmp_path: Path) -> None:
    cfg = _policy(tmp_path, "[tools.semgrep]\ntimeout_s = 1\n")
    code, report, _ = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 2
    assert "semgrep timed out after 1 s" in report["stages"][0]["error"]


def test_on_error_warn_does_not_fail_closed(tmp_path: Path) -> None:
    cfg = _policy(tmp_path, '[gate]\non_error = "warn"\n[tools.semgrep]\npath = "/nonexistent/semgrep"\n')
    code, report, _ = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 0
    assert report["gate"]["warnings"][0].startswith("stage sast errored: semgrep not found")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ('[gate]\nfial_on = "high"\n', "unknown key 'gate.fial_on'"),
        ('[gate]\nfail_on = "severe"\n', "gate.fail_on must be one of critical, high, medium, low, info"),
        ('stages = ["sast", "lint"]\n', "stages[1] must be one of sast, iac, image, runtime"),
        ("[tools.semgrep]\ntimeout_s = -5\n", "tools.semgrep.timeout_s must be a number from 1 to 86400"),
        ("[tools.semgrep]\ntimeout_s = nan\n", "tools.semgrep.timeout_s must be a number from 1 to 86400"),
        ("[runtime]\ntimeout_s = inf\n", "runtime.timeout_s must be a number from 1 to 86400"),
        ("stages = []\n", "stages is empty, so nothing would be scanned"),
        ("[tools.nmap]\n", "unknown tool 'tools.nmap'"),
        ("[gate\n", "is not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, policy: str, expected: str) -> None:
    (tmp_path / "airlock.toml").write_text(policy)
    (tmp_path / "a.py").write_text("x = 1\n")
    done = run_airlock("scan", tmp_path, "--stages", "sast")
    assert done.returncode == 2
    assert done.stderr.startswith("airlock: error: ") and expected in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_pyproject_tool_airlock_table_is_read(tmp_path: Path) -> None:
    write_files(tmp_path, {"pyproject.toml": '[tool.airlock.gate]\nfail_on = "low"\n', "a.py": "import subprocess\n"})
    code, report, _ = scan_json(tmp_path, "--stages", "sast", tmp_path=tmp_path / "out")
    assert code == 1  # B404 is low, and low now gates
    assert report["policy"] == {"source": "pyproject.toml [tool.airlock]", "fail_on": "low"}


@pytest.mark.parametrize(
    "args",
    [
        ["--stages", "sast,lint"],
        ["--base", "no-such-ref"],
        ["--head", "HEAD"],
        ["--format", "pdf"],
        ["--fail-on", "extreme"],
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str]) -> None:
    done = run_airlock("scan", FIXTURES / "sast" / "clean", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("airlock: error: ") and done.stderr.count("\n") == 1


def test_sarif_output_is_valid_and_has_one_run_per_tool(tmp_path: Path, sarif_validator) -> None:
    sarif_path = tmp_path / "out.sarif"
    done = run_airlock("scan", FIXTURES / "sast" / "vulnerable", "--stages", "sast", "--sarif-output", sarif_path)
    assert done.returncode == 1
    sarif = json.loads(sarif_path.read_text())
    errors = sorted(sarif_validator.iter_errors(sarif), key=str)
    assert not errors, errors[0]
    runs = sarif["runs"]
    assert [r["tool"]["driver"]["name"] for r in runs] == ["semgrep", "bandit", "trivy-secret"]
    ids = [r["automationDetails"]["id"] for r in runs]
    assert ids == ["airlock/sast/semgrep/", "airlock/sast/bandit/", "airlock/sast/trivy-secret/"]
    # B602 is merged with semgrep's report of the same call: it sits in the leading tool's run, as a source.
    run, b602 = next(
        (run, r)
        for run in runs
        for r in run["results"]
        if "B602" in {r["ruleId"], *(s["ruleId"] for s in r["properties"].get("sources", []))}
    )
    assert b602["level"] == "error" and len(b602["partialFingerprints"]["airlock/v1"]) == 32
    assert b602["locations"][0]["physicalLocation"]["region"]["startLine"] == 16
    rule = run["tool"]["driver"]["rules"][b602["ruleIndex"]]
    assert rule["id"] == b602["ruleId"]
    assert rule["properties"]["security-severity"] == "9.5"  # the merged finding takes the higher severity
    assert "external/cwe/cwe-78" in rule["properties"]["tags"]


def test_text_report_is_plain_when_piped_and_escapes_control_characters(tmp_path: Path) -> None:
    source = "import os\nfrom flask import request\nos.system('x' + request.args['q'])  # \x1b]0;pwned\x07\n"
    write_files(tmp_path, {"evil\x1b[31mred.py": source})
    done = run_airlock("scan", tmp_path, "--stages", "sast")
    assert done.returncode == 1
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "evil\\x1b[31mred.py" in done.stdout
    assert "gate: FAILED" in done.stdout


def test_several_reports_from_one_run(tmp_path: Path, sarif_validator) -> None:
    out = tmp_path / "nested" / "dir"
    done = run_airlock(
        "scan",
        FIXTURES / "sast" / "clean",
        "--stages",
        "sast",
        "--format",
        "json",
        "--output",
        out / "main.json",
        "--sarif-output",
        out / "r.sarif",
        "--json-output",
        out / "r.json",
    )
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads((out / "main.json").read_text())["gate"]["passed"] is True
    assert json.loads((out / "r.json").read_text())["schema_version"] == 1
    assert not list(sarif_validator.iter_errors(json.loads((out / "r.sarif").read_text())))


def test_version_and_help_name_the_exit_codes() -> None:
    assert run_airlock("--version").stdout.startswith("airlock ")
    helptext = run_airlock("scan", "--help").stdout
    assert "2  no verdict" in helptext and "1  the gate failed" in helptext


def test_staged_changes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    write_files(repo, {"new.py": "import pickle\n\n\ndef f(b):\n    return pickle.loads(b)\n"})
    git(repo, "add", "new.py")
    write_files(repo, {"unstaged.py": "eval(input())\n"})
    code, report, _ = scan_json(repo, "--staged", "--stages", "sast", tmp_path=tmp_path)
    assert report["target"]["mode"] == "staged"
    assert {f["path"] for f in report["findings"]} == {"new.py"}
    assert "B301" in rule_ids(report)
    assert code == 0  # pickle.loads is medium in bandit: below fail_on = high
    assert os.path.exists(repo / "unstaged.py")


def test_staged_in_a_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")
    source = "import subprocess\nfrom flask import request\nsubprocess.call(request.args['c'], shell=True)\n"
    write_files(repo, {"a.py": source})
    git(repo, "add", "a.py")
    code, report, done = scan_json(repo, "--staged", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert report["target"]["files"] == 1 and "B602" in rule_ids(report, new_only=True)


def test_shell_call_without_a_request_source_does_not_fail_the_default_gate(tmp_path: Path) -> None:
    # bandit sees shell=True but not where the command comes from: medium at most, below fail_on = high
    write_files(tmp_path, {
        "const.py": "import subprocess\nsubprocess.call('ls', shell=True)\n",
        "param.py": "import os\nimport subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
                    "    os.system('ls ' + cmd)\n",
    })  # fmt: skip
    code, report, done = scan_json(tmp_path, "--stages", "sast", tmp_path=tmp_path / "out")
    assert code == 0, done.stdout + done.stderr
    shells = {
        (f["path"], f["start_line"]): (f["severity"], sorted({f["rule_id"], *(s["rule_id"] for s in f["sources"])}))
        for f in report["findings"]
        if {"B602", "B605"} & {f["rule_id"], *(s["rule_id"] for s in f["sources"])}
    }
    assert shells == {
        ("const.py", 2): ("low", ["B602"]),
        ("param.py", 6): ("medium", ["B602", "airlock.command-injection.subprocess-shell-true"]),
        ("param.py", 7): ("medium", ["B605", "airlock.command-injection.os-system"]),
    }
