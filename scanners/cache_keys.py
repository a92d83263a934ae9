"""What an adapter's CacheIdentity is made of: the binary's identity, a rule pack's digest, the settings' digest."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from airlock.pipeline.fsutil import walk
from airlock.scanners.interface import CacheIdentity, ScanContext
from airlock.scanners.tooling import MAX_TARGET_BYTES

MAX_RULE_BYTES = 64 * 1024 * 1024  # a rule pack larger than this is not digested: that tool is not cached
MAX_RULE_FILES = 10_000


def exe_identity(exe: str) -> str | None:
    """The resolved binary and its inode, size and times: a reinstall or an upgrade changes them."""
    try:
        real = os.path.realpath(exe)
        st = os.stat(real)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return f"{real}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def rules_digest(sources: Iterable[str | Path]) -> str | None:
    """sha256 over every file below each rule source (a file or a directory): names within it and bytes.

    Where the pack sits is left out: in diff modes a repository's rule files are read from a fresh copy
    of the base each run. None when a source cannot be read whole, holds a link or anything but files and
    directories, or is too large (semgrep would then name rules by their file's path): a rule pack that
    cannot be pinned down is never cached against.
    """
    h = hashlib.sha256()
    budget = [MAX_RULE_BYTES]
    for n, source in enumerate(sources):
        root = Path(source)
        own = root.resolve().is_relative_to(_OWN) if root.is_absolute() else False
        part = _OWN_DIGESTS.get(root) if own else None
        if part is None:
            part = _source_digest(root, budget)
            if part is None:
                return None
            if own:  # airlock's own pack is part of its installation: digested once per process
                _OWN_DIGESTS[root] = part
        h.update(f"source {n}\0".encode() + part)
    return h.hexdigest()


_OWN = Path(__file__).resolve().parent
_OWN_DIGESTS: dict[Path, bytes] = {}


def _source_digest(root: Path, budget: list[int]) -> bytes | None:
    try:
        st = os.stat(root)
    except OSError:
        return None
    h = hashlib.sha256(f"{'dir' if stat.S_ISDIR(st.st_mode) else 'file'}\0".encode())
    if stat.S_ISREG(st.st_mode):
        files = [("", root)]
    elif stat.S_ISDIR(st.st_mode):
        files = []
        for e in walk(root, max_entries=MAX_RULE_FILES):
            if stat.S_ISDIR(e.st.st_mode):
                continue
            if not stat.S_ISREG(e.st.st_mode):
                return None
            files.append((e.rel, root / e.rel))
        if len(files) >= MAX_RULE_FILES:
            return None
    else:
        return None
    for rel, path in sorted(files):
        try:
            data = path.read_bytes()
        except OSError:
            return None
        budget[0] -= len(data)
        if budget[0] < 0 or len(data) > MAX_TARGET_BYTES:
            return None
        h.update(f"file {rel}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        h.update(data)
    return h.digest()


def settings_digest(ctx: ScanContext, env_prefixes: tuple[str, ...] = ()) -> str:
    """The policy settings that reach a per-file tool run, and the tool's own environment variables.

    timeout_s is left out: a run that finished is the same whatever its limit was; so are the rule files'
    locations (their contents are the rule pack's digest).
    """
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(env_prefixes)) if env_prefixes else []
    doc = {
        "path": ctx.tool.path,
        "rule_sources": len(ctx.tool.rules),
        "offline": ctx.offline,
        "env": env,
    }
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def identity(exe: str | None, ctx: ScanContext, rules: Iterable[str | Path] = (), *, rules_text: str = "",
             env_prefixes: tuple[str, ...] = ()) -> CacheIdentity | None:  # fmt: skip
    """A CacheIdentity, or None when any part of it cannot be pinned down."""
    if exe is None:
        return None
    exe_id = exe_identity(exe)
    pack = rules_digest(rules)
    if exe_id is None or pack is None:
        return None
    if rules_text:
        pack = hashlib.sha256(f"{pack}\0{rules_text}".encode()).hexdigest()
    return CacheIdentity(exe=exe_id, rules=pack, settings=settings_digest(ctx, env_prefixes))
