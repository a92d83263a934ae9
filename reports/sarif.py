"""SARIF 2.1.0: one run per tool, each with its own automationDetails.id (GitHub wants one per category)."""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import quote

from airlock.pipeline.anchors import FALLBACK
from airlock.pipeline.models import Finding, Report, Severity, ToolRun, ToolStatus
from airlock.reports import view

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "airlock/v1"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub buckets security-severity: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
TOOL_URIS = {
    "semgrep": "https://semgrep.dev",
    "bandit": "https://bandit.readthedocs.io",
    "checkov": "https://www.checkov.io",
    "trivy": "https://trivy.dev",
}


def _uri(path: str) -> str:
    return quote(path, safe="/")


def _rule(f: Finding) -> dict[str, Any]:
    tags = ["security", *(f"external/cwe/{c.lower()}" for c in f.cwe)]
    rule: dict[str, Any] = {
        "id": f.rule_id,
        "shortDescription": {"text": f.title or f.rule_id},
        "fullDescription": {"text": f.message or f.rule_id},
        "defaultConfiguration": {"level": LEVEL[f.severity]},
        "properties": {"security-severity": SECURITY_SEVERITY[f.severity], "tags": tags},
    }
    if f.help_url.startswith(("https://", "http://")):
        rule["helpUri"] = f.help_url
    return rule


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": f.message or f.rule_id},
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "baselineState": "new" if f.new else "unchanged",
        "properties": {"severity": f.severity.label, "stage": f.stage, "cwe": list(f.cwe)},
    }
    # Every result has a location (GitHub rejects one without): its file, else its anchor, else the policy file.
    path, start, end = view.location(f)
    region: dict[str, Any] = {}
    if start > 0:
        region = {"startLine": start, "endLine": end}
        if f.snippet and f.path:
            region["snippet"] = {"text": f.snippet}
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(path or FALLBACK), "uriBaseId": "%SRCROOT%"}}
    if region:
        location["region"] = region
    result["locations"] = [{"physicalLocation": location}]
    if f.anchor is not None and not f.path:
        result["locations"][0]["message"] = {"text": f.anchor.why}
    if f.suppression is not None:
        kind = "inSource" if f.suppression.kind in ("inline", "checkov-skip") else "external"
        result["suppressions"] = [
            {"kind": kind, "status": "accepted", "justification": f.suppression.justification}
        ]
    if f.sources:
        # A deduplicated finding: every tool that reported it, with its own rule id and message.
        result["properties"]["sources"] = [
            {"tool": s.tool, "ruleId": s.rule_id, "message": s.message} for s in f.sources
        ]
    if f.evidence:
        result["properties"]["evidence"] = list(f.evidence)
    return result


def _run(stage: str, tool: ToolRun, findings: list[Finding]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for f in findings:
        if f.rule_id not in index:
            index[f.rule_id] = len(rules)
            rules.append(_rule(f))
        results.append(_result(f, index[f.rule_id]))
    driver: dict[str, Any] = {"name": tool.tool, "rules": rules}
    if tool.version:
        driver["version"] = tool.version
    if tool.tool in TOOL_URIS:
        driver["informationUri"] = TOOL_URIS[tool.tool]
    invocation: dict[str, Any] = {"executionSuccessful": tool.status is not ToolStatus.ERROR}
    if tool.error and tool.status is ToolStatus.ERROR:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": tool.error}}]
    return {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"airlock/{stage}/{tool.tool}/"},
        "invocations": [invocation],
        "results": results,
        "columnKind": "unicodeCodePoints",
    }


def sarif_dict(report: Report) -> dict[str, Any]:
    runs = []
    placed: set[tuple[str, str]] = set()
    for stage in report.stages:
        for tool in stage.tools:
            if tool.status is ToolStatus.SKIPPED:
                continue
            placed.add((stage.name, tool.tool))
            mine = [f for f in report.findings if f.stage == stage.name and f.tool == tool.tool]
            runs.append(_run(stage.name, tool, mine))
    # Findings of no tool run: airlock's own agent.* checks on the change.
    rest = sorted({(f.stage, f.tool) for f in report.findings} - placed)
    for stage_name, tool_name in rest:
        mine = [f for f in report.findings if f.stage == stage_name and f.tool == tool_name]
        own = ToolRun(tool_name, ToolStatus.OK, report.airlock_version, 0.0, "", (), len(mine))
        runs.append(_run(stage_name, own, mine))
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": runs}


# GitHub code scanning limits per uploaded file.
MAX_RESULTS_PER_RUN = 25_000
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_RUNS_PER_FILE = 20


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def _gz_size(doc: dict[str, Any]) -> int:
    return len(gzip.compress(_dump(doc).encode("ascii"), compresslevel=6))


def _chunk_run(run: dict[str, Any], max_results: int) -> list[dict[str, Any]]:
    results = run["results"]
    if len(results) <= max_results:
        return [run]
    parts = []
    for n, start in enumerate(range(0, len(results), max_results), start=1):
        part = dict(run, results=results[start : start + max_results])
        part["automationDetails"] = {"id": f"{run['automationDetails']['id']}part{n}/"}
        parts.append(part)
    return parts


def split_sarif(
    doc: dict[str, Any],
    *,
    max_results: int = MAX_RESULTS_PER_RUN,
    max_gzip_bytes: int = MAX_GZIP_BYTES,
    max_runs: int = MAX_RUNS_PER_FILE,
) -> list[dict[str, Any]]:
    """Split a SARIF log into files GitHub accepts: results per run, runs per file, gzipped size."""
    runs = [part for run in doc["runs"] for part in _chunk_run(run, max_results)]

    def wrap(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"$schema": doc["$schema"], "version": doc["version"], "runs": rs}

    files: list[list[dict[str, Any]]] = []
    queue = list(runs)
    while queue:
        run = queue.pop(0)
        if _gz_size(wrap([run])) > max_gzip_bytes and len(run["results"]) > 1:
            half = (len(run["results"]) + 1) // 2
            queue[:0] = _chunk_run(run, half)  # too big even alone: halve it and retry
            continue
        if files and len(files[-1]) < max_runs and _gz_size(wrap([*files[-1], run])) <= max_gzip_bytes:
            files[-1].append(run)
        else:
            files.append([run])
    return [wrap(rs) for rs in files] or [wrap([])]


class SarifWriter:
    name = "sarif"

    def render(self, report: Report) -> str:
        return _dump(sarif_dict(report))

    def render_files(self, report: Report, **limits: int) -> list[str]:
        """One or more SARIF documents, each within GitHub's upload limits."""
        return [_dump(d) for d in split_sarif(sarif_dict(report), **limits)]
