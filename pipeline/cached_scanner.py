"""Per-file results from the content cache: a scanner runs only on the files whose result is not stored.

A result is reused only for the same key: the file's SHA-256 and path, the tool, the version the tool
reported, its rule pack, the settings that reach it, and airlock's own adapter code. The path is part of
the key because a result can depend on it (semgrep rules with `paths:`, trivy's allow rules, language by
extension). Fingerprints, suppressions, baselines and waivers are all applied after this, by the scan.

Only what is known complete is stored: a file is stored when its tool run succeeded, it has no
airlock.unscanned finding, the run left no notes, every finding of the run names one of its files, and
the file's bytes did not change during the run. Anything else is scanned again next time.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeGuard

from airlock.pipeline.cache_codec import BadEntry, decode, encode
from airlock.pipeline.cache_store import FORMAT, DiskCache
from airlock.pipeline.models import Finding, ScanResult, ToolStatus
from airlock.pipeline.redact import redact
from airlock.scanners.interface import CacheableScanner, CacheIdentity, ScanContext, Scanner
from airlock.scanners.tooling import MAX_TARGET_BYTES, UNSCANNED, SourceLines

RESULTS = "results"
VERSIONS = "versions"


class CachedScanner:
    """Wraps a cacheable scanner; same name, stage and targets, so the runner and reports see no difference."""

    def __init__(self, inner: CacheableScanner, cache: DiskCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.stage = inner.stage

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return self.inner.targets(ctx)

    def cached(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult | None:
        """The result when every target is stored, without running anything; None otherwise. A batch of many
        branches (pipeline/batch.py) asks first, so a warm night copies no file into a union tree."""
        ident = self.inner.cache_identity(ctx)
        if ident is None:
            return None
        _blobs, _src, version, hits = self._hits(ident, ctx, targets)
        if len(hits) < len(targets):
            return None
        return self._all_hits(targets, hits, version)

    def remember(self, ctx: ScanContext, result: ScanResult, read: dict[str, str]) -> None:
        """Stores a result this scanner's tool produced elsewhere (a batch's union run, split back to one
        branch), under the branch's own paths, with the same checks as after a run of its own. read: path ->
        SHA-256 of the bytes the tool was given (hashed before they were copied for it)."""
        ident = self.inner.cache_identity(ctx)
        if ident is None or result.status is not ToolStatus.OK:
            return
        targets = tuple(read)
        blobs: dict[str, str | None] = dict(read)
        self._store(ident, result, targets, blobs, ctx.workspace, SourceLines(ctx.workspace))

    def _hits(
        self, ident: CacheIdentity, ctx: ScanContext, targets: tuple[str, ...]
    ) -> tuple[dict[str, str | None], SourceLines, str, dict[str, tuple[Finding, ...]]]:
        blobs = {rel: blob_digest(ctx.workspace, rel) for rel in targets}
        src = SourceLines(ctx.workspace)
        version = self.known_version(ident)
        hits: dict[str, tuple[Finding, ...]] = {}
        if version:
            for rel in targets:
                found = self._lookup(ident, version, rel, blobs[rel], src)
                if found is not None:
                    hits[rel] = found
        return blobs, src, version, hits

    def _all_hits(self, targets: tuple[str, ...], hits: dict[str, tuple[Finding, ...]], version: str) -> ScanResult:
        return ScanResult(
            self.name, self.stage, ToolStatus.OK, _ordered(targets, hits, ()), version,
            notes=(self._note(len(hits), len(targets)),),
        )  # fmt: skip

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        ident = self.inner.cache_identity(ctx)
        if ident is None:
            return self.inner.run(ctx, targets)
        blobs, src, version, hits = self._hits(ident, ctx, targets)
        misses = tuple(t for t in targets if t not in hits)
        if not misses:
            return self._all_hits(targets, hits, version)
        result = self.inner.run(ctx, misses)
        if result.status is not ToolStatus.OK:
            return result  # the stage errors whatever the cache holds
        if hits and result.version and result.version != version:
            # The tool is not the one the hits came from: nothing stored under the old version is used.
            # (No version at all: the tool ran on nothing it could be given, e.g. only oversized files.)
            hits, misses = {}, targets
            result = self.inner.run(ctx, targets)
            if result.status is not ToolStatus.OK:
                return result
        self._store(ident, result, misses, blobs, ctx.workspace, src)
        notes = result.notes + ((self._note(len(hits), len(targets)),) if hits else ())
        findings = _ordered(targets, hits, result.findings)
        return ScanResult(self.name, self.stage, ToolStatus.OK, findings, result.version or version, notes=notes)

    # --- keys -------------------------------------------------------------------------------

    def _key(self, ident: CacheIdentity, version: str, rel: str, blob: str) -> dict[str, Any]:
        return {
            "tool": self.name,
            "stage": self.stage,
            "path": rel,
            "blob": blob,
            "version": version,
            "exe": ident.exe,
            "rules": ident.rules,
            "settings": ident.settings,
            "airlock": airlock_code_digest(),
        }

    def known_version(self, ident: CacheIdentity) -> str:
        """The version this exact binary reported on an earlier run ("" when never seen)."""
        got = self.cache.get(VERSIONS, self.name, {"tool": self.name, "exe": ident.exe})
        return got if isinstance(got, str) and 0 < len(got) <= 200 else ""

    # --- hits and stores --------------------------------------------------------------------

    def _lookup(
        self, ident: CacheIdentity, version: str, rel: str, blob: str | None, src: SourceLines
    ) -> tuple[Finding, ...] | None:
        if blob is None:
            return None
        payload = self.cache.get(RESULTS, self.name, self._key(ident, version, rel, blob))
        if payload is None:
            return None
        try:
            return decode(payload, tool=self.name, stage=self.stage, path=rel, snippet_of=src.snippet)
        except BadEntry:
            return None

    def _store(
        self,
        ident: CacheIdentity,
        result: ScanResult,
        ran: Sequence[str],
        blobs: dict[str, str | None],
        workspace: Path,
        src: SourceLines,
    ) -> None:
        if not result.version or result.notes:
            return  # a run that warned about something may be incomplete in a way no finding names
        by_path: dict[str, list[Finding]] = {rel: [] for rel in ran}
        for f in result.findings:
            if f.path not in by_path or f.tool != self.name or f.stage != self.stage:
                return  # a finding that names none of the files: the split cannot be trusted
            by_path[f.path].append(f)
        self.cache.put(VERSIONS, self.name, {"tool": self.name, "exe": ident.exe}, result.version)
        for rel, found in by_path.items():
            blob = blobs.get(rel)
            if blob is None or any(f.rule_id == UNSCANNED for f in found):
                continue
            if blob_digest(workspace, rel) != blob:
                continue  # the bytes the tool read may not be the ones hashed
            stored = [for_storage(f) for f in found]
            if any(f is None for f in stored):
                continue
            payload = encode([f for f in stored if f is not None], src.snippet)
            self.cache.put(RESULTS, self.name, self._key(ident, result.version, rel, blob), payload)

    def _note(self, hit: int, total: int) -> str:
        return f"{self.name}: {hit} of {total} file(s) from the cache"


def for_storage(f: Finding) -> Finding | None:
    """f with its message and evidence masked as every report masks them, so no credential a tool quotes
    lands in the cache; None when that could change the report (the scan fingerprints a finding without a
    snippet by its message, and redacts every finding once more after that)."""
    masked = redact(f)
    stored = f if masked is f else replace(f, message=masked.message, evidence=masked.evidence)
    if stored.message != f.message and not f.snippet:
        return None
    return stored if redact(stored) == masked else None


def _ordered(
    targets: Sequence[str], hits: dict[str, tuple[Finding, ...]], ran: Sequence[Finding]
) -> tuple[Finding, ...]:
    """Cached findings in target order, then the run's findings as the tool gave them."""
    return tuple(f for rel in targets for f in hits.get(rel, ())) + tuple(ran)


