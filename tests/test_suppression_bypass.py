"""Agent-made suppressions are not honoured, however the change is shaped (real git, semgrep, bandit, checkov)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import commit, git, make_repo, rule_ids, scan_json, write_files

BASE = "import os\n\n\ndef a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
# `++ b/other.py` is valid Python (+(+b) / other.py); in `git diff -U0` it prints as `+++ b/other.py`,
# and a text parser then credits the later hunk, with the agent's `# nosec`, to a file that does not exist.
HEADER_TRICK = BASE.replace("    return 1\n", "    return 1\n++ b/other.py\n").replace(
    "    return 3\n", "    return 3\n    os.system(input())  # nosec # nosemgrep\n"
)
AGENT_NOSEC = BASE + "\n\ndef d():\n    os.system(input())  # nosec # nosemgrep\n"


def _assert_agent_suppression_not_honoured(code: int, report: dict, stderr: str) -> None:
    assert code == 1, stderr
    new = rule_ids(report, new_only=True)
    assert "B605" in new and "airlock.command-injection.os-system" in new
    assert "agent.suppression-added" in new
    hidden = [f for f in report["findings"] if f["rule_id"] in ("B605", "airlock.command-injection.os-system")]
    assert hidden and all(f["suppression"] is None for f in hidden)


def _branch(tmp_path: Path, head: dict[str, str], *, config: dict[str, str] | None = None) -> Path:
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    for key, value in (config or {}).items():
        git(repo, "config", key, value)
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, head)
    commit(repo, "agent change")
    return repo


def test_header_lookalike_line_in_base_mode(tmp_path: Path) -> None:
    repo = _branch(tmp_path, {"app.py": HEADER_TRICK})
    assert "\n+++ b/other.py\n" in git(repo, "diff", "-U0", "main", "agent")  # the trick is real
    _assert_agent_suppression_not_honoured(*_scan(tmp_path, repo, "--base", "main"))


def test_header_lookalike_line_in_staged_mode(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    write_files(repo, {"app.py": HEADER_TRICK})
    git(repo, "add", "app.py")
    _assert_agent_suppression_not_honoured(*_scan(tmp_path, repo, "--staged"))


def test_header_lookalike_line_in_patch_mode(tmp_path: Path) -> None:
    repo = _branch(tmp_path, {"app.py": HEADER_TRICK})
    patch = tmp_path / "agent.patch"
    patch.write_text(git(repo, "diff", "main", "agent") + "\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(BASE)
    _assert_agent_suppression_not_honoured(*_scan(tmp_path, project, "--patch", str(patch)))


def test_gitattributes_minus_diff_in_the_change(tmp_path: Path) -> None:
    repo = _branch(tmp_path, {"app.py": AGENT_NOSEC, ".gitattributes": "*.py -diff\n"})
    _assert_agent_suppression_not_honoured(*_scan(tmp_path, repo, "--base", "main"))


@pytest.mark.parametrize("key", ["diff.noprefix", "diff.mnemonicPrefix"])
def test_users_diff_prefix_settings(tmp_path: Path, key: str) -> None:
    repo = _branch(tmp_path, {"app.py": AGENT_NOSEC}, config={key: "true"})
    _assert_agent_suppression_not_honoured(*_scan(tmp_path, repo, "--base", "main"))


SSRF_BASE = """import requests
from flask import Flask, request

app = Flask(__name__)


@app.route("/fetch")
def fetch():
    # nosemgrep
    return requests.get("https://example.com/status").text
"""


def test_old_nosemgrep_above_a_line_rewritten_into_ssrf(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": SSRF_BASE})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {"app.py": SSRF_BASE.replace('"https://example.com/status"', 'request.args["url"]')})
    commit(repo, "agent change")
    code, report, done = _scan(tmp_path, repo, "--base", "main")
    assert code == 1, done
    ssrf = [f for f in report["findings"] if f["rule_id"] == "airlock.ssrf.request-data-to-http-client"]
    assert len(ssrf) == 1 and ssrf[0]["suppression"] is None and ssrf[0]["new"] is True
    assert "agent.suppression-added" not in rule_ids(report)  # the comment is the base's own


TAINT_BASE = """import requests
from flask import Flask, request

