"""The gate: policy + merged findings + stage statuses -> a verdict with reasons. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from airlock.pipeline.models import Finding, GateResult, Severity, ToolRun, ToolStatus
from airlock.pipeline.policy import GatePolicy

UNSCANNED = "airlock.unscanned"


def gating_findings(gate: GatePolicy, findings: Iterable[Finding]) -> list[Finding]:
    """New, unsuppressed findings at or above their stage's threshold, and every unwaived airlock.unscanned.

    A file no tool scanned is unknown code whatever fail_on, max_new or the baseline say; only a waiver
    (read from the base) accepts it.
    """
    return [
        f
        for f in findings
        if f.suppression is None and (f.rule_id == UNSCANNED or (f.new and f.severity >= gate.threshold(f.stage)))
    ]


def evaluate(gate: GatePolicy, findings: Iterable[Finding], runs: Mapping[str, Iterable[ToolRun]]) -> GateResult:
    findings = list(findings)
    gating = gating_findings(gate, findings)
    reasons: list[str] = []
    warnings: list[str] = []

    counts = Counter((f.stage, f.severity) for f in gating)
    for (stage, sev), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        reasons.append(f"{n} new {sev.label} finding{'s' if n != 1 else ''} in {stage}")
    missed = sorted({f.path or "part of the change" for f in gating if f.rule_id == UNSCANNED})
    if missed:
        shown = ", ".join(missed[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5 else "")
        reasons.append(f"{len(missed)} file{'s' if len(missed) != 1 else ''} not scanned (airlock.unscanned): {shown}")
    unscanned = sum(f.rule_id == UNSCANNED for f in gating)
    failed = len(gating) > gate.max_new or unscanned > 0
    if gating and not failed:
        warnings.append(f"{len(gating)} new gating finding(s) tolerated by max_new = {gate.max_new}")
        reasons.clear()

    errored: set[str] = set()
    for stage, tool_runs in runs.items():
        for run in tool_runs:
            if run.status is ToolStatus.ERROR:
                errored.add(stage)
                text = f"stage {stage} errored: {run.error.splitlines()[0] if run.error else run.tool + ' failed'}"
                (warnings if gate.on_error == "warn" else reasons).append(text)

    if errored and gate.on_error == "fail":
        verdict = "error"
    elif failed:
        verdict = "failed"
    else:
        verdict = "passed"
    if verdict == "passed" and not reasons:
        reasons.append(f"no new findings at or above {gate.fail_on.label}")
    return GateResult(
        verdict=verdict,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        failing_stages=frozenset(f.stage for f in gating) if failed else frozenset(),
        errored_stages=frozenset(errored),
        gating=frozenset(f.fingerprint for f in gating),
    )


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}
