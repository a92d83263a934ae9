"""Fingerprints that survive unrelated edits: rule + path + normalised code + occurrence index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace

from airlock.pipeline.models import Finding


def normalize(code: str) -> str:
    return " ".join(code.split())


def fingerprint(rule_id: str, path: str, code: str, occurrence: int) -> str:
    key = "\0".join((rule_id, path, normalize(code), str(occurrence)))
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


def assign(findings: Iterable[Finding], path_map: dict[str, str] | None = None) -> list[Finding]:
    """Fill in fingerprints. path_map renames base paths to head paths, so a moved file still matches."""
    path_map = path_map or {}
    ordered = sorted(findings, key=lambda f: (f.path, f.start_line, f.rule_id, f.end_line))
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for f in ordered:
        path = path_map.get(f.path, f.path)
        # Findings without code (an image, a process) are told apart by their message.
        code = f.snippet or f.message
        key = (f.rule_id, path, normalize(code))
        index = seen.get(key, 0)
        seen[key] = index + 1
        out.append(replace(f, fingerprint=f.fingerprint or fingerprint(f.rule_id, path, code, index)))
    return out
