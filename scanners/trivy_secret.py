"""trivy's secret scanner over the changed files, in the sast stage. Values are masked in every report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pipeline import proc
from pipeline.models import Finding, ScanResult, Severity, ToolStatus
from scanners import trivy_common as tc
from scanners.interface import ScanContext
from scanners.tooling import file_targets

# trivy rates each secret rule itself (CRITICAL for cloud keys, ...); its labels map one to one.
SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
    "UNKNOWN": Severity.MEDIUM,
}
CWE = ("CWE-798",)  # use of hard-coded credentials; also what pipeline/redact.py keys on


class TrivySecretScanner:
    name = "trivy-secret"
    stage = "sast"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return file_targets(ctx.paths, ctx.workspace)

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = tc.find_trivy(ctx.tool)
        if exe is None:
            return tc.missing_trivy(self.name, self.stage)
        with tempfile.TemporaryDirectory(prefix="airlock-trivy-secret-") as tmp_s:
            tmp = Path(tmp_s)
            neutral = tc.neutral(tmp / "conf")
            tree = tmp / "tree"
            tree.mkdir()
            tc.stage_files(ctx.workspace, targets, tree)
            # Secret scanning needs no vulnerability DB: nothing is downloaded, online or not.
            argv = [
                exe, "fs", "--scanners", "secret", "--format", "json", "--quiet", "--skip-db-update",
                "--cache-dir", str(tmp / "cache"), *tc.NO_PHONE_HOME, *neutral.args, str(tree),
            ]  # fmt: skip
            done = proc.run(argv, timeout_s=ctx.tool.timeout_s, cwd=neutral.cwd, env=tc.tool_env_for(tmp))
        data = tc.decode(done.stdout)
        version = tc.report_version(data) or tc.version(exe)
        if done.timed_out:
            return ScanResult(
                self.name, self.stage, ToolStatus.ERROR, version=version,
                error=f"trivy timed out after {ctx.tool.timeout_s:g} s; raise [tools.{self.name}] timeout_s",
            )  # fmt: skip
        if done.returncode != 0 or data is None:
            return ScanResult(
                self.name, self.stage, ToolStatus.ERROR, version=version,
                error=f"trivy exited {done.returncode}: {tc.last_error(done.stderr)}",
            )  # fmt: skip
        findings = []
        for result in data.get("Results") or []:
            path = str(result.get("Target", "")).lstrip("/")
            for secret in result.get("Secrets") or []:
                findings.append(self._finding(path, secret))
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version)

    def _finding(self, path: str, s: dict[str, Any]) -> Finding:
        title = str(s.get("Title", "")) or str(s.get("RuleID", "secret"))
        category = str(s.get("Category", ""))
        return Finding(
            stage=self.stage,
            tool=self.name,
            rule_id=str(s.get("RuleID", "")),
            message=f"{title} hard-coded in the source" + (f" ({category})" if category else ""),
            severity=SEVERITY.get(str(s.get("Severity", "")).upper(), Severity.HIGH),
            path=path,
            start_line=int(s.get("StartLine") or 0),
            end_line=int(s.get("EndLine") or s.get("StartLine") or 0),
            title=title,
            snippet=tc.masked_snippet(s),
            cwe=CWE,
        )
