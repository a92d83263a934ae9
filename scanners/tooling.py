"""Helpers every adapter shares: finding a binary, timing a run, reading a snippet."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from airlock.pipeline import scratch
from airlock.pipeline.models import Finding, ScanResult, Severity, ToolStatus
from airlock.pipeline.policy import ToolConfig

MAX_TARGET_BYTES = 5 * 1024 * 1024  # larger files are not given to a tool; each becomes airlock.unscanned
UNSCANNED = "airlock.unscanned"
# One tool run's file arguments stay far below ARG_MAX (the environment shares that space).
ARGV_BATCH_BYTES = 256 * 1024
ARGV_BATCH_FILES = 4_000
SNIPPET_MAX_LINES = 8
SNIPPET_MAX_CHARS = 600


def find_tool(name: str, cfg: ToolConfig) -> str | None:
    """An explicit path from the policy, else PATH, else the bin dir of airlock's own Python."""
    if cfg.path:
        if "/" in cfg.path:
            return cfg.path if os.access(cfg.path, os.X_OK) else None
        return shutil.which(cfg.path)
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def missing(name: str, stage: str, hint: str) -> ScanResult:
    return ScanResult(name, stage, ToolStatus.ERROR, error=f"{name} not found: {hint}")


def file_targets(
    paths: Iterable[str], workspace: Path, wanted: Callable[[str], bool] = lambda _p: True
) -> tuple[str, ...]:
    """The wanted paths that are regular files (never links) within the size a tool should read."""
    out = []
    for rel in paths:
        if not wanted(rel):
            continue
        p = workspace / rel
        try:
            if not p.is_symlink() and p.is_file() and p.stat().st_size <= MAX_TARGET_BYTES:
                out.append(rel)
        except OSError:
            continue
    return tuple(out)


