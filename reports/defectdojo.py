"""DefectDojo's "Generic Findings Import" JSON: one test with airlock's findings, ready for import-scan/reimport-scan.

unique_id_from_tool is airlock's stable fingerprint (rule + path + normalised code + occurrence), not a line:
a finding that moves lines stays the same DefectDojo finding on reimport instead of being closed and reopened.
Suppressed findings go out as inactive with their justification; baselined ones (not new) as verified=false,
active=true, so the tracker sees what the gate accepted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from airlock.pipeline import __version__
from airlock.pipeline.models import Finding, Report, Severity

# DefectDojo's severity names.
SEVERITY = {s: s.label.capitalize() for s in Severity}  # Critical, High, Medium, Low, Info
_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)


def _cwe(f: Finding) -> int | None:
    for c in f.cwe:
        m = _CWE.search(c)
        if m:
            return int(m.group(1))
    return None


def _description(f: Finding) -> str:
    parts = [f.message or f.title or f.rule_id, f"Rule: {f.rule_id} ({f.tool}, stage {f.stage})"]
    if f.path:
        parts.append(f"Location: {f.path}" + (f":{f.start_line}" if f.start_line else ""))
    if f.snippet:
        parts.append("Code:\n" + f.snippet)
    if f.evidence:
        parts.append("Evidence:\n" + "\n".join(f.evidence))
    if f.suppression is not None:
        parts.append(f"Suppressed ({f.suppression.kind}): {f.suppression.justification}")
    return "\n\n".join(parts)


def finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": (f.title or f.rule_id)[:500],
        "severity": SEVERITY[f.severity],
        "description": _description(f),
        "unique_id_from_tool": f.fingerprint,
        "vuln_id_from_tool": f.rule_id,
        "static_finding": f.stage != "runtime",
        "dynamic_finding": f.stage == "runtime",
        "active": f.suppression is None,
        "verified": f.new,
    }
    if f.path:
        out["file_path"] = f.path
    if f.start_line > 0:
        out["line"] = f.start_line
    cwe = _cwe(f)
    if cwe is not None:
        out["cwe"] = cwe
    if f.help_url:
        out["references"] = f.help_url
    if f.rule_id.startswith("CVE-"):
        out["cve"] = f.rule_id
    return out


def defectdojo_dict(report: Report) -> dict[str, Any]:
    return {
        "name": "airlock",
        "type": "airlock",
        "version": __version__,
        "description": f"airlock {report.target.mode} scan, gate {report.gate.verdict}",
        "static_tool": True,
        "dynamic_tool": any(f.stage == "runtime" for f in report.findings),
        "findings": [finding_dict(f) for f in report.findings],
    }


class DefectDojoWriter:
    name = "defectdojo"

    def render(self, report: Report) -> str:
        return json.dumps(defectdojo_dict(report), indent=2, ensure_ascii=True) + "\n"
