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


class Scanner(Protocol):
    name: str  # the tool's name, also its [tools.<name>] policy table
    stage: str  # sast, iac, image, runtime or agent

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        """What this scanner applies to in ctx; empty means the scanner is skipped."""
        ...

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        """Run the tool; never raise for a tool problem, return an error result instead."""
        ...
