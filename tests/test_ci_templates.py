"""The CI wrappers: action.yml, airlock's own workflow and the GitLab template, read as data.

They cannot run here (no GitHub or GitLab runner); what they promise is checked: the documented inputs, inputs
that never reach a shell script as text, the upload skipped for forks, the gate last, and GitLab reports that
point at the files `airlock ci` writes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from airlock.pipeline.ci import FILES, SARIF_DIR
from tests.conftest import ROOT


def _load(rel: str) -> Any:
    return yaml.safe_load((ROOT / rel).read_text())


def test_action_inputs_and_steps() -> None:
    action = _load("action.yml")
    assert {"stages", "config", "fail-on", "output-dir", "upload-sarif"} <= set(action["inputs"])
    assert action["inputs"]["output-dir"]["default"] == "airlock-report"
    assert action["inputs"]["upload-sarif"]["default"] == "true"
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    # Inputs are passed through env, never spliced into a script (a PR could otherwise inject shell).
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")
    scan = next(s for s in steps if s.get("id") == "scan")
    assert "airlock \"${args[@]}\"" in scan["run"] and scan["env"]["AIRLOCK_STAGES"] == "${{ inputs.stages }}"
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == f"${{{{ inputs.output-dir }}}}/{SARIF_DIR}"
    assert "head.repo.full_name == github.repository" in upload["if"]  # forks have no write token: skipped
    assert steps[-1]["name"] == "Gate" and "exit \"$AIRLOCK_EXIT\"" in steps[-1]["run"]
    assert steps.index(upload) < len(steps) - 1  # uploaded before the gate fails the job


def test_own_workflow_runs_on_ubuntu_24_04_with_least_permissions() -> None:
    wf = _load(".github/workflows/ci.yml")
    assert wf["permissions"] == {"contents": "read"}
    for job in wf["jobs"].values():
        assert job["runs-on"] == "ubuntu-24.04"
    gate = wf["jobs"]["airlock"]
    assert gate["permissions"] == {"contents": "read", "security-events": "write"}
    assert any(s.get("uses") == "./" for s in gate["steps"])


def test_gitlab_template_publishes_sast_and_junit() -> None:
    tpl = _load("ci/gitlab/airlock.yml")
    job = tpl["airlock"]
    reports = job["artifacts"]["reports"]
    assert reports == {"sast": f"airlock-report/{FILES['gitlab-sast']}", "junit": f"airlock-report/{FILES['junit']}"}
    assert job["artifacts"]["when"] == "always"
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    script = "\n".join(job["script"])
    assert "--output-dir airlock-report" in script
    # Variables are expanded into quoted arguments only.
    uses = list(re.finditer(r"\$AIRLOCK_\w+", script))
    assert uses and all(script[m.start() - 1] == '"' for m in uses), script


def test_docs_name_the_permissions_and_fork_behaviour() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    for needle in ("security-events: write", "contents: read", "fork", "fetch-depth: 0", "GIT_DEPTH: 0",
                   "artifacts:reports:sast"):
        assert needle in text, needle
    assert (ROOT / "README.md").read_text().count("## CI\n") == 1
    assert Path(ROOT / "action.yml").is_file()
