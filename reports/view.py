"""Read-only views of a Report that several writers share: a finding's state, groups, counts."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable
from itertools import groupby

from airlock.pipeline.models import Finding, Report, Severity

STATES = ("new", "baseline", "waived", "suppressed")
STAGE_ORDER = ("agent", "sast", "iac", "image", "runtime")


def state(f: Finding) -> str:
    """new | baseline | waived | suppressed: what a reviewer filters on."""
    if f.suppression is not None:
        return "waived" if f.suppression.kind == "waiver" else "suppressed"
    return "new" if f.new else "baseline"


def is_gating(report: Report, f: Finding) -> bool:
    return bool(f.fingerprint) and f.fingerprint in report.gate.gating


def gating(report: Report) -> list[Finding]:
    return [f for f in report.findings if is_gating(report, f)]


def stage_names(report: Report) -> list[str]:
    names = [s.name for s in report.stages]
    extra = sorted({f.stage for f in report.findings} - set(names), key=_stage_key)
    return sorted(names + extra, key=_stage_key)


def _stage_key(name: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)


def by_stage_and_file(findings: Iterable[Finding]) -> list[tuple[str, list[tuple[str, list[Finding]]]]]:
    ordered = sorted(findings, key=lambda f: (_stage_key(f.stage), f.path, f.start_line, -f.severity, f.rule_id))
    out = []
    for stage, in_stage in groupby(ordered, key=lambda f: f.stage):
        files = [(path, list(group)) for path, group in groupby(in_stage, key=lambda f: f.path)]
        out.append((stage, files))
    return out


def count_table(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    """severity label -> state -> count, every cell present."""
    c = Counter((f.severity, state(f)) for f in findings)
    return {s.label: {st: c.get((s, st), 0) for st in STATES} for s in sorted(Severity, reverse=True)}


def top_new(report: Report, n: int) -> list[Finding]:
    """Gating findings first, then other new ones, most severe first."""
    new = [f for f in report.findings if state(f) == "new"]
    return sorted(new, key=lambda f: (not is_gating(report, f), -f.severity, f.path, f.start_line, f.rule_id))[:n]


def location(f: Finding) -> tuple[str, int, int]:
    """(path, start line, end line) to show a finding at: its own file, else its anchor (pipeline/anchors.py).
    The path is "" only for a finding built outside a scan, which has neither."""
    if f.path:
        return f.path, f.start_line, max(f.end_line, f.start_line)
    if f.anchor is not None:
        return f.anchor.path, f.anchor.line, f.anchor.line
    return "", 0, 0


def next_steps(report: Report) -> list[tuple[str, str]]:
    """What the reader does now, for every verdict, as (advice, command or ""): fix, waive, baseline, or nothing."""
    gate = report.gate
    root = shlex.quote(report.target.root)
    if gate.verdict == "error":
        return [
            ("no verdict: fix the stage error above and scan again (a stage error never passes)", ""),
            ("check every tool and the sandbox on this host", "airlock doctor"),
        ]
    if gate.verdict == "failed":
        ranked = top_new(report, len(report.findings))
        first = next((f for f in ranked if is_gating(report, f) and f.fingerprint), None)
        steps = [("fix the gating findings above and scan again", "")]
        if first is not None:
            steps.append((
                "or accept one for a while, with a reason and an owner (commit the waiver to the base branch)",
                f"airlock waive {root} --fingerprint {first.fingerprint} --reason '...' --owner you@example.com",
            ))
        steps.append(("or accept every finding present today as the baseline", f"airlock baseline create {root}"))
        return steps
    if gate.warnings:
        return [("passed: nothing blocks this change; read the warnings above", "")]
    return [("passed: nothing to do", "")]
