"""The terminal report: a per-stage summary, findings grouped by file, then the verdict."""

from __future__ import annotations

from itertools import groupby

from airlock.pipeline.gate import severity_counts
from airlock.pipeline.models import Finding, Report, Severity, ToolStatus
from airlock.reports import view
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
        out.extend(self._table(report))
        out.append("")
        # Within a file (and among runtime findings, which have none) the most severe comes first.
        by_path = sorted(report.findings, key=lambda f: (f.path, f.start_line, -f.severity, f.rule_id))
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
        out.append("next:")
        for step, cmd in view.next_steps(report):
            out.append(f"  - {terminal(step)}" + (f": {terminal(cmd)}" if cmd else ""))
        return "\n".join(out) + "\n"

    def _table(self, report: Report) -> list[str]:
        """One row per tool, every column as wide as its widest cell (colour codes added after padding)."""
        head: tuple[str, ...] = ("stage", "tool", "status", "time", "version", "findings")
        rows: list[tuple[tuple[str, ...], str]] = []  # cells, and an error line under the row
        for stage in report.stages:
            if not stage.tools:
                rows.append(((stage.name, "-", stage.status, "", "", "-"), ""))
            for tool in stage.tools:
                mine = [f for f in report.findings if f.stage == stage.name and f.tool == tool.tool]
                counts = ", ".join(f"{n} {sev}" for sev, n in severity_counts(mine).items() if n) or "-"
                skipped = tool.status is ToolStatus.SKIPPED
                cells: tuple[str, ...] = (
                    stage.name,
                    terminal(tool.tool),
                    tool.status.value,
                    "" if skipped else f"{tool.duration_s:.1f}s",
                    terminal(tool.version)[:24],
                    "- (nothing in the change for it)" if skipped else counts,
                )
                rows.append((cells, "" if skipped else tool.error))
        widths = [max(len(c[i]) for c in [head, *(r for r, _ in rows)]) for i in range(len(head) - 1)]
        right = {3}  # time

        def line(cells: tuple[str, ...]) -> str:
            pairs = enumerate(zip(cells[:-1], widths, strict=True))
            padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
            return "  ".join([*padded, cells[-1]]).rstrip()

        out = [line(head)]
        for cells, error in rows:
            out.append(line(cells))
            if error:
                out.append(f"{'':<{widths[0]}}  {self._c('1;33', 'error:')} {terminal(error)[:500]}")
        return out

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
