"""Helpers every adapter shares: finding a binary, timing a run, reading a snippet."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from pipeline import scratch
from pipeline.models import ScanResult, ToolStatus
from pipeline.policy import ToolConfig

MAX_TARGET_BYTES = 5 * 1024 * 1024  # larger files are not source an agent wrote; noted and skipped
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
            self._cache[rel] = text.splitlines()
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
