"""Data carried between layers: frozen dataclasses, no behaviour beyond ordering."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class Severity(enum.IntEnum):
    """One severity scale for every tool; each adapter maps its own levels onto it."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; use one of {', '.join(s.label for s in cls)}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


STAGES = ("sast", "iac", "image", "runtime", "agent")


class FileStatus(str, enum.Enum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


@dataclass(frozen=True)
class ChangedFile:
    path: str  # repository-relative, POSIX
    status: FileStatus
    old_path: str | None = None  # the base path of a modified or renamed file
    added_lines: tuple[tuple[int, int], ...] = ()  # inclusive ranges at head


@dataclass(frozen=True)
class Change:
    """What the agent produced, resolved once; later steps never call git themselves."""

    root: Path  # the user's repository or directory (never written to)
    mode: str  # "full", "diff", "patch" or "staged"
    base: str | None  # resolved base revision (merge-base) or None
    head: str | None  # resolved head revision, "INDEX", or None for a plain directory
    files: tuple[ChangedFile, ...]
    workspace: Path  # throwaway copy of the head (in diff modes, at first only the changed files: see fill)
    base_workspace: Path | None = None  # throwaway copy of the base versions of changed files
    base_tree: Path | None = None  # the whole base revision, for [runtime] compare_base; None when not asked for
    policy_dir: Path | None = None  # where trusted config (policy, waivers, baseline) is read: the base
    notes: tuple[str, ...] = ()  # skipped symlinks, oversized files and the like
    # airlock.unscanned findings of intake itself: files of the change that could not be materialised
    findings: tuple[Finding, ...] = ()
    # Diff modes write only the changed files into the workspace: every static check reads just those, and a
    # nightly of many branches would otherwise write each branch's whole tree. This writes the rest of the head
    # (once; it returns its notes) for the stages that run the project or look past the change.
    fill: Callable[[], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)

    def whole_workspace(self) -> tuple[str, ...]:
        """Makes the workspace the whole head tree; notes on what was skipped (links, unsafe paths)."""
        return self.fill() if self.fill is not None else ()

    @property
    def scan_paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.status is not FileStatus.DELETED)

    def file(self, path: str) -> ChangedFile | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


@dataclass(frozen=True)
class Source:
    """One tool's report of a finding; a merged finding keeps every source."""

    tool: str
    rule_id: str
    message: str
    fingerprint: str = ""  # the source's own fingerprint, so a baseline or waiver naming it still matches


@dataclass(frozen=True)
class Suppression:
    kind: str  # "inline", "waiver", "checkov-skip" (baselined findings are new=False, not suppressed)
    justification: str


@dataclass(frozen=True)
class Anchor:
    """Where a finding with no file of its own is shown (SARIF, GitLab and annotations need a file and line):
    the config line that declared the command or image, or the file the evidence names."""

    path: str  # repository-relative, POSIX
    line: int  # 1-based; 1 when only the file is known
    why: str  # "declared the command", "named in the evidence"


@dataclass(frozen=True)
class Finding:
    stage: str
    tool: str
    rule_id: str
    message: str
    severity: Severity
    path: str  # repository-relative, POSIX; "" when the finding has no file (an image, a process)
    start_line: int = 0
    end_line: int = 0
    title: str = ""
    snippet: str = ""
    cwe: tuple[str, ...] = ()  # "CWE-78"
    fingerprint: str = ""
    new: bool = True
    help_url: str = ""
    suppression: Suppression | None = None
    sources: tuple[Source, ...] = ()
    evidence: tuple[str, ...] = ()
    anchor: Anchor | None = None  # set only when path is "": see pipeline/anchors.py


class ToolStatus(str, enum.Enum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ScanResult:
    """What one scanner returns: its findings and how its run went."""

    tool: str
    stage: str
    status: ToolStatus
    findings: tuple[Finding, ...] = ()
    version: str = ""
    duration_s: float = 0.0
    error: str = ""
    notes: tuple[str, ...] = ()  # non-fatal problems: a file the tool could not parse


@dataclass(frozen=True)
class ToolRun:
    tool: str
    status: ToolStatus
    version: str
    duration_s: float
    error: str
    notes: tuple[str, ...]
    finding_count: int


@dataclass(frozen=True)
class StageResult:
    name: str
    status: str  # "passed", "failed", "error", "skipped"
    duration_s: float
    tools: tuple[ToolRun, ...]
    error: str = ""


@dataclass(frozen=True)
class GateResult:
    verdict: str  # "passed", "failed", "error"
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    failing_stages: frozenset[str] = field(default_factory=frozenset)
    errored_stages: frozenset[str] = field(default_factory=frozenset)
    gating: frozenset[str] = field(default_factory=frozenset)  # fingerprints of new findings at/above threshold

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1}.get(self.verdict, 2)


@dataclass(frozen=True)
class Target:
    """The scanned change as the report describes it."""

    root: str
    mode: str
    base: str | None
    head: str | None
    files: int


@dataclass(frozen=True)
class Report:
    airlock_version: str
    generated_at: str  # ISO 8601 UTC
    target: Target
    gate: GateResult
    stages: tuple[StageResult, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    fail_on: str = "high"
    policy_source: str = "defaults"