def with_cache(scanners: Sequence[Scanner], cache: DiskCache | None) -> list[Scanner]:
    """Each scanner that can be cached per file, wrapped; the others (checkov, image, runtime) as they are."""
    if cache is None:
        return list(scanners)
    return [CachedScanner(s, cache) if is_cacheable(s) else s for s in scanners]


def is_cacheable(s: Scanner) -> TypeGuard[CacheableScanner]:
    return callable(getattr(s, "cache_identity", None))


def blob_digest(workspace: Path, rel: str) -> str | None:
    """SHA-256 of a regular file's bytes (never through a link), or None when a tool could not be given it."""
    try:
        fd = os.open(workspace / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    h = hashlib.sha256()
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_TARGET_BYTES:
            return None
        read = 0
        while chunk := os.read(fd, 1 << 20):
            read += len(chunk)
            if read > MAX_TARGET_BYTES:
                return None
            h.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return h.hexdigest()


_CODE_ROOTS = ("pipeline", "scanners")


@functools.lru_cache(maxsize=1)
def airlock_code_digest() -> str:
    """A digest of airlock's own pipeline and scanner code and rules: any change there invalidates every entry."""
    import airlock

    top = Path(airlock.__file__).resolve().parent
    h = hashlib.sha256(f"format {FORMAT}\0".encode())
    for sub in _CODE_ROOTS:
        base = (top / sub).resolve()
        files = sorted(
            p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
        for p in files:
            h.update(f"{sub}/{p.relative_to(base).as_posix()}\0".encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
