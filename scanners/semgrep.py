"""semgrep with airlock's own rule pack (scanners/semgrep_rules) plus any rules the policy adds."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from airlock.pipeline import proc
from airlock.pipeline.fsutil import walk
from airlock.pipeline.models import Finding, ScanResult, Severity, Suppression, ToolStatus
from airlock.pipeline.suppressions import comment_ids, names_rule
from airlock.scanners.cache_keys import identity
from airlock.scanners.interface import CacheIdentity, ScanContext
from airlock.scanners.tooling import (
    MAX_TARGET_BYTES,
    SourceLines,
    argv_batches,
    cwe_ids,
    find_tool,
    missing,
    relativize,
    split_targets,
    tool_env,
    unscanned,
    wanted_suffix_targets,
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
# airlock's own pack is validated by the test suite (`semgrep test`), so semgrep's pre-validation of it
# (a jsonschema pass and a semgrep-core RPC, about a quarter of the stage's CPU time) is skipped; a
# policy that adds rules keeps it. semgrep older than 1.165 lacks the flag: the batch is rerun without.
SKIP_VALIDATION = "--x-rule-validation=none"
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

    def __init__(self) -> None:
        self._validation_flag = True  # False once this semgrep has refused SKIP_VALIDATION

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return wanted_suffix_targets(ctx.paths, ctx.workspace, (".py", ".pyi"))

    def cache_identity(self, ctx: ScanContext) -> CacheIdentity | None:
        # semgrep OSS analyses each file on its own; its rule pack is ours plus the policy's rule files.
        return identity(
            find_tool(self.name, ctx.tool), ctx, (RULES_DIR, *ctx.tool.rules), env_prefixes=("SEMGREP_",)
        )

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = find_tool(self.name, ctx.tool)
        if exe is None:
            return missing(self.name, self.stage, "install it with 'pip install semgrep' or set [tools.semgrep] path")
        configs: list[str] = []
        rule_sources = (str(RULES_DIR), *ctx.tool.rules)
        for rules in rule_sources:
            configs += ["--config", rules]
        declared = declared_rule_ids(rule_sources)
        given, unscanned_files = split_targets(self.name, self.stage, targets, ctx.workspace)
        findings: list[Finding] = list(unscanned_files)
        notes: list[str] = []
        version = ""
        for batch in argv_batches(given):
            out = self._run_batch(exe, configs, batch, ctx, declared)
            if isinstance(out, ScanResult):
                return out
            findings += out[0]
            notes += out[1]
            version = version or out[2]
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version, notes=tuple(notes))

    def _run_batch(
        self, exe: str, configs: list[str], batch: list[str], ctx: ScanContext, declared: frozenset[str]
    ) -> ScanResult | tuple[list[Finding], list[str], str]:
        # --max-target-bytes=0: airlock applies its own size cap and reports what it holds back.
        argv = [exe, "scan", "--json", "--quiet", "--disable-nosem", "--max-target-bytes=0", *OFFLINE_FLAGS]
        skip_validation = not ctx.tool.rules and self._validation_flag
        argv += [*([SKIP_VALIDATION] if skip_validation else []), *configs, "--", *batch]
        env = tool_env(OFFLINE_ENV, tool="semgrep")
        done = proc.run(argv, timeout_s=ctx.tool.timeout_s, cwd=ctx.workspace, env=env)
        if skip_validation and done.returncode == 2 and "unknown option '--x-rule-validation'" in done.stderr:
            self._validation_flag = False
            return self._run_batch(exe, configs, batch, ctx, declared)
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
        if not isinstance(data, dict):
            return ScanResult(self.name, self.stage, ToolStatus.ERROR, error="semgrep printed no report object")
        version = str(data.get("version", ""))
        errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
        wanted = set(batch)
        # An error about one of our files (a rule timeout, a parse error) means that file was not fully scanned.
        per_file = [e for e in errors if relativize(str(e.get("path", "")), ctx.workspace) in wanted]
        rest = [e for e in errors if e not in per_file]
        fatal = [e for e in rest if str(e.get("level", "error")).lower() == "error"]
        if done.returncode not in (0, 1) or fatal:
            text = "; ".join(str(e.get("message", e))[:500] for e in fatal) or done.stderr.strip()[-2000:]
            return ScanResult(
                self.name,
                self.stage,
                ToolStatus.ERROR,
                version=version,
                error=f"semgrep exited {done.returncode}: {text}",
            )
        notes = [f"semgrep: {str(e.get('message', ''))[:300]}" for e in rest]
        src = SourceLines(ctx.workspace)
        findings = [self._finding(r, ctx, src, declared) for r in data.get("results", [])]
        why: dict[str, list[str]] = {}
        for e in per_file:
            kind = e.get("type")
            kind = kind[0] if isinstance(kind, list) and kind else kind
            rule = str(e.get("rule_id") or "")
            why.setdefault(relativize(str(e.get("path", "")), ctx.workspace), []).append(
                f"{kind}{' in rule ' + rule.rsplit('.', 1)[-1] if rule else ''}"
            )
        paths = data.get("paths") if isinstance(data.get("paths"), dict) else {}
        scanned = {relativize(str(p), ctx.workspace) for p in (paths or {}).get("scanned") or []}
        for rel in batch:
            if rel in why:
                reasons = sorted(set(why[rel]))
                text = f"semgrep reported {', '.join(reasons)[:300]}, so part of it was not analysed"
                findings.append(unscanned(self.name, self.stage, rel, text, ctx.workspace))
            elif rel not in scanned:
                text = "semgrep was given it but does not list it among the paths it scanned"
                findings.append(unscanned(self.name, self.stage, rel, text, ctx.workspace))
        return findings, notes, version

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
        message = str(extra.get("message", "")).strip()
        finding = Finding(
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
        )
        # As semgrep reads `nosemgrep`: on the finding's first line or the line above, bare or naming it.
        for n in (start, start - 1):
            for ids in comment_ids(src.line(path, n), self.name) or ():
                if not ids or names_rule(ids, finding):
                    return replace(finding, suppression=Suppression("inline", "nosemgrep comment"))
        return finding
