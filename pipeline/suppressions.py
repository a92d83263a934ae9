"""Inline suppression comments: honoured for code that was already there, never for ones the change adds.

The adapters mark a finding whose line carries its tool's comment (`# nosec`, `# nosemgrep`,
`#checkov:skip=`) with Suppression("inline" | "checkov-skip"). This module adds airlock's own
`# airlock: ignore[rule-id,...] reason`, then asks of every suppressed finding whether the comment
sits on a line the scanned change added. If it does, the suppression is dropped and the comment
itself becomes an `agent.suppression-added` finding: an agent must not silence the gate by writing a comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from pipeline.models import Change, FileStatus, Finding, Severity, Suppression
from pipeline.redact import redact

INLINE_KINDS = frozenset({"inline", "checkov-skip"})
ANY_COMMENT = re.compile(
    r"#\s*(?:nosec\b|nosem(?:grep)?\b|checkov\s*:\s*skip\s*=|airlock\s*:\s*ignore\[)", re.IGNORECASE
)
AIRLOCK_IGNORE = re.compile(r"#\s*airlock\s*:\s*ignore\[(?P<ids>[^\]]*)\](?P<reason>[^#]*)", re.IGNORECASE)
RULE_ID = "agent.suppression-added"

LineReader = Callable[[str, int], str]  # (path, 1-based line) -> text, "" when out of range


@dataclass(frozen=True)
class AddedLines:
    """Which head lines the change added; in full mode nothing counts as added."""

    ranges: dict[str, tuple[tuple[int, int], ...]]
    whole_files: frozenset[str]

    @classmethod
    def of(cls, change: Change) -> AddedLines:
        if change.mode == "full":
            return cls({}, frozenset())
        ranges = {f.path: f.added_lines for f in change.files if f.status is not FileStatus.DELETED}
        # An added file whose diff gave no ranges (binary, odd encoding): every line is new.
        whole = frozenset(f.path for f in change.files if f.status is FileStatus.ADDED and not f.added_lines)
        return cls(ranges, whole)

    def added(self, path: str, line: int) -> bool:
        if path in self.whole_files:
            return True
        return any(a <= line <= b for a, b in self.ranges.get(path, ()))


def airlock_ignore(text: str) -> tuple[set[str], str] | None:
    """The rule ids and reason of an `# airlock: ignore[...] reason` comment on a line, if any."""
    m = AIRLOCK_IGNORE.search(text)
    if m is None:
        return None
    ids = {i.strip() for i in m.group("ids").split(",") if i.strip()}
    return ids, m.group("reason").strip()


def _apply_airlock_ignore(f: Finding, read: LineReader) -> Finding:
    if f.suppression is not None or not f.path or f.start_line <= 0 or f.rule_id.startswith("agent."):
        return f
    rules = {f.rule_id, *(s.rule_id for s in f.sources)}
    for n in (f.start_line, f.start_line - 1):
        parsed = airlock_ignore(read(f.path, n))
        if parsed and parsed[0] & rules and parsed[1]:
            return replace(f, suppression=Suppression("inline", f"airlock: ignore: {parsed[1]}"))
    return f


def _comment_lines(f: Finding, read: LineReader) -> list[int]:
    """Lines near the finding that carry a suppression comment (the line above counts too)."""
    last = max(f.end_line, f.start_line)
    return [n for n in range(max(1, f.start_line - 1), last + 1) if ANY_COMMENT.search(read(f.path, n))]


def apply(findings: Iterable[Finding], change: Change, read: LineReader) -> list[Finding]:
    """Honour old suppression comments; unsuppress findings hidden by new ones and report each new comment."""
    added = AddedLines.of(change)
    out: list[Finding] = []
    hidden: dict[tuple[str, int], list[Finding]] = {}
    for f in findings:
        f = _apply_airlock_ignore(f, read)
        if f.suppression is None or f.suppression.kind not in INLINE_KINDS or not f.path:
            out.append(f)
            continue
        lines = _comment_lines(f, read) or [f.start_line]
        new_lines = [n for n in lines if added.added(f.path, n)]
        if not new_lines:
            out.append(f)
            continue
        out.append(replace(f, suppression=None))
        hidden.setdefault((f.path, new_lines[0]), []).append(f)
    for (path, line), victims in sorted(hidden.items()):
        out.append(_suppression_added(path, line, victims, read(path, line)))
    return out


def _suppression_added(path: str, line: int, victims: list[Finding], text: str) -> Finding:
    names = ", ".join(
        sorted({f"{v.rule_id} ({v.tool}) at line {v.start_line}" for v in victims})
    )
    return Finding(
        stage="agent",
        tool="airlock",
        rule_id=RULE_ID,
        message=(
            f"this change adds a suppression comment that would hide {names}; "
            "a suppression the change itself adds is not honoured, so the hidden finding still counts"
        ),
        severity=Severity.HIGH,
        path=path,
        start_line=line,
        end_line=line,
        title="suppression comment added by the change",
        # The comment's line may hold the very secret the hidden finding is about.
        snippet=next((redact(replace(v, snippet=text[:600])).snippet for v in victims), text[:600]),
        cwe=(),
        help_url="",
        evidence=tuple(f"hides {v.tool} {v.rule_id}: {v.message[:300]}" for v in victims),
    )
