"""GitLab's SAST report (`artifacts:reports:sast`), schema 15.2.1: the newest version GitLab's documentation names
as supported (`gitlab-security_report_schemas` 0.1.2.min15.0.0.max15.2.1).

The schema file lives on gitlab.com; its required fields and types are encoded in tests/test_gitlab_sast.py.
Suppressed findings are left out (GitLab would list them as open); every other finding is a vulnerability with a
file and a line (its own, or its anchor: see pipeline/anchors.py), because GitLab requires both for SAST.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from airlock.pipeline.anchors import FALLBACK
from airlock.pipeline.models import Finding, Report, Severity
from airlock.reports import view
from airlock.reports.escape import clean

SCHEMA_VERSION = "15.2.1"
SCHEMA_URL = (
    "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
    f"v{SCHEMA_VERSION}/dist/sast-report-format.json"
)
SEVERITY = {s: s.label.capitalize() for s in Severity}  # Critical, High, Medium, Low, Info
MAX_IDENTIFIERS = 20  # GitLab keeps the first 20
MAX_NAME = 255
MAX_DESCRIPTION = 1_048_576
_NAMESPACE = uuid.UUID("6b3c2f44-5a0e-4d8e-9a57-2b1f0c2a9e10")  # ids are stable for the same finding
_ANALYZER = {
    "id": "airlock",
    "name": "airlock",
    "url": "https://pypi.org/project/agent-airlock/",
    "vendor": {"name": "airlock"},
}


def _time(iso: str, minus_s: float = 0.0) -> str:
    """GitLab wants YYYY-MM-DDTHH:MM:SS, no fraction and no zone (UTC here)."""
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        when = dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (when - dt.timedelta(seconds=minus_s)).strftime("%Y-%m-%dT%H:%M:%S")


def _text(s: str, limit: int) -> str:
    return clean(s, keep_newlines=True)[:limit]


def _identifiers(f: Finding) -> list[dict[str, str]]:
    primary = {"type": f"{f.tool or 'airlock'}_id", "name": f.rule_id, "value": f.rule_id}
    if f.help_url.startswith(("https://", "http://")):
        primary["url"] = f.help_url
    ids = [primary]
    seen = {(primary["type"], f.rule_id)}
    for s in f.sources:
        key = (f"{s.tool}_id", s.rule_id)
        if s.rule_id and key not in seen:
            seen.add(key)
            ids.append({"type": key[0], "name": s.rule_id, "value": s.rule_id})
    for c in f.cwe:
        num = c.upper().removeprefix("CWE-")
        if num.isdigit():
            ids.append({"type": "cwe", "name": f"CWE-{num}", "value": num,
                        "url": f"https://cwe.mitre.org/data/definitions/{num}.html"})
    return [{k: _text(v, MAX_NAME * 4) for k, v in i.items()} for i in ids[:MAX_IDENTIFIERS]]


def _vulnerability(f: Finding) -> dict[str, Any]:
    path, start, end = view.location(f)
    start = max(start, 1)
    description = f.message or f.title or f.rule_id
    if f.evidence:
        description += "\n\n" + "\n".join(f.evidence)
    return {
        "id": str(uuid.uuid5(_NAMESPACE, f"{f.fingerprint}|{f.rule_id}|{path}|{start}")),
        "name": _text(f.title or f.rule_id, MAX_NAME) or f.rule_id[:MAX_NAME] or "finding",
        "description": _text(description, MAX_DESCRIPTION),
        "severity": SEVERITY[f.severity],
        "location": {"file": path or FALLBACK, "start_line": start, "end_line": max(end, start)},
        "identifiers": _identifiers(f),
    }


def sast_dict(report: Report) -> dict[str, Any]:
    longest = max((s.duration_s for s in report.stages), default=0.0)
    analyzer = dict(_ANALYZER, version=report.airlock_version)
    return {
        "schema": SCHEMA_URL,
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": analyzer,
            "scanner": dict(analyzer),
            "type": "sast",
            "start_time": _time(report.generated_at, longest),
            "end_time": _time(report.generated_at),
            # The scan ran (findings or not) unless a stage errored: then the report is not a complete picture.
            "status": "failure" if report.gate.verdict == "error" else "success",
        },
        "vulnerabilities": [_vulnerability(f) for f in report.findings if f.suppression is None],
    }


class GitlabSastWriter:
    name = "gitlab-sast"

    def render(self, report: Report) -> str:
        return json.dumps(sast_dict(report), indent=2, ensure_ascii=True) + "\n"
