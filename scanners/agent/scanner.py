"""The agent stage's one scanner: every check family over the change, base against head, in-process.

No external tool: the checks parse the two trees intake wrote from git's objects. In full mode (a plain
directory, no base) only the head-only families run (hidden text, obfuscation, dependencies' names and sources).
"""

from __future__ import annotations

from collections.abc import Callable

from airlock.pipeline import __version__
from airlock.pipeline.models import Finding, ScanResult, Severity, ToolStatus
from airlock.scanners.agent import (
    ci_steps,
    coverage,
    dependencies,
    hidden_text,
    obfuscation,
    weakened_tests,
    who_checks,
)
from airlock.scanners.agent.view import ChangeView, finding
from airlock.scanners.interface import ScanContext

UNCHECKED = "agent.unchecked"

Check = Callable[[ChangeView], list[Finding]]


class AgentScanner:
    name = "airlock"
    stage = "agent"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        if ctx.change is None:
            return ()
        return tuple(f.path for f in ctx.change.files) if ctx.change.files else ()

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        assert ctx.change is not None  # noqa: S101 - targets() returned nothing without one
        view = ChangeView(ctx.change, ctx.paths, ctx.tool.timeout_s)
        checks: list[Check] = [
            weakened_tests.check,
            coverage.check,
            ci_steps.check,
            who_checks.check,
            hidden_text.check,
            obfuscation.check,
            lambda v: dependencies.check(v, ctx.agent),
        ]
        findings: list[Finding] = []
        for c in checks:
            try:
                findings += c(view)
            except RecursionError:
                # Nesting deep enough to exhaust Python's stack (a parser or a walk): the family's verdict is unknown.
                findings.append(
                    finding(
                        UNCHECKED, Severity.HIGH, "", 0,
                        "a file of the change is nested too deeply for the agent stage to read; its checks did not run",
                        "change not checked",
                    )
                )  # fmt: skip
        findings += [
            finding(
                UNCHECKED, Severity.HIGH, rel, 0,
                f"{rel} is larger than the agent stage reads, so it was not checked for hidden text or weakened tests",
                "file not checked",
            )  # fmt: skip
            for rel in sorted(view.too_large)
        ]
        if view.unread_after_deadline:
            left = sorted(view.unread_after_deadline)
            findings.append(
                finding(
                    UNCHECKED, Severity.HIGH, left[0], 0,
                    f"the agent stage ran out of time ({ctx.tool.timeout_s:g} s; raise [tools.airlock] timeout_s) "
                    f"before reading {len(left)} file(s): {', '.join(left[:5])}", "change not fully checked",
                )
            )  # fmt: skip
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(_dedup(findings)), version=__version__)


def _dedup(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, int, str]] = set()
    out = []
    for f in findings:
        key = (f.rule_id, f.path, f.start_line, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
