"""Findings to and from a cache entry's JSON, strictly: anything unexpected in an entry makes it a miss.

A snippet that is just the file's own lines is not stored: the entry is keyed on the file's exact bytes, so it
is read again from the file on a hit. That keeps source code (and any credential in it) out of the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from airlock.pipeline.models import Finding, Severity, Source, Suppression

SnippetOf = Callable[[str, int, int], str]  # (path, start line, end line) -> the file's lines
MAX_LINE = 1 << 31
_STR_FIELDS = ("rule_id", "message", "title", "fingerprint", "help_url")
_KEYS = frozenset({*_STR_FIELDS, "severity", "start_line", "end_line", "snippet", "cwe", "new", "suppression",
                   "sources", "evidence"})  # fmt: skip


class BadEntry(ValueError):
    """A cache entry that is not what airlock writes: the caller treats it as a miss."""


def encode(findings: Iterable[Finding], snippet_of: SnippetOf) -> list[dict[str, Any]]:
    """The findings of one file, without what the entry's key already says (tool, stage, path)."""
    out = []
    for f in findings:
        from_file = f.snippet == snippet_of(f.path, f.start_line, f.end_line)
        out.append(
            {
                "rule_id": f.rule_id,
                "message": f.message,
                "severity": int(f.severity),
                "start_line": f.start_line,
                "end_line": f.end_line,
                "title": f.title,
                "snippet": None if from_file else f.snippet,
                "cwe": list(f.cwe),
                "fingerprint": f.fingerprint,
                "new": f.new,
                "help_url": f.help_url,
                "suppression": None if f.suppression is None else [f.suppression.kind, f.suppression.justification],
                "sources": [[s.tool, s.rule_id, s.message, s.fingerprint] for s in f.sources],
                "evidence": list(f.evidence),
            }
        )
    return out


def decode(data: Any, *, tool: str, stage: str, path: str, snippet_of: SnippetOf) -> tuple[Finding, ...]:
    """The findings an entry holds for (tool, stage, path); BadEntry for anything airlock would not have written."""
    if not isinstance(data, list):
        raise BadEntry("findings are not a list")
    return tuple(_finding(d, tool, stage, path, snippet_of) for d in data)


def _finding(d: Any, tool: str, stage: str, path: str, snippet_of: SnippetOf) -> Finding:
    if not isinstance(d, dict) or set(d) != _KEYS:
        raise BadEntry("a finding with unexpected fields")
    strs = {k: _str(d[k]) for k in _STR_FIELDS}
    start, end = _line(d["start_line"]), _line(d["end_line"])
    sev = d["severity"]
    if type(sev) is not int or sev not in {int(s) for s in Severity}:
        raise BadEntry("bad severity")
    if type(d["new"]) is not bool:
        raise BadEntry("bad new flag")
    snippet = snippet_of(path, start, end) if d["snippet"] is None else _str(d["snippet"])
    sup = d["suppression"]
    suppression = None
    if sup is not None:
        kind, why = _strs(sup, 2)
        suppression = Suppression(kind, why)
    sources = d["sources"]
    if not isinstance(sources, list):
        raise BadEntry("bad sources")
    return Finding(
        stage=stage,
        tool=tool,
        rule_id=strs["rule_id"],
        message=strs["message"],
        severity=Severity(sev),
        path=path,
        start_line=start,
        end_line=end,
        title=strs["title"],
        snippet=snippet,
        cwe=_strs(d["cwe"]),
        fingerprint=strs["fingerprint"],
        new=d["new"],
        help_url=strs["help_url"],
        suppression=suppression,
        sources=tuple(Source(*_strs(s, 4)) for s in sources),
        evidence=_strs(d["evidence"]),
    )


def _str(v: Any) -> str:
    if type(v) is not str:
        raise BadEntry("a text field is not a string")
    return v


def _line(v: Any) -> int:
    if type(v) is not int or not 0 <= v < MAX_LINE:
        raise BadEntry("bad line number")
    return v


def _strs(v: Any, n: int | None = None) -> tuple[str, ...]:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise BadEntry("bad list of strings")
    return tuple(_str(x) for x in v)
