"""In diff modes custom semgrep rules come from the base revision, never from the agent's checkout."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import commit, make_repo, rule_ids, scan_json, write_files

RULE = """rules:
  - id: team.no-dangerous
    languages: [python]
    severity: ERROR
    message: dangerous() runs untrusted input
    pattern: {pattern}
"""


def test_agent_cannot_neuter_a_base_rule(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "airlock.toml": '[tools.semgrep]\nrules = ["ci/semgrep"]\n',
            "ci/semgrep/team.yaml": RULE.format(pattern="dangerous(...)"),
            "lib.py": "def dangerous(x):\n    return x\n",
        },
    )
    # The agent's commit rewrites the rule so it never matches, and calls dangerous().
    write_files(repo, {
        "ci/semgrep/team.yaml": RULE.format(pattern="never_called_anywhere_xyz(...)"),
        "app.py": "from lib import dangerous\n\ndangerous(input())\n",
    })  # fmt: skip
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "HEAD~1", "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert "team.no-dangerous" in rule_ids(report)
    hit = next(f for f in report["findings"] if f["rule_id"] == "team.no-dangerous")
    assert hit["path"] == "app.py" and hit["start_line"] == 3


def test_patch_mode_reads_rules_from_before_the_patch(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "airlock.toml": '[tools.semgrep]\nrules = ["ci/semgrep/team.yaml"]\n',
            "ci/semgrep/team.yaml": RULE.format(pattern="dangerous(...)"),
        },
    )
    patch = tmp_path / "agent.patch"
    patch.write_text(
        "--- a/ci/semgrep/team.yaml\n+++ b/ci/semgrep/team.yaml\n@@ -6 +6 @@\n"
        "-    pattern: dangerous(...)\n+    pattern: nothing_xyz(...)\n"
        "--- /dev/null\n+++ b/app.py\n@@ -0,0 +1 @@\n+dangerous(input())\n"
    )
    code, report, done = scan_json(repo, "--patch", patch, "--stages", "sast", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert "team.no-dangerous" in rule_ids(report)
