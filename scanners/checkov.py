"""checkov over every IaC file the change touched, in one run (it takes seconds just to start).

checkov without a platform key reports no severity, so this module owns the mapping from check id or
check family to severity (documented in docs/rules/iac.md). It never phones home: --skip-download, no
API key, and a working directory and config file of ours, so a .checkov.yaml in the change is never read.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from airlock.pipeline import proc
from airlock.pipeline.models import Finding, ScanResult, Severity, Suppression, ToolStatus
from airlock.scanners.interface import ScanContext
from airlock.scanners.tooling import (
    SourceLines,
    argv_batches,
    find_tool,
    missing,
    private_dirs,
    relativize,
    split_targets,
    unscanned,
    wanted_targets,
)

# --- severity: data, not code ------------------------------------------------------------------
# High: public exposure, disabled encryption, wildcard IAM/permissions, privileged or root containers,
# injection into CI, secrets. Low: hygiene that is rarely a weakness on its own. Everything else: medium.
HIGH_CHECKS = frozenset(
    {
        # public exposure
        "CKV_AWS_20", "CKV_AWS_57", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV2_AWS_6",
        "CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277", "CKV_AWS_17", "CKV_AWS_88",
        "CKV_AWS_69", "CKV_AWS_70", "CKV_GCP_2", "CKV_GCP_3", "CKV_GCP_28", "CKV_GCP_106",
        "CKV_AZURE_9", "CKV_AZURE_10", "CKV_AZURE_34",
        # disabled encryption
        "CKV_AWS_3", "CKV_AWS_16", "CKV_AWS_19", "CKV_AWS_8", "CKV_AWS_27", "CKV_AWS_64", "CKV_AWS_2",
        "CKV_AZURE_2", "CKV_GCP_6",
        # wildcard IAM / permissions
        "CKV_AWS_1", "CKV_AWS_49", "CKV_AWS_62", "CKV_AWS_63", "CKV_AWS_286", "CKV_AWS_287", "CKV_AWS_288",
        "CKV_AWS_289", "CKV_AWS_290", "CKV_AWS_355", "CKV2_AWS_40", "CKV_K8S_49", "CKV_AWS_107",
        "CKV2_GHA_1",
        # privileged / root containers, host namespaces
        "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_20", "CKV_K8S_23", "CKV_K8S_39",
        "CKV_DOCKER_3", "CKV_DOCKER_8", "CKV2_DOCKER_1",
        # CI injection and unsafe workflow settings
        "CKV_GHA_1", "CKV_GHA_2",
    }
)  # fmt: skip
LOW_CHECKS = frozenset(
    {
        "CKV_AWS_18", "CKV_AWS_21", "CKV_AWS_144", "CKV2_AWS_61", "CKV2_AWS_62", "CKV2_AWS_5",
        "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13", "CKV_K8S_15",
        "CKV_K8S_43", "CKV_K8S_21", "CKV2_K8S_6", "CKV_DOCKER_2", "CKV_DOCKER_7",
    }
)  # fmt: skip
# Families by prefix, after the exact ids: every secret check is high, and so is each of airlock's own
# checks (scanners/checkov_checks: curl|sh in a Dockerfile, hostPath volumes, pull_request_target checkouts).
FAMILIES: tuple[tuple[str, Severity], ...] = (
    ("CKV_SECRET_", Severity.HIGH),
    ("CKV2_SECRET_", Severity.HIGH),
    ("airlock.", Severity.HIGH),
)
# Checks checkov lacks, written as checkov checks so they run in the same single process.
OWN_CHECKS = Path(__file__).parent / "checkov_checks"
DEFAULT = Severity.MEDIUM

# What checkov may be given. It decides per file what it recognises; this only keeps other files out so
# the stage is skipped when nothing IaC-like changed.
SUFFIXES = (".tf", ".tf.json", ".tfvars", ".hcl", ".yaml", ".yml", ".json", ".template", ".bicep",
            ".dockerfile", ".containerfile")  # fmt: skip
NAMES = ("Dockerfile", "Containerfile")

# Secrets are owned by trivy-secret in the sast stage (it masks values); SCA needs a platform key.
SKIP_FRAMEWORKS = ("secrets", "sca_package", "sca_image")
CONFIG = "skip-download: true\n"  # a config file of ours; checkov refuses an empty one


def map_severity(check_id: str) -> Severity:
    if check_id in HIGH_CHECKS:
        return Severity.HIGH
    if check_id in LOW_CHECKS:
        return Severity.LOW
    for prefix, sev in FAMILIES:
        if check_id.startswith(prefix):
            return sev
    return DEFAULT


def is_candidate(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(SUFFIXES) or name.startswith(NAMES) or name.endswith(NAMES)


class CheckovScanner:
    name = "checkov"
    stage = "iac"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return wanted_targets(ctx.paths, ctx.workspace, is_candidate)

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = find_tool(self.name, ctx.tool)
        if exe is None:
            return missing(self.name, self.stage, "install it with 'pip install checkov' or set [tools.checkov] path")
        workspace = ctx.workspace.resolve()
        given, unscanned_files = split_targets(self.name, self.stage, targets, workspace)
        findings: list[Finding] = list(unscanned_files)
        notes: list[str] = []
        version = ""
        by_abs = {str(workspace / rel): rel for rel in given}
        for batch in argv_batches(list(by_abs), per_item=4):
            out = self._run_batch(exe, batch, workspace, ctx)
            if isinstance(out, ScanResult):
                return out
            batch_findings, seen, parse_failed, batch_version = out
            findings += batch_findings
            version = version or batch_version
            for abs_path in batch:
                rel = by_abs[abs_path]
                if rel in parse_failed:
                    why = "checkov could not parse it"
                elif rel not in seen and must_have_checks(workspace / rel):
                    why = "checkov reported no check at all for it, though every file of its kind gets some"
                else:
                    continue
                findings.append(unscanned(self.name, self.stage, rel, why, workspace))
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version, notes=tuple(notes))

    def _run_batch(
        self, exe: str, batch: list[str], workspace: Path, ctx: ScanContext
    ) -> ScanResult | tuple[list[Finding], set[str], set[str], str]:
        with tempfile.TemporaryDirectory(prefix="airlock-checkov-") as tmp_s:
            tmp = Path(tmp_s)
            config = tmp / "checkov.yaml"
            config.write_text(CONFIG, encoding="utf-8")
            files: list[str] = []
            for abs_path in batch:
                files += ["-f", abs_path]
            argv = [exe, *checkov_args(config), *files]
            done = proc.run(argv, timeout_s=ctx.tool.timeout_s, cwd=tmp, env=checkov_env(tmp))
        if done.timed_out:
            return ScanResult(
                self.name, self.stage, ToolStatus.ERROR,
                error=f"checkov timed out after {ctx.tool.timeout_s:g} s; raise [tools.checkov] timeout_s",
            )  # fmt: skip
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError:
            data = None
        if done.returncode not in (0, 1) or data is None:
            return ScanResult(
                self.name, self.stage, ToolStatus.ERROR,
                error=f"checkov exited {done.returncode}: {_tail(done.stderr) or 'no JSON report'}",
            )  # fmt: skip
        reports = data if isinstance(data, list) else [data]  # a dict when one framework ran
        src = SourceLines(workspace)
        findings: list[Finding] = []
        seen: set[str] = set()
        parse_failed: set[str] = set()
        version = ""
        for rep in reports:
            if not isinstance(rep, dict):
                continue
            summary = rep.get("summary") or {}
            version = version or str(summary.get("checkov_version", ""))
            results = rep.get("results") or {}
            for check in results.get("failed_checks") or []:
                findings.append(self._finding(check, workspace, src, None))
            for check in results.get("skipped_checks") or []:
                reason = str((check.get("check_result") or {}).get("suppress_comment") or "no reason given")
                findings.append(self._finding(check, workspace, src, Suppression("checkov-skip", reason)))
            for key in ("passed_checks", "failed_checks", "skipped_checks"):
                for check in results.get(key) or []:
                    if isinstance(check, dict):
                        seen.add(relativize(str(check.get("file_abs_path") or check.get("file_path", "")), workspace))
            for err in results.get("parsing_errors") or []:
                parse_failed.add(relativize(str(err), workspace))
        return findings, seen, parse_failed, version

    def _finding(self, c: dict[str, Any], workspace: Path, src: SourceLines, supp: Suppression | None) -> Finding:
        check_id = str(c.get("check_id", ""))
        path = relativize(str(c.get("file_abs_path") or c.get("file_path", "")), workspace)
        lines = c.get("file_line_range") or [0, 0]
        start = max(int(lines[0] or 0), 0) if lines else 0
        end = max(int(lines[-1] or start), start) if lines else start
        if start == 0 and end > 0:  # whole-file checks (GitHub workflows) report line 0
            start = 1
        name = str(c.get("check_name", "")).strip()
        # Dockerfile and workflow resources are named by absolute path: keep the temp workspace out of it.
        resource = str(c.get("resource", "")).replace(str(workspace) + "/", "").rstrip(".")
        if resource.startswith("[@]"):  # a whole-workflow check (airlock.gha.*) names a jmespath, not a thing
            resource = "workflow"
        return Finding(
            stage=self.stage,
            tool=self.name,
            rule_id=check_id,
            message=f"{name} ({resource})" if resource else name,
            severity=map_severity(check_id),
            path=path,
            start_line=start,
            end_line=end,
            title=name,
            snippet=src.snippet(path, start, end),
            help_url=str(c.get("guideline") or ""),
            suppression=supp,
        )


# Files checkov always runs checks on when it can read them: a Dockerfile, a Kubernetes workload.
_K8S_WORKLOAD = re.compile(
    rb"^kind:\s*[\"']?(Pod|Deployment|DaemonSet|StatefulSet|ReplicaSet|Job|CronJob)\b", re.MULTILINE
)


def must_have_checks(path: Path) -> bool:
    name = path.name
    if name.startswith(NAMES) or name.endswith(NAMES) or name.endswith((".dockerfile", ".containerfile")):
        return True
    if name.endswith((".yaml", ".yml")):
        try:
            head = path.read_bytes()[:1_000_000]
        except OSError:
            return False
        return bool(_K8S_WORKLOAD.search(head)) and b"apiVersion:" in head
    return False


def checkov_args(config: Path) -> list[str]:
    """The flags both airlock and the benchmark/test 'by hand' runs use."""
    args = ["-o", "json", "--compact", "--skip-download", "--config-file", str(config)]
    args += ["--external-checks-dir", str(OWN_CHECKS)]
    for fw in SKIP_FRAMEWORKS:
        args += ["--skip-framework", fw]
    return args


def checkov_env(home: Path) -> dict[str, str]:
    """No platform key, no checkov settings from the caller's shell, a private HOME (~/.checkov.yaml)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_")) and k not in ("LOG_LEVEL",)
    }
    env.update(private_dirs("checkov"))  # TMPDIR: checkov's .lark_cache files; XDG: anything else it caches
    env["HOME"] = str(home)
    env["BC_SKIP_MAPPING"] = "TRUE"  # no download of the check-id mapping
    env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"  # else every import asks PyPI for a newer checkov
    # airlock already runs the tools side by side; checkov forking a worker per runner on top only adds
    # ~1 s of system time per scan here (same results, checked on the fixtures).
    env["CHECKOV_PARALLELIZATION_TYPE"] = "none"
    env["CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING"] = "False"
    return env


def _tail(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines[-5:])[:2000]
