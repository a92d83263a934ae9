"""semgrep with airlock's own rule pack (scanners/semgrep_rules) plus any rules the policy adds."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from pipeline import proc
from pipeline.fsutil import walk
from pipeline.models import Finding, ScanResult, Severity, Suppression, ToolStatus
from scanners.interface import ScanContext
from scanners.tooling import (
    MAX_TARGET_BYTES,
    SourceLines,
    cwe_ids,
    find_tool,
    missing,
    relativize,
    suffix_targets,
    tool_env,
)

RULES_DIR = Path(__file__).parent / "semgrep_rules"

# semgrep's three levels onto ours; a rule may override with metadata.airlock-severity.
SEVERITY = {
    "ERROR": Severity.HIGH,
    "WARNING": Severity.MEDIUM,
    "INFO": Severity.LOW,
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
}

# Never touch the network: no metrics, no version check (an offline check hangs ~95 s).
OFFLINE_FLAGS = ("--metrics=off", "--disable-version-check")
OFFLINE_ENV = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
NOSEM = re.compile(r"#\s*nosem(?:grep)?\b")
RULE_SUFFIXES = (".yaml", ".yml")
MAX_RULE_FILES = 10_000


def declared_rule_ids(configs: Iterable[str]) -> frozenset[str]:
    """The `id` of every rule in the given rule files and directories (trusted files: ours or the base's)."""
    ids: set[str] = set()
    for config in configs:
        root = Path(config)
        files = [root] if root.is_file() else [
            root / e.rel
            for e in walk(root, max_entries=MAX_RULE_FILES)
            if e.rel.endswith(RULE_SUFFIXES) and stat.S_ISREG(e.st.st_mode)
        ]
        for f in files:
            try:
                if f.stat().st_size > MAX_TARGET_BYTES:
                    continue  # not loaded here: its ids fall back to semgrep's check_id
                doc = yaml.safe_load(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue  # semgrep itself reports a broken rule file as an error
            rules = doc.get("rules") if isinstance(doc, dict) else None
            for rule in rules if isinstance(rules, list) else []:
                if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                    ids.add(rule["id"])
    return frozenset(ids)


def rule_id_for(check_id: str, declared: frozenset[str]) -> str:
    """semgrep prefixes a rule's id with its file's directory written with dots; map back to the declared id."""
    if check_id in declared:
        return check_id
    matches = [d for d in declared if check_id.endswith("." + d)]
    return max(matches, key=len) if matches else check_id


class SemgrepScanner:
    name = "semgrep"
    stage = "sast"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return suffix_targets(ctx.paths, ctx.workspace, (".py", ".pyi"))

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = find_tool(self.name, ctx.tool)
        if exe is None:
            return missing(self.name, self.stage, "install it with 'pip install semgrep' or set [tools.semgrep] path")
        configs: list[str] = []
        rule_sources = (str(RULES_DIR), *ctx.tool.rules)
        for rules in rule_sources:
            configs += ["--config", rules]
        declared = declared_rule_ids(rule_sources)
        argv = [exe, "scan", "--json", "--quiet", "--disable-nosem", *OFFLINE_FLAGS, *configs, "--", *targets]
        env = tool_env(OFFLINE_ENV, tool="semgrep")
        done = proc.run(argv, timeout_s=ctx.tool.timeout_s, cwd=ctx.workspace, env=env)
        if done.timed_out:
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                error=f"semgrep timed out after {ctx.tool.timeout_s:g} s; raise [tools.semgrep] timeout_s",
            )
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError:
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                error=f"semgrep exited {done.returncode} without a JSON report: {done.stderr.strip()[-2000:]}",
            )
        version = str(data.get("version", ""))
        errors = data.get("errors") or []
        fatal = [e for e in errors if str(e.get("level", "error")).lower() == "error"]
        if done.returncode not in (0, 1) or fatal:
            text = "; ".join(str(e.get("message", e))[:500] for e in fatal) or done.stderr.strip()[-2000:]
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                version=version,
                error=f"semgrep exited {done.returncode}: {text}",
            )
        notes = tuple(f"semgrep: {str(e.get('message', ''))[:300]}" for e in errors if e not in fatal)
        src = SourceLines(ctx.workspace)
        findings = tuple(self._finding(r, ctx, src, declared) for r in data.get("results", []))
        return ScanResult(self.name, self.stage, ToolStatus.OK, findings, version, notes=notes)

    def _finding(self, r: dict, ctx: ScanContext, src: SourceLines, declared: frozenset[str]) -> Finding:
        extra = r.get("extra") or {}
        meta = extra.get("metadata") or {}
        check_id = str(r.get("check_id", ""))
        rule_id = rule_id_for(check_id, declared)
        level = str(meta.get("airlock-severity") or extra.get("severity", "WARNING")).upper()
        path = relativize(str(r.get("path", "")), ctx.workspace)
        start = int((r.get("start") or {}).get("line", 0))
        end = int((r.get("end") or {}).get("line", start))
        cwe = meta.get("cwe") or []
        refs = meta.get("references") or []
        suppression = None
        if NOSEM.search(src.line(path, start)) or NOSEM.search(src.line(path, start - 1)):
            suppression = Suppression("inline", "nosemgrep comment")
        message = str(extra.get("message", "")).strip()
        return Finding(
            stage=self.stage,
            tool=self.name,
            rule_id=rule_id,
            message=message,
            severity=SEVERITY.get(level, Severity.MEDIUM),
            path=path,
            start_line=start,
            end_line=end,
            title=rule_id.rsplit(".", 1)[-1].replace("-", " "),
            snippet=src.snippet(path, start, end),
            cwe=cwe_ids(cwe if isinstance(cwe, list) else [cwe]),
            help_url=str(refs[0]) if isinstance(refs, list) and refs else "",
            suppression=suppression,
        )
