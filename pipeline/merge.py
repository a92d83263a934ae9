"""Cross-tool deduplication: one weakness at one place is one finding, with every tool as a source. Pure."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from pipeline.models import Finding, Source

_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)


def sources_of(f: Finding) -> tuple[Source, ...]:
    """A finding's sources; a raw finding is its own single source."""
    return f.sources or (Source(f.tool, f.rule_id, f.message, f.fingerprint),)


def _cves(f: Finding) -> set[str]:
    return {m.upper() for m in _CVE.findall(f.rule_id)}


def _lines(f: Finding) -> tuple[int, int]:
    # Line 0 means "the whole file" (a manifest-level finding): it overlaps every line.
    if f.start_line <= 0:
        return (0, 1 << 30)
    return (f.start_line, max(f.start_line, f.end_line))


def same_weakness(a: Finding, b: Finding) -> bool:
    """Different tools, same file, overlapping lines, and a shared CWE or CVE."""
    if a.tool == b.tool or not a.path or a.path != b.path:
        return False
    (a0, a1), (b0, b1) = _lines(a), _lines(b)
    if a1 < b0 or b1 < a0:
        return False
    return bool(set(a.cwe) & set(b.cwe)) or bool(_cves(a) & _cves(b))


def _combine(group: Sequence[Finding]) -> Finding:
    primary = sorted(group, key=lambda f: (-f.severity, f.tool, f.rule_id, f.start_line))[0]
    sources: list[Source] = []
    for f in group:
        for s in sources_of(f):
            if s not in sources:
                sources.append(s)
    cwe: list[str] = []
    for f in group:
        cwe += [c for c in f.cwe if c not in cwe]
    starts = [f.start_line for f in group if f.start_line > 0]
    evidence: list[str] = []
    for f in group:
        evidence += [e for e in f.evidence if e not in evidence]
    # A merged finding stays suppressed only when every tool's report of it was suppressed:
    # a `# nosec` silences bandit, not the same weakness as semgrep saw it.
    suppressed = all(f.suppression is not None for f in group)
    return replace(
        primary,
        severity=max(f.severity for f in group),
        cwe=tuple(cwe),
        start_line=min(starts) if starts else 0,
        end_line=max((max(f.end_line, f.start_line) for f in group), default=0),
        new=any(f.new for f in group),
        suppression=primary.suppression if suppressed else None,
        sources=tuple(sources),
        evidence=tuple(evidence),
        snippet=primary.snippet or next((f.snippet for f in group if f.snippet), ""),
    )


def dedup(findings: Iterable[Finding]) -> list[Finding]:
    """Merge findings that name the same weakness at overlapping places; nothing is dropped."""
    items = list(findings)
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_path: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(items):
        by_path[f.path].append(i)
    for idx in by_path.values():
        for x, i in enumerate(idx):
            for j in idx[x + 1 :]:
                if same_weakness(items[i], items[j]):
                    parent[root(j)] = root(i)
    groups: dict[int, list[Finding]] = defaultdict(list)
    for i, f in enumerate(items):
        groups[root(i)].append(f)
    out = []
    for members in groups.values():
        out.append(members[0] if len(members) == 1 else _combine(members))
    return out
