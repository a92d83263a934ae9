"""Inline suppression comments: honoured only for old code, under an old comment, naming the rule.

The adapters mark a finding whose lines carry its tool's comment with Suppression("inline" |
"checkov-skip"); this module adds airlock's own `# airlock: ignore[rule-id,...] reason`, then decides.
In a diff mode a suppression counts only when all of these hold:
- the comment was in the base (its line is not one the change added);
- the lines the finding covers are unchanged;
- the comment names the finding's rule, or it is bare (`# nosec`) and the finding is not new.
Otherwise the finding is unsuppressed, and a comment the change added becomes an
`agent.suppression-added` finding: an agent must not silence the gate by writing a comment.
Every syntax the tools honour is known here (see docs/rules/agent.md) and treated alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from airlock.pipeline.models import Change, FileStatus, Finding, Severity, Suppression
from airlock.pipeline.redact import redact

INLINE_KINDS = frozenset({"inline", "checkov-skip"})
# bandit: `# nosec`, `# nosec B602,B603`, `# nosec: subprocess_popen_with_shell_equals_true` (bandit/core/manager.py)
NOSEC = re.compile(r"#\s*nosec\b:?\s*(?P<ids>[^#]+)?", re.IGNORECASE)
NOSEC_ID = re.compile(r"\b(B\d{3}|[a-z][a-z\d]*(?:_[a-z\d]+)+)\b", re.IGNORECASE)
# semgrep: `nosem`, `nosemgrep`, `nosemgrep: id1, id2` behind any comment marker (semgrep/constants.py)
NOSEM = re.compile(r"\bnosem(?:grep)?\b(?:\s*[:=]\s*(?P<ids>[^\s,]+(?:\s*,\s*[^\s,]+)*))?", re.IGNORECASE)
# checkov: `#checkov:skip=ID:why`, the same with bridgecrew: or cortex:, and Kubernetes annotations
# `checkov.io/skip1: ID=why` (checkov/common/comment/enum.py, checkov/kubernetes/parser).
CHECKOV_SKIP = re.compile(
    r"(?:#|//|/\*)\s*(?:checkov|bridgecrew|cortex)\s*:\s*skip\s*=\s*(?P<ids>[A-Za-z0-9_.\-]+)", re.IGNORECASE
)
CHECKOV_ANNOTATION = re.compile(r"checkov\.io/skip\d*[\"']?\s*:\s*[\"']?(?P<ids>[A-Za-z0-9_.\-]+)", re.IGNORECASE)
AIRLOCK_IGNORE = re.compile(r"#\s*airlock\s*:\s*ignore\[(?P<ids>[^\]]*)\](?P<reason>[^#]*)", re.IGNORECASE)
FAMILIES: dict[str, tuple[re.Pattern[str], ...]] = {
    "bandit": (NOSEC,),
    "semgrep": (NOSEM,),
    "checkov": (CHECKOV_SKIP, CHECKOV_ANNOTATION),
}
ANY_COMMENT = re.compile(
    "|".join(p.pattern for p in (NOSEC, NOSEM, CHECKOV_SKIP, CHECKOV_ANNOTATION, AIRLOCK_IGNORE))
    .replace("(?P<ids>", "(?:")
    .replace("(?P<reason>", "(?:"),
    re.IGNORECASE,
)
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


def comment_ids(text: str, tool: str) -> list[frozenset[str]] | None:
    """The suppression comments for tool's findings on a line: each as the rule ids it names (empty: bare)."""
    found: list[frozenset[str]] = []
    for pattern in FAMILIES.get(tool, ()):
        for m in pattern.finditer(text):
            raw = m.group("ids") or ""
            if pattern is NOSEC:
                ids = {x.group(1) for x in NOSEC_ID.finditer(raw)}
            else:
                ids = {i.strip() for i in raw.split(",") if i.strip()}
            found.append(frozenset(ids))
    return found or None


def names_rule(ids: frozenset[str], f: Finding) -> bool:
    """Whether a comment's rule ids include f's rule, the way its tool compares them."""
    title = f.title.lower().replace(" ", "_")
    for i in ids:
        low = i.lower()
        if low == f.rule_id.lower() or (title and low == title):
            return True
        # semgrep ids may be written with or without the config's dotted prefix
        if f.tool == "semgrep" and (f.rule_id.endswith("." + i) or i.endswith("." + f.rule_id)):
            return True
    return False


def covering_comments(f: Finding, read: LineReader) -> list[tuple[int, frozenset[str]]]:
    """(line, ids) of every comment near f that its tool or airlock would take as suppressing it."""
    out: list[tuple[int, frozenset[str]]] = []
    for n in range(max(1, f.start_line - 1), max(f.end_line, f.start_line) + 1):
        text = read(f.path, n)
        for ids in comment_ids(text, f.tool) or ():
            out.append((n, ids))
        parsed = airlock_ignore(text)
        if parsed and n >= f.start_line - 1:
            out.append((n, frozenset(parsed[0])))
    return out


def _agent_comment_lines(f: Finding, read: LineReader, added: AddedLines) -> list[int]:
    return [
        n
        for n in range(max(1, f.start_line - 1), max(f.end_line, f.start_line) + 1)
        if added.added(f.path, n) and ANY_COMMENT.search(read(f.path, n))
    ]


def honoured(f: Finding, change: Change, read: LineReader, added: AddedLines) -> bool:
    comments = covering_comments(f, read)
    if change.mode == "full":
        # No base to judge against: a comment counts when it is bare or names the rule, as the tool does.
        return not comments or any(not ids or names_rule(ids, f) for _n, ids in comments)
    old = [(n, ids) for n, ids in comments if not added.added(f.path, n)]
    if not old:
        return False
    if any(added.added(f.path, n) for n in range(f.start_line, max(f.end_line, f.start_line) + 1)):
        return False  # the code under the comment is new: the comment was about other code
    return any(names_rule(ids, f) or (not ids and not f.new) for _n, ids in old)


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
        if honoured(f, change, read, added):
            out.append(f)
            continue
        out.append(replace(f, suppression=None))
        agent_lines = [] if change.mode == "full" else _agent_comment_lines(f, read, added)
        if agent_lines:
            hidden.setdefault((f.path, agent_lines[0]), []).append(f)
    for (path, line), victims in sorted(hidden.items()):
        out.append(_suppression_added(path, line, victims, read(path, line)))
    return out


def _suppression_added(path: str, line: int, victims: list[Finding], text: str) -> Finding:
    names = ", ".join(sorted({f"{v.rule_id} ({v.tool}) at line {v.start_line}" for v in victims}))
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
