"""The gitlab-sast report against GitLab's documented SAST report format (schema 15.x).

The schema file is hosted on gitlab.com, out of reach here. Its required fields and types, as GitLab's
"Security scanner integration" documentation and its report-validation errors give them, are encoded below.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from airlock.pipeline.models import Anchor, Finding, Severity, Suppression
from airlock.reports.gitlab_sast import SCHEMA_VERSION, GitlabSastWriter
from tests.report_fixture import sample_report

_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"}  # no zone, no fraction
_NAME = {"type": "string", "minLength": 1}
_TOOL = {
    "type": "object",
    "required": ["id", "name", "version", "vendor"],
    "properties": {
        "id": _NAME,
        "name": _NAME,
        "version": {"type": "string"},
        "url": {"type": "string"},
        "vendor": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
    },
}
GITLAB_SAST_REQUIRED = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["version", "scan", "vulnerabilities"],
    "properties": {
        "schema": {"type": "string"},
        "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
        "scan": {
            "type": "object",
            "required": ["analyzer", "scanner", "type", "start_time", "end_time", "status"],
            "properties": {
                "analyzer": _TOOL,
                "scanner": _TOOL,
                "type": {"enum": ["sast"]},
                "start_time": _TIME,
                "end_time": _TIME,
                "status": {"enum": ["success", "failure"]},
            },
        },
        "vulnerabilities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "identifiers", "location", "severity"],
                "properties": {
                    "id": _NAME,
                    "name": {"type": "string", "maxLength": 255},
                    "description": {"type": "string", "maxLength": 1_048_576},
                    "severity": {"enum": ["Info", "Unknown", "Low", "Medium", "High", "Critical"]},
                    "identifiers": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": {
                            "type": "object",
                            "required": ["type", "name", "value"],
                            "properties": {"type": _NAME, "name": _NAME, "value": _NAME, "url": {"type": "string"}},
                        },
                    },
                    "location": {
                        "type": "object",
                        "required": ["file", "start_line"],
                        "properties": {
                            "file": _NAME,
                            "start_line": {"type": "integer", "minimum": 1},
                            "end_line": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
    },
}


def _render(findings: list[Finding] | None = None) -> dict[str, Any]:
    return json.loads(GitlabSastWriter().render(sample_report(findings)))


def test_the_report_has_every_documented_required_field() -> None:
    doc = _render()
    jsonschema.Draft7Validator(GITLAB_SAST_REQUIRED).validate(doc)
    assert doc["version"] == SCHEMA_VERSION and SCHEMA_VERSION.startswith("15.")
    assert doc["scan"]["status"] == "success" and doc["scan"]["start_time"] <= doc["scan"]["end_time"]
    vulns = doc["vulnerabilities"]
    assert len({v["id"] for v in vulns}) == len(vulns)
    for v in vulns:
        assert v["location"]["end_line"] >= v["location"]["start_line"]


def test_suppressed_findings_are_left_out_and_anchored_ones_have_a_file() -> None:
    report = sample_report()
    doc = _render()
    kept = [f for f in report.findings if f.suppression is None]
    assert len(doc["vulnerabilities"]) == len(kept) < len(report.findings)
    runtime = next(v for v in doc["vulnerabilities"] if v["identifiers"][0]["value"] == "runtime.net.egress-blocked")
    assert runtime["location"] == {"file": "airlock.toml", "start_line": 7, "end_line": 7}
    assert runtime["severity"] == "Medium" and "proxy: CONNECT evil.example:443" in runtime["description"]
    b602 = next(v for v in doc["vulnerabilities"] if v["identifiers"][0]["value"] == "B602")
    assert b602["identifiers"][0]["type"] == "bandit_id"
    assert {"type": "cwe", "name": "CWE-78", "value": "78",
            "url": "https://cwe.mitre.org/data/definitions/78.html"} in b602["identifiers"]


def test_an_errored_scan_is_a_failure_and_extremes_stay_valid() -> None:
    many_cwes = tuple(f"CWE-{n}" for n in range(1, 40))
    odd = Finding("image", "trivy-image", "CVE-2024-0001", "x" * 2_000_000, Severity.CRITICAL, "",
                  title="t" * 1000, cwe=many_cwes, fingerprint="f" * 32)
    waived = replace(odd, rule_id="CVE-2024-0002", suppression=Suppression("waiver", "accepted"))
    report = sample_report([odd, waived])
    report = replace(report, gate=replace(report.gate, verdict="error"))
    doc = json.loads(GitlabSastWriter().render(report))
    jsonschema.Draft7Validator(GITLAB_SAST_REQUIRED).validate(doc)
    assert doc["scan"]["status"] == "failure"
    [v] = doc["vulnerabilities"]
    assert v["location"]["file"] == "airlock.toml"  # no file, no anchor: still a location GitLab accepts
    assert len(v["identifiers"]) == 20 and len(v["name"]) == 255


@pytest.mark.parametrize("path", ["a b/c.py", "ünï/cödé.py", "x\"y.py"])
def test_paths_are_carried_exactly(path: str) -> None:
    f = Finding("sast", "bandit", "B602", "m", Severity.HIGH, path, 3, 4, fingerprint="a" * 32)
    [v] = _render([f])["vulnerabilities"]
    assert v["location"] == {"file": path, "start_line": 3, "end_line": 4}


def test_anchor_is_used_for_a_path_less_finding() -> None:
    f = Finding("runtime", "sandbox", "runtime.fs.sensitive-read", "m", Severity.HIGH, "",
                anchor=Anchor("pyproject.toml", 12, "declared here"), fingerprint="b" * 32)
    [v] = _render([f])["vulnerabilities"]
    assert v["location"] == {"file": "pyproject.toml", "start_line": 12, "end_line": 12}
