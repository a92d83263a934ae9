"""The JSON report; its schema is documented in docs/report-schema.md."""

from __future__ import annotations

import json
from typing import Any

from airlock.pipeline.gate import severity_counts
from airlock.pipeline.models import Finding, Report

SCHEMA_VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "stage": f.stage,
        "tool": f.tool,
        "rule_id": f.rule_id,
        "title": f.title,
        "message": f.message,
        "severity": f.severity.label,
        "path": f.path,
        "start_line": f.start_line,
        "end_line": f.end_line,
        "snippet": f.snippet,
        "cwe": list(f.cwe),
        "fingerprint": f.fingerprint,
        "new": f.new,
        "help_url": f.help_url,
        "suppressed": f.suppression is not None,
        "suppression": None
        if f.suppression is None
        else {"kind": f.suppression.kind, "justification": f.suppression.justification},
        "sources": [{"tool": s.tool, "rule_id": s.rule_id, "message": s.message} for s in f.sources],
        "evidence": list(f.evidence),
        "anchor": None if f.anchor is None else {"path": f.anchor.path, "line": f.anchor.line, "why": f.anchor.why},
    }


def report_dict(report: Report) -> dict[str, Any]:
    gate = report.gate
    return {
        "schema_version": SCHEMA_VERSION,
        "airlock_version": report.airlock_version,
        "generated_at": report.generated_at,
        "target": {
            "root": report.target.root,
            "mode": report.target.mode,
            "base": report.target.base,
            "head": report.target.head,
            "files": report.target.files,
        },
        "policy": {"source": report.policy_source, "fail_on": report.fail_on},
        "gate": {
            "passed": gate.passed,
            "verdict": gate.verdict,
            "exit_code": gate.exit_code,
            "reasons": list(gate.reasons),
            "warnings": list(gate.warnings),
        },
        "stages": [
            {
                "name": s.name,
                "status": s.status,
                "duration_s": s.duration_s,
                "error": s.error,
                "tools": [
                    {
                        "name": t.tool,
                        "status": t.status.value,
                        "version": t.version,
                        "duration_s": t.duration_s,
                        "error": t.error,
                        "notes": list(t.notes),
                        "findings": t.finding_count,
                    }
                    for t in s.tools
                ],
            }
            for s in report.stages
        ],
        "summary": {
            "total": len(report.findings),
            "new": sum(1 for f in report.findings if f.new),
            "suppressed": sum(1 for f in report.findings if f.suppression is not None),
            "by_severity": severity_counts(report.findings),
        },
        "findings": [finding_dict(f) for f in report.findings],
        "notes": list(report.notes),
    }


class JsonWriter:
    name = "json"

    def render(self, report: Report) -> str:
        # ensure_ascii: any odd byte in a name or message stays a valid, inert escape.
        return json.dumps(report_dict(report), indent=2, ensure_ascii=True) + "\n"
