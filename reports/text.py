"""The terminal report: a per-stage summary, findings grouped by file, then the verdict."""

from __future__ import annotations

from itertools import groupby

from airlock.pipeline.gate import severity_counts
from airlock.pipeline.models import Finding, Report, Severity
from airlock.reports.escape import terminal

_COLORS = {
    Severity.CRITICAL: "1;35",
    Severity.HIGH: "1;31",
    Severity.MEDIUM: "33",
    Severity.LOW: "36",
    Severity.INFO: "2",
}
_VERDICT_COLORS = {"passed": "1;32", "failed": "1;31", "error": "1;33"}


class TextWriter:
    name = "text"

    def __init__(self, color: bool = False) -> None:
        self.color = color

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def render(self, report: Report) -> str:
        out: list[str] = []
        t = report.target
        scope = {
            "full": "whole tree",
            "diff": f"diff {(t.base or '')[:12]}..{(t.head or '')[:12]}",
            "patch": "patch",
            "staged": "staged changes",
        }.get(t.mode, t.mode)
        out.append(f"airlock {report.airlock_version}: {terminal(t.root)} ({scope}, {t.files} files)")
        out.append(f"policy: {terminal(report.policy_source)}, fail_on = {report.fail_on}")
        out.append("")
        out.append(f"{'stage':<9} {'tool':<9} {'status':<8} {'time':>7}  {'version':<10} findings")
        for stage in report.stages:
            if not stage.tools:
                out.append(f"{stage.name:<9} {'-':<9} {stage.status:<8} {'':>7}")
            for tool in stage.tools:
                mine = [f for f in report.findings if f.stage == stage.name and f.tool == tool.tool]
                counts = ", ".join(f"{n} {sev}" for sev, n in severity_counts(mine).items() if n) or "-"
                out.append(
                    f"{stage.name:<9} {tool.tool:<9} {tool.status.value:<8} {tool.duration_s:>6.1f}s"
                    f"  {terminal(tool.version)[:10]:<10} {counts}"
                )
                if tool.error:
                    out.append(f"{'':<9} {self._c('1;33', 'error:')} {terminal(tool.error)[:500]}")
        out.append("")
        by_path = sorted(report.findings, key=lambda f: (f.path, f.start_line, f.rule_id))
        for path, group in groupby(by_path, key=lambda f: f.path):
            out.append(self._c("1", terminal(path) or "(no file)"))
            for f in group:
                out.append(self._finding(f))
            out.append("")
        if report.notes:
            out.append(f"notes ({len(report.notes)}):")
            out.extend(f"  - {terminal(n)[:300]}" for n in report.notes[:20])
            if len(report.notes) > 20:
                out.append(f"  ... {len(report.notes) - 20} more in the JSON report")
            out.append("")
        gate = report.gate
        out.append(self._c(_VERDICT_COLORS.get(gate.verdict, "1"), f"gate: {gate.verdict.upper()}"))
        out.extend(f"  - {terminal(r)}" for r in gate.reasons)
        out.extend(f"  ! {terminal(w)}" for w in gate.warnings)
        return "\n".join(out) + "\n"

    def _finding(self, f: Finding) -> str:
        state = []
        if not f.new:
            state.append("baseline")
        if f.suppression is not None:
            word = "waived" if f.suppression.kind == "waiver" else "suppressed"
            state.append(f"{word}: {terminal(f.suppression.justification)}")
        tag = f" [{'; '.join(state)}]" if state else ""
        loc = f"{f.start_line}" if f.start_line else "-"
        sev = self._c(_COLORS[f.severity], f"{f.severity.label:<8}")
        line = f"  {loc:>5}  {sev} {terminal(f.rule_id)} ({f.tool}){tag}\n         {terminal(f.message)[:400]}"
        if f.snippet:
            first = terminal(f.snippet.splitlines()[0].strip())[:160]
            line += f"\n         > {first}"
        if len(f.sources) > 1:  # deduplicated across tools: name every tool that saw it
            also = ", ".join(f"{terminal(s.tool)} {terminal(s.rule_id)}" for s in f.sources)
            line += f"\n         seen by: {also}"
        return line
