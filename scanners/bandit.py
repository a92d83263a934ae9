"""bandit, Python's AST-based security linter."""

from __future__ import annotations

import json
from dataclasses import replace

from airlock.pipeline import proc
from airlock.pipeline.models import Finding, ScanResult, Severity, Suppression, ToolStatus
from airlock.pipeline.suppressions import comment_ids, names_rule
from airlock.scanners.cache_keys import identity
from airlock.scanners.interface import CacheIdentity, ScanContext
from airlock.scanners.tooling import (
    SourceLines,
    argv_batches,
    find_tool,
    missing,
    relativize,
    split_targets,
    tool_env,
    unscanned,
    wanted_suffix_targets,
)

# bandit rates severity and confidence separately. Severity maps directly; a LOW-confidence
# finding drops one level, because it is more often noise than a weakness.
SEVERITY = {"HIGH": Severity.HIGH, "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW, "UNDEFINED": Severity.INFO}


# Tests that see a dangerous API but not where its argument comes from: at most medium. A flow from
# request data is shown by the semgrep pack's taint rule on the same sink, which dedup merges with
# this finding (same line, related CWE) and whose high severity the merged finding keeps.
SOURCE_DEPENDENT = frozenset(
    {
        "B102",  # exec
        "B301",  # pickle
        "B302",  # marshal
        "B307",  # eval
        "B310",  # urlopen
        *(f"B3{n}" for n in range(13, 21)),  # xml parsers
        "B506",  # yaml.load
        "B602",  # subprocess with shell=True
        "B604",  # any call with shell=True
        "B605",  # os.system and other shells
        "B608",  # SQL built from strings
        "B610",  # django extra()
        "B611",  # django RawSQL
    }
)


def map_severity(severity: str, confidence: str, test_id: str = "") -> Severity:
    level = SEVERITY.get(severity.upper(), Severity.MEDIUM)
    if confidence.upper() == "LOW" and level > Severity.INFO:
        level = Severity(level - 1)
    if test_id in SOURCE_DEPENDENT:
        level = min(level, Severity.MEDIUM)
    return level


class BanditScanner:
    name = "bandit"
    stage = "sast"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return wanted_suffix_targets(ctx.paths, ctx.workspace, (".py",))

    def cache_identity(self, ctx: ScanContext) -> CacheIdentity | None:
        # bandit's tests are its own: the version stands for its rule pack.
        return identity(find_tool(self.name, ctx.tool), ctx, env_prefixes=("BANDIT_",))

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = find_tool(self.name, ctx.tool)
        if exe is None:
            return missing(self.name, self.stage, "install it with 'pip install bandit' or set [tools.bandit] path")
        version = _version(exe)
        given, unscanned_files = split_targets(self.name, self.stage, targets, ctx.workspace)
        findings: list[Finding] = list(unscanned_files)
        for batch in argv_batches(given):
            out = self._run_batch(exe, batch, ctx, version)
            if isinstance(out, ScanResult):
                return out
            findings += out
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version)

    def _run_batch(self, exe: str, batch: list[str], ctx: ScanContext, version: str) -> ScanResult | list[Finding]:
        # --ignore-nosec: airlock decides about suppressions itself (an agent may have added them).
        argv = [exe, "-f", "json", "-q", "--ignore-nosec", "--", *batch]
        done = proc.run(argv, timeout_s=ctx.tool.timeout_s, cwd=ctx.workspace, env=tool_env(tool=self.name))
        if done.timed_out:
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                version=version,
                error=f"bandit timed out after {ctx.tool.timeout_s:g} s; raise [tools.bandit] timeout_s",
            )
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError:
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                version=version,
                error=f"bandit exited {done.returncode} without a JSON report: {done.stderr.strip()[-2000:]}",
            )
        if done.returncode not in (0, 1) or not isinstance(data, dict):
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                version=version,
                error=f"bandit exited {done.returncode}: {done.stderr.strip()[-2000:]}",
            )
        src = SourceLines(ctx.workspace)
        findings = [self._finding(r, ctx, src) for r in data.get("results", [])]
        # A file bandit could not parse (newer syntax, NUL bytes) was not scanned at all.
        errors: dict[str, str] = {}
        for e in data.get("errors") or []:
            if isinstance(e, dict):
                errors[relativize(str(e.get("filename", "")), ctx.workspace)] = str(e.get("reason", ""))[:300]
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        scanned = {relativize(str(k), ctx.workspace) for k in metrics or {} if k != "_totals"}
        for rel in batch:
            if rel in errors:
                why = f"bandit reported: {errors[rel] or 'an error'}"
                findings.append(unscanned(self.name, self.stage, rel, why, ctx.workspace))
            elif rel not in scanned:
                why = "bandit was given it but its metrics do not list it as scanned"
                findings.append(unscanned(self.name, self.stage, rel, why, ctx.workspace))
        return findings

    def _finding(self, r: dict, ctx: ScanContext, src: SourceLines) -> Finding:
        path = relativize(str(r.get("filename", "")), ctx.workspace)
        start = int(r.get("line_number", 0))
        line_range = r.get("line_range") or [start]
        end = max(int(x) for x in line_range) if line_range else start
        cwe = r.get("issue_cwe") or {}
        test_id = str(r.get("test_id", ""))
        finding = Finding(
            stage=self.stage,
            tool=self.name,
            rule_id=test_id,
            message=str(r.get("issue_text", "")).strip(),
            severity=map_severity(str(r.get("issue_severity", "")), str(r.get("issue_confidence", "")), test_id),
            path=path,
            start_line=start,
            end_line=end,
            title=str(r.get("test_name", "")).replace("_", " "),
            snippet=src.snippet(path, start, end),
            cwe=(f"CWE-{int(cwe['id'])}",) if isinstance(cwe, dict) and str(cwe.get("id", "")).isdigit() else (),
            help_url=str(r.get("more_info", "")),
        )
        # As bandit reads `# nosec`: anywhere on the finding's lines, bare or naming this test.
        for n in range(start, end + 1):
            for ids in comment_ids(src.line(path, n), self.name) or ():
                if not ids or names_rule(ids, finding):
                    return replace(finding, suppression=Suppression("inline", "nosec comment"))
        return finding


def _version(exe: str) -> str:
    try:
        done = proc.run([exe, "--version"], timeout_s=30, env=tool_env(tool="bandit"))
    except proc.ToolMissing:
        return ""
    first = (done.stdout.strip().splitlines() or [""])[0]
    return first.split()[-1] if first else ""
