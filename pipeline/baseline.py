"""The baseline file (.airlock-baseline.json): findings a human accepted as already there.

A baselined finding is marked new=False and does not gate. Matching is by fingerprint only (rule,
path, normalised code, occurrence index), so lines inserted above a finding do not break it; a
rename that git sees is followed by also fingerprinting the head finding under its base path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from airlock.pipeline.errors import UsageError
from airlock.pipeline.fingerprint import assign
from airlock.pipeline.merge import sources_of
from airlock.pipeline.models import Finding

FILENAME = ".airlock-baseline.json"
VERSION = 1


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    rule_id: str = ""  # for humans reading the file
    path: str = ""


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...] = ()

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(e.fingerprint for e in self.entries)


def render(findings: Iterable[Finding], generated_at: str) -> str:
    seen: dict[str, dict[str, str]] = {}
    for f in findings:
        for s in sources_of(f):
            fp = s.fingerprint or f.fingerprint
            if fp:
                seen.setdefault(fp, {"fingerprint": fp, "rule_id": s.rule_id, "path": f.path})
    entries = sorted(seen.values(), key=lambda e: (e["path"], e["rule_id"], e["fingerprint"]))
    doc = {"version": VERSION, "generated_at": generated_at, "findings": entries}
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def parse(raw: bytes, source: str = FILENAME) -> Baseline:
    """Strict: a damaged baseline is a config error (exit 2), never a silent 'nothing baselined'."""
    try:
        doc: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{source} is not valid JSON ({exc}); regenerate it with 'airlock baseline create'") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("findings"), list):
        raise UsageError(f"{source}: expected {{\"version\": {VERSION}, \"findings\": [...]}}; regenerate it")
    entries = []
    for i, e in enumerate(doc["findings"]):
        if not isinstance(e, dict) or not isinstance(e.get("fingerprint"), str) or not e["fingerprint"]:
            raise UsageError(f"{source}: findings[{i}] needs a non-empty \"fingerprint\" string")
        entries.append(BaselineEntry(e["fingerprint"], str(e.get("rule_id", "")), str(e.get("path", ""))))
    return Baseline(tuple(entries))


def renamed_fingerprints(findings: Iterable[Finding], head_to_base: Mapping[str, str]) -> dict[str, str]:
    """head fingerprint -> the fingerprint the same raw finding has under its base path (renamed files only).

    Call it on the raw per-tool findings (before dedup), which is what fingerprints were computed from.
    """
    by_path: dict[str, list[Finding]] = {}
    for f in findings:
        if f.path in head_to_base and f.fingerprint:
            by_path.setdefault(f.path, []).append(f)
    out: dict[str, str] = {}
    for path, group in by_path.items():
        # assign() sorts by (path, start, rule, end); within one file that is this order, so zip pairs them.
        ordered = sorted(group, key=lambda f: (f.start_line, f.rule_id, f.end_line))
        again = assign(replace(f, fingerprint="", path=head_to_base[path]) for f in ordered)
        out.update({f.fingerprint: g.fingerprint for f, g in zip(ordered, again, strict=True)})
    return out


def apply(findings: Iterable[Finding], baseline: Baseline, renamed: Mapping[str, str] | None = None) -> list[Finding]:
    """Mark findings the baseline knows (by any source's fingerprint, or its pre-rename one) as not new."""
    known = baseline.fingerprints
    renamed = renamed or {}
    out = []
    for f in findings:
        fps = {f.fingerprint, *(s.fingerprint for s in sources_of(f) if s.fingerprint)}
        fps |= {renamed[x] for x in fps if x in renamed}
        out.append(replace(f, new=False) if fps & known else f)
    return out
