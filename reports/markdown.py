"""The Markdown summary for a PR comment or $GITHUB_STEP_SUMMARY: verdict, counts, top new findings.

Untrusted text (paths, rule ids, messages) is escaped so it cannot break the table, open a link,
autolink a URL, @mention someone or reference an issue. Output is capped below GitHub's 65,536-char
comment limit.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from airlock.pipeline.models import Finding, Report
from airlock.reports import view
from airlock.reports.escape import terminal

MAX_CHARS = 60_000
TOP_N = 20
_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:;$%^])")
ZWSP = "\u200b"
_AUTOLINK = re.compile(r"://|www\.", re.IGNORECASE)
_VERDICT = {"passed": "✅ passed", "failed": "❌ failed", "error": "⚠️ error (no verdict)"}


def md_text(text: str, limit: int = 300) -> str:
    """Inline-safe Markdown for an untrusted string: one line, every punctuation backslash-escaped."""
    text = terminal(text).replace("\\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # A backslash does not stop GitHub's autolink, mention and #reference passes; a zero-width space does.
    text = _AUTOLINK.sub(lambda m: m.group()[0] + ZWSP + m.group()[1:], text)
    text = _PUNCT.sub(r"\\\1", text)
    return text.replace("@", "@" + ZWSP).replace("#", "#" + ZWSP)


def _link(f: Finding, link_base: str | None) -> str:
    label = md_text(f"{f.path}:{f.start_line}" if f.start_line else f.path or "(no file)", 200)
    if not f.path:
        return label
    target = quote(f.path, safe="/") + (f"#L{f.start_line}" if f.start_line else "")
    url = f"{link_base.rstrip('/')}/{target}" if link_base else target
    return f"[{label}](<{url}>)"


def _command(cmd: str) -> str:
    """A command as a code span (copyable as is); escaped prose when a backtick would end the span."""
    if not cmd:
        return ""
    text = terminal(cmd)
    return f": `{text}`" if "`" not in text else f": {md_text(text)}"


class MarkdownWriter:
    name = "markdown"

    def __init__(self, link_base: str | None = None, top_n: int = TOP_N, max_chars: int = MAX_CHARS) -> None:
        # link_base: e.g. https://github.com/owner/repo/blob/<sha>; without it links are repository-relative.
        self.link_base = link_base
        self.top_n = top_n
        self.max_chars = max_chars

    def render(self, report: Report) -> str:
        gate = report.gate
        head = [f"## airlock: gate {_VERDICT.get(gate.verdict, gate.verdict)}", ""]
        head += [f"- {md_text(r, 500)}" for r in gate.reasons]
        head += [f"- ⚠️ {md_text(w, 500)}" for w in gate.warnings]
        head += ["", "**Next**", ""] + [f"- {md_text(step)}{_command(cmd)}" for step, cmd in view.next_steps(report)]
        head += ["", f"Policy: {md_text(report.policy_source)}, `fail_on = {report.fail_on}`", ""]
        head += ["| stage | status | tools | time |", "|---|---|---|---:|"]
        for s in report.stages:
            tools = ", ".join(f"{md_text(t.tool, 40)} {md_text(t.version, 40)}".strip() for t in s.tools) or "-"
            head.append(f"| {s.name} | {s.status} | {tools} | {s.duration_s:.1f} s |")
        head += ["", "| severity | " + " | ".join(view.STATES) + " |", "|---" + "|---:" * len(view.STATES) + "|"]
        for sev, row in view.count_table(report.findings).items():
            head.append(f"| {sev} | " + " | ".join(str(row[st]) for st in view.STATES) + " |")
        head.append("")

        top = view.top_new(report, self.top_n)
        total_new = sum(1 for f in report.findings if view.state(f) == "new")
        rows = [self._row(report, f) for f in top]
        table_head = [f"### New findings ({total_new})", "", "| | severity | rule | location | message |",
                      "|---|---|---|---|---|"]
        notes = [f"- {md_text(n, 300)}" for n in report.notes[:10]]
        if len(report.notes) > 10:
            notes.append(f"- {len(report.notes) - 10} more notes in the full report")
        footer = f"<sub>airlock {md_text(report.airlock_version, 40)} · {md_text(report.generated_at, 40)}</sub>"
        tail = (["", "**Notes**", "", *notes] if notes else []) + ["", footer]
        body = "\n".join(head) + "\n"
        if total_new:
            body += "\n".join(table_head) + "\n"
        shown = 0
        for line in rows:
            more = total_new - shown - 1
            reserve = len(f"\n_{more} more in the full report._\n") + sum(len(x) + 1 for x in tail) + 64
            if len(body) + len(line) + 1 + reserve > self.max_chars:
                break
            body += line + "\n"
            shown += 1
        if total_new > shown:
            body += f"\n_{total_new - shown} more in the full report._\n"
        body += "\n".join(tail) + "\n"
        return body

    def _row(self, report: Report, f: Finding) -> str:
        mark = "🚫" if view.is_gating(report, f) else ""
        return (f"| {mark} | {f.severity.label} | {md_text(f.rule_id, 120)} | {_link(f, self.link_base)} "
                f"| {md_text(f.message, 300)} |")