app = Flask(__name__)


@app.route("/fetch")
def fetch():
    url = "https://example.com/status"
    return requests.get(url).text  {comment}
"""


@pytest.mark.parametrize("comment", ["# nosemgrep", "# nosemgrep: airlock.crypto.weak-hash"])
def test_old_bare_or_other_rule_comment_does_not_hide_a_new_finding_on_an_unchanged_line(
    tmp_path: Path, comment: str
) -> None:
    base = TAINT_BASE.format(comment=comment)
    repo = make_repo(tmp_path / "repo", {"app.py": base})
    git(repo, "checkout", "-q", "-b", "agent")
    # The sink line stays as it was; the change makes its argument request data, so the finding is new.
    write_files(repo, {"app.py": base.replace('url = "https://example.com/status"', 'url = request.args["url"]')})
    commit(repo, "agent change")
    code, report, done = _scan(tmp_path, repo, "--base", "main")
    assert code == 1, done
    ssrf = [f for f in report["findings"] if f["rule_id"] == "airlock.ssrf.request-data-to-http-client"]
    assert len(ssrf) == 1 and ssrf[0]["start_line"] == 10 and ssrf[0]["suppression"] is None and ssrf[0]["new"]


def test_old_comment_naming_the_rule_still_counts_on_an_unchanged_line(tmp_path: Path) -> None:
    base = TAINT_BASE.format(comment="# nosemgrep: airlock.ssrf.request-data-to-http-client")
    repo = make_repo(tmp_path / "repo", {"app.py": base})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(repo, {"app.py": base.replace('url = "https://example.com/status"', 'url = request.args["url"]')})
    commit(repo, "agent change")
    code, report, done = _scan(tmp_path, repo, "--base", "main")
    assert code == 0, done
    ssrf = [f for f in report["findings"] if f["rule_id"] == "airlock.ssrf.request-data-to-http-client"]
    assert len(ssrf) == 1 and ssrf[0]["suppression"] is not None


POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: nginx:1.25
"""


TF = 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n'


@pytest.mark.parametrize("prefix", ["bridgecrew", "cortex", "checkov"])
def test_agent_added_checkov_comment_skips_are_not_honoured(tmp_path: Path, prefix: str) -> None:
    repo = make_repo(tmp_path / "repo", {"main.tf": TF})
    git(repo, "checkout", "-q", "-b", "agent")
    write_files(
        repo,
        {
            "main.tf": TF.replace(
                '  bucket = "x"\n', f'  # {prefix}:skip=CKV_AWS_20: fine\n  bucket = "x"\n  acl = "public-read"\n'
            )
        },
    )
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "iac", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    found = [f for f in report["findings"] if f["rule_id"] == "CKV_AWS_20"]
    assert len(found) == 1 and found[0]["suppression"] is None and found[0]["new"] is True
    added = [f for f in report["findings"] if f["rule_id"] == "agent.suppression-added"]
    assert len(added) == 1 and added[0]["start_line"] == 2


def test_agent_added_kubernetes_skip_annotation_is_not_honoured(tmp_path: Path) -> None:
    privileged = POD + "      securityContext:\n        allowPrivilegeEscalation: true\n"
    repo = make_repo(tmp_path / "repo", {"pod.yaml": POD})
    git(repo, "checkout", "-q", "-b", "agent")
    annotated = privileged.replace(
        "  name: web\n", "  name: web\n  annotations:\n    checkov.io/skip1: CKV_K8S_20=fine\n"
    )
    write_files(repo, {"pod.yaml": annotated})
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "iac", tmp_path=tmp_path)
    assert code == 1, done.stdout + done.stderr
    k20 = [f for f in report["findings"] if f["rule_id"] == "CKV_K8S_20"]
    assert len(k20) == 1 and k20[0]["suppression"] is None and k20[0]["new"] is True
    added = [f for f in report["findings"] if f["rule_id"] == "agent.suppression-added"]
    assert len(added) == 1 and added[0]["start_line"] == 6


def _scan(tmp_path: Path, repo: Path, *args: str) -> tuple[int, dict, str]:
    code, report, done = scan_json(repo, *args, "--stages", "sast", tmp_path=tmp_path)
    return code, report, done.stdout + done.stderr
