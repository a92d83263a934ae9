"""The one small interface every scanner implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from airlock.pipeline.models import Change, ScanResult
from airlock.pipeline.policy import AgentPolicy, ImagePolicy, RuntimePolicy, ToolConfig


@dataclass(frozen=True)
class ScanContext:
    """What a scanner may know: the files to read and its own settings, never the policy file."""

    workspace: Path  # the throwaway tree the tool reads
    paths: tuple[str, ...]  # candidate repository-relative paths
    tool: ToolConfig
    offline: bool = False
    image: ImagePolicy = field(default_factory=ImagePolicy)
    runtime: RuntimePolicy = field(default_factory=RuntimePolicy)
    agent: AgentPolicy = field(default_factory=AgentPolicy)
    change: Change | None = None
    output_dir: Path | None = None  # where a scanner may leave an artifact beside the report (an SBOM)
    tracer: ToolConfig = field(default_factory=ToolConfig)  # [tools.strace]: the runtime stage's tracer


class Scanner(Protocol):
    name: str  # the tool's name, also its [tools.<name>] policy table
    stage: str  # sast, iac, image, runtime or agent

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        """What this scanner applies to in ctx; empty means the scanner is skipped."""
        ...

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        """Run the tool; never raise for a tool problem, return an error result instead."""
        ...


@dataclass(frozen=True)
class CacheIdentity:
    """Everything besides a file's bytes and path that a per-file result depends on (pipeline/cached_scanner.py).

    The tool's version is not here: it is learnt from the tool's own report and remembered per `exe`.
    """

    exe: str  # the resolved binary with its inode, size and times: a reinstall changes it
    rules: str  # digest of the rule pack the tool runs with ("" when the tool has none beyond its version)
    settings: str  # digest of the rest of the tool's configuration that reaches the tool


class CacheableScanner(Scanner, Protocol):
    """A scanner whose result for a file depends only on that file's bytes and path (no cross-file analysis).

    Such a scanner must give the same findings for a file whatever other targets share its run.
    """

    def cache_identity(self, ctx: ScanContext) -> CacheIdentity | None:
        """Cheap (no subprocess); None when it cannot be told (missing tool, unreadable rules): no caching."""
        ...
