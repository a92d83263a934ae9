"""Golden files: every format rendered from one fixed merged Report.

Regenerate after an intended change with AIRLOCK_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airlock.reports.registry import writer_for
from tests.report_fixture import sample_report

GOLDEN = Path(__file__).parent / "golden"
FILES = {
    "text": "report.txt",
    "json": "report.json",
    "sarif": "report.sarif",
    "html": "report.html",
    "markdown": "report.md",
    "junit": "report.junit.xml",
    "github": "report.github.txt",
    "gitlab-sast": "report.gl-sast.json",
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_golden(fmt: str) -> None:
    rendered = writer_for(fmt).render(sample_report())
    path = GOLDEN / FILES[fmt]
    if os.environ.get("AIRLOCK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing {path}; run with AIRLOCK_UPDATE_GOLDEN=1 to create it"
    assert rendered == path.read_text(encoding="utf-8")


def test_sarif_golden_is_schema_valid_and_carries_merge_state(sarif_validator) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads((GOLDEN / FILES["sarif"]).read_text())
    sarif_validator.validate(doc)
    results = [r for run in doc["runs"] for r in run["results"]]
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["B307"]["baselineState"] == "unchanged"
    assert by_rule["B602"]["baselineState"] == "new"
    assert [s["tool"] for s in by_rule["B602"]["properties"]["sources"]] == ["bandit", "semgrep"]
    assert by_rule["B105"]["suppressions"][0]["kind"] == "external"
    assert "alice" in by_rule["B105"]["suppressions"][0]["justification"]
    assert by_rule["airlock.python.yaml-load"]["suppressions"][0]["kind"] == "inSource"
    # airlock's own agent.* findings get a run of their own.
    assert "agent.policy-change" in by_rule
    assert {run["tool"]["driver"]["name"] for run in doc["runs"]} >= {"semgrep", "bandit", "checkov", "airlock"}
