"""Cross-tool deduplication: one weakness at one place is one finding, with every tool as a source. Pure."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from airlock.pipeline.models import Finding, Source

_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)

# CWEs that name one flaw at different depths of MITRE's tree; tools pick different ones.
_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"CWE-94", "CWE-95"}),
    frozenset({"CWE-327", "CWE-328", "CWE-916"}),
    frozenset({"CWE-330", "CWE-338"}),
    frozenset({"CWE-79", "CWE-80"}),
    frozenset({"CWE-611", "CWE-776", "CWE-827"}),
    frozenset({"CWE-22", "CWE-23", "CWE-36", "CWE-73"}),
    frozenset({"CWE-614", "CWE-1004"}),
)
# Rules whose CWE is generic (CWE-20) or names the wrong flaw: what the rule reports, as a CWE.
_RULE_CWES: dict[tuple[str, str], tuple[str, ...]] = {
    ("bandit", "B506"): ("CWE-502",),  # yaml.load, labelled CWE-20
    ("bandit", "B307"): ("CWE-95",),  # eval, labelled CWE-78
    ("bandit", "B102"): ("CWE-95",),  # exec, labelled CWE-78
    ("bandit", "B310"): ("CWE-918",),  # urllib urlopen of any scheme, labelled CWE-22
    **{("bandit", f"B3{n}"): ("CWE-611", "CWE-776") for n in range(13, 21)},  # xml parsers, CWE-20
    ("bandit", "B308"): ("CWE-79",),  # mark_safe, CWE-79 already; listed for clarity
    ("bandit", "B703"): ("CWE-79",),  # django mark_safe, labelled CWE-80
    ("bandit", "B704"): ("CWE-79",),  # markupsafe.Markup
}


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


def _related_cwes(f: Finding) -> set[str]:
    """The finding's CWEs, what its rules really report, and their CWE families."""
    cwes = set(f.cwe)
    for s in sources_of(f):
        cwes.update(_RULE_CWES.get((s.tool, s.rule_id), ()))
    for family in _FAMILIES:
        if cwes & family:
            cwes |= family
    return cwes


def _pack_overlap(a: Finding, b: Finding) -> bool:
    """airlock's own pack reports one sink twice by design: a taint rule (request data reaches it)
    and a pattern rule (the API is used). Same line, same CWE: one flaw. Other tools' rules on one
    line (bandit B602 and B604, say) are distinct checks and stay apart."""
    # semgrep only: airlock's secret rules (run by trivy) name distinct secrets that may share a line.
    ours = a.tool == "semgrep" and a.rule_id.startswith("airlock.") and b.rule_id.startswith("airlock.")
    return ours and a.rule_id != b.rule_id and a.start_line > 0 and a.start_line == b.start_line and bool(
        set(a.cwe) & set(b.cwe)
    )


def same_weakness(a: Finding, b: Finding) -> bool:
    """Different tools, same file, and either overlapping lines with a shared CWE or CVE, or the
    same line with related CWEs (one sink that two tools file under different CWEs)."""
    if not a.path or a.path != b.path:
        return False
    if a.tool == b.tool:
        return _pack_overlap(a, b)
    (a0, a1), (b0, b1) = _lines(a), _lines(b)
    if a1 < b0 or b1 < a0:
        return False
    if set(a.cwe) & set(b.cwe) or _cves(a) & _cves(b):
        return True
    return a.start_line > 0 and a.start_line == b.start_line and bool(_related_cwes(a) & _related_cwes(b))


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