def suffix_targets(paths: Iterable[str], workspace: Path, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return file_targets(paths, workspace, lambda rel: rel.endswith(suffixes))


def wanted_targets(
    paths: Iterable[str], workspace: Path, wanted: Callable[[str], bool] = lambda _p: True
) -> tuple[str, ...]:
    """Every wanted path of the change that is not a link in the workspace, whatever its size or state.

    A tool's run() splits these with split_targets(): what it cannot be given becomes airlock.unscanned,
    so nothing a tool should cover is dropped silently here.
    """
    out = []
    for rel in paths:
        if not wanted(rel):
            continue
        try:
            if (workspace / rel).is_symlink():
                continue  # links are never followed; intake already says so
        except OSError:
            pass  # a name too long to stat: run() reports it
        out.append(rel)
    return tuple(out)


def wanted_suffix_targets(paths: Iterable[str], workspace: Path, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return wanted_targets(paths, workspace, lambda rel: rel.endswith(suffixes))


def split_targets(
    tool: str, stage: str, targets: Iterable[str], workspace: Path
) -> tuple[tuple[str, ...], list[Finding]]:
    """(files the tool can be given, airlock.unscanned findings for the rest: too large, missing, unreadable)."""
    ok: list[str] = []
    skipped: list[Finding] = []
    for rel in targets:
        why = _unscannable(workspace, rel)
        if why:
            skipped.append(unscanned(tool, stage, rel, why, workspace))
        else:
            ok.append(rel)
    return tuple(ok), skipped


def _unscannable(workspace: Path, rel: str) -> str:
    path = workspace / rel
    if len(os.fsencode(path)) >= _path_max():
        return "its path is longer than the system's PATH_MAX, so no tool can open it"
    try:
        st = path.lstat()
    except OSError as exc:
        return f"it could not be written to the scan workspace ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file in the scan workspace"
    if st.st_size > MAX_TARGET_BYTES:
        return f"it is {st.st_size} bytes, over airlock's {MAX_TARGET_BYTES}-byte limit for one file"
    if not os.access(path, os.R_OK):
        return "it is not readable in the scan workspace"
    return ""


def _path_max() -> int:
    try:
        return int(os.pathconf("/", "PC_PATH_MAX"))
    except (OSError, ValueError):
        return 4096


def unscanned(tool: str, stage: str, rel: str, why: str, workspace: Path | None = None) -> Finding:
    """The finding for a file a tool should have covered and did not; it fails the gate like any high."""
    digest = _digest(workspace / rel) if workspace is not None and rel else ""
    # The content digest keeps a base file's finding from masking a changed head file's as "not new".
    tail = f" (content sha256 {digest})" if digest else ""
    return Finding(
        stage=stage,
        tool=tool,
        rule_id=UNSCANNED,
        message=f"{tool} did not scan {rel or 'part of the change'}: {why}{tail}",
        severity=Severity.HIGH,
        path=rel,
        title="file not scanned",
        evidence=(f"tool: {tool}", f"reason: {why}"),
    )


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()[:16]


def argv_batches(
    items: Sequence[str], *, per_item: int = 0, max_bytes: int = ARGV_BATCH_BYTES, max_files: int = ARGV_BATCH_FILES
) -> list[list[str]]:
    """items split so that no one command line passes max_bytes (per_item: extra bytes each, as for -f)."""
    batches: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for item in items:
        cost = len(os.fsencode(item)) + 1 + per_item
        if cur and (size + cost > max_bytes or len(cur) >= max_files):
            batches.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += cost
    if cur:
        batches.append(cur)
    return batches


class SourceLines:
    """Reads workspace files once each, confined to the workspace."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace.resolve()
        self._cache: dict[str, list[str]] = {}

    def lines(self, rel: str) -> list[str]:
        if rel not in self._cache:
            path = (self.workspace / rel).resolve()
            text = ""
            if path.is_relative_to(self.workspace) and path.is_file() and not (self.workspace / rel).is_symlink():
                try:
                    text = path.read_bytes()[:MAX_TARGET_BYTES].decode("utf-8", "replace")
                except OSError:
                    text = ""
            # LF only, as git and the tools count lines (str.splitlines also splits at \f, \x1c, U+2028...)
            self._cache[rel] = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
        return self._cache[rel]

    def snippet(self, rel: str, start: int, end: int) -> str:
        lines = self.lines(rel)
        if start < 1 or start > len(lines):
            return ""
        end = max(start, min(end, len(lines), start + SNIPPET_MAX_LINES - 1))
        return "\n".join(line[:SNIPPET_MAX_CHARS] for line in lines[start - 1 : end])

    def line(self, rel: str, n: int) -> str:
        lines = self.lines(rel)
        return lines[n - 1] if 1 <= n <= len(lines) else ""


def relativize(path: str, workspace: Path) -> str:
    """A tool's path for a file it scanned, as a repository-relative POSIX path."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.relative_to(workspace)
        except ValueError:
            try:
                p = p.resolve().relative_to(workspace.resolve())
            except ValueError:
                return p.name
    rel = p.as_posix()
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)


def cwe_ids(values: Iterable[object]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        for m in _CWE.finditer(str(v)):
            cid = f"CWE-{int(m.group(1))}"
            if cid not in out:
                out.append(cid)
    return tuple(out)


PRIVATE_DIRS = ("HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def private_dirs(tool: str) -> dict[str, str]:
    """A fresh HOME, TMPDIR and XDG dirs for one tool run, below airlock's scratch root (removed with it).

    Tools write caches, logs and settings there (semgrep's ~/.semgrep and semgrep-mcp/, checkov's lark
    cache), never into the user's HOME or TMPDIR; and a fresh set per run means nothing one scan leaves
    behind can change what a later scan sees.
    """
    root = scratch.tool_dir(tool)
    env = {}
    for var in PRIVATE_DIRS:
        d = root / var.lower()
        d.mkdir(mode=0o700)
        env[var] = str(d)
    return env


def tool_env(extra: dict[str, str] | None = None, *, tool: str = "tool") -> dict[str, str]:
    env = dict(os.environ)
    env.update(private_dirs(tool))
    if extra:
        env.update(extra)
    return env
