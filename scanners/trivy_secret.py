"""trivy's secret scanner over the changed files, in the sast stage. Values are masked in every report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from airlock.pipeline import proc
from airlock.pipeline.models import Finding, ScanResult, Severity, ToolStatus
from airlock.scanners import trivy_common as tc
from airlock.scanners import trivy_secret_rules as own
from airlock.scanners.cache_keys import identity
from airlock.scanners.interface import CacheIdentity, ScanContext
from airlock.scanners.tooling import SourceLines, file_targets

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

    def cache_identity(self, ctx: ScanContext) -> CacheIdentity | None:
        # trivy's built-in secret rules come with its version; airlock's own ones are the rules text.
        return identity(tc.find_trivy(ctx.tool), ctx, rules_text=tc.SECRET_CONFIG + own.trivy_rules_yaml())

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = tc.find_trivy(ctx.tool)
        if exe is None:
            return tc.missing_trivy(self.name, self.stage)
        with tempfile.TemporaryDirectory(prefix="airlock-trivy-secret-") as tmp_s:
            tmp = Path(tmp_s)
            # trivy's token-format rules plus airlock's keyword and entropy rules (trivy_secret_rules.py).
            neutral = tc.neutral(tmp / "conf", tc.SECRET_CONFIG + own.trivy_rules_yaml())
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
        src = SourceLines(ctx.workspace)
        for result in data.get("Results") or []:
            path = str(result.get("Target", "")).lstrip("/")
            for secret in result.get("Secrets") or []:
                rule = own.BY_TRIVY_ID.get(str(secret.get("RuleID", "")))
                if rule is not None and not own.confirmed(rule, src.line(path, int(secret.get("StartLine") or 0))):
                    continue  # a keyword hit whose value is a name, URL or low-entropy text
                findings.append(self._finding(path, secret, rule))
        # A line a token-format rule already names (github-pat, ...) needs no keyword finding too.
        named = {(f.path, f.start_line) for f in findings if not f.rule_id.startswith("airlock.")}
        findings = [f for f in findings if not f.rule_id.startswith("airlock.") or (f.path, f.start_line) not in named]
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version)

    def _finding(self, path: str, s: dict[str, Any], rule: own.SecretRule | None) -> Finding:
        title = str(s.get("Title", "")) or str(s.get("RuleID", "secret"))
        category = "" if rule else str(s.get("Category", ""))
        return Finding(
            stage=self.stage,
            tool=self.name,
            rule_id=rule.rule_id if rule else str(s.get("RuleID", "")),
            message=f"{title} hard-coded in the source" + (f" ({category})" if category else ""),
            severity=SEVERITY.get(str(s.get("Severity", "")).upper(), Severity.HIGH),
            path=path,
            start_line=int(s.get("StartLine") or 0),
            end_line=int(s.get("EndLine") or s.get("StartLine") or 0),
            title=title,
            snippet=tc.masked_snippet(s),
            cwe=CWE,
        )
