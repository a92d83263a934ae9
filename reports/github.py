"""GitHub Actions workflow commands: one ::error (or ::warning, when tolerated) per gating finding.

Untrusted text is first cleaned by the shared policy (reports/escape.py: no ESC, no bidi controls), then
escaped as the runner requires, so a message cannot end the command early or start a new one (`%`, CR and
LF everywhere; also `:` and `,` in properties).
"""

from __future__ import annotations

from airlock.pipeline.models import Report
from airlock.reports import view
from airlock.reports.escape import clean


def escape_data(text: str) -> str:
    text = clean(text, keep_newlines=True)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class GithubWriter:
    name = "github"

    def render(self, report: Report) -> str:
        level = "error" if report.gate.verdict == "failed" else "warning"
        lines = []
        for f in view.gating(report):
            props = []
            path, start, end = view.location(f)  # a runtime finding shows at the line that declared its command
            if path:
                props.append(f"file={escape_property(path)}")
                if start:
                    props.append(f"line={start}")
                    props.append(f"endLine={end}")
            props.append(f"title={escape_property(f'{f.rule_id} ({f.severity.label}, {f.tool})')}")
            lines.append(f"::{level} {','.join(props)}::{escape_data(f.message or f.rule_id)}")
        gate = report.gate
        summary = f"gate {gate.verdict}: " + "; ".join(gate.reasons)
        verdict_level = {"passed": "notice", "failed": "error"}.get(gate.verdict, "error")
        lines.append(f"::{verdict_level} title=airlock::{escape_data(summary)}")
        lines.extend(f"::warning title=airlock::{escape_data(w)}" for w in gate.warnings)
        return "\n".join(lines) + "\n"
