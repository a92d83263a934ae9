"""Known vulnerabilities of the dependency versions a change adds: trivy over the changed manifests and lockfiles,
base and head, with the vulnerability DB the image stage uses (`[image] cache_dir` / --image-cache-dir).

trivy never downloads its DB here. With no DB in the cache, a change that touches dependency files gets no
verdict (a stage error with the fix), as the image stage does: a check that cannot run never passes. Only
what the change added gates: a (package, version, advisory) the base's copy of the file already had is old.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from airlock.pipeline import proc
from airlock.pipeline.models import Finding, ScanResult, Severity, ToolStatus
from airlock.pipeline.workspace import safe_relpath, write_file
from airlock.scanners import trivy_common as tc
from airlock.scanners.agent import manifests
from airlock.scanners.agent.view import ChangeView
from airlock.scanners.interface import ScanContext
from airlock.scanners.trivy_image import SEVERITY, db_state

LOCKFILES = (
    "requirements.txt", "Pipfile.lock", "poetry.lock", "uv.lock", "package-lock.json", "yarn.lock",
    "pnpm-lock.yaml", "go.mod", "go.sum", "Cargo.lock", "composer.lock", "Gemfile.lock", "package.json",
    "pyproject.toml",
)  # fmt: skip


def _wanted(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name in LOCKFILES or (name.startswith("requirements") and name.endswith(".txt"))


class TrivyDepsScanner:
    name = "trivy-deps"
    stage = "agent"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return tuple(p for p in ctx.paths if _wanted(p))

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        assert ctx.change is not None  # noqa: S101 - intake always sets it
        state = db_state(ctx)
        if not state.present:
            return ScanResult(
                self.name, self.stage, ToolStatus.ERROR,
                error=f"no trivy vulnerability DB in {state.db.parent}: known vulnerabilities of added dependencies "
                "were not checked; seed it with 'trivy image --download-db-only --cache-dir DIR' and pass "
                "--image-cache-dir DIR (or [image] cache_dir), or set [tools.trivy-deps] enabled = false",
            )  # fmt: skip
        exe = tc.find_trivy(ctx.tool)
        if exe is None:
            return tc.missing_trivy(self.name, self.stage)
        view = ChangeView(ctx.change, targets)
        files = [f for f in view.live() if f.path in targets]
        with tempfile.TemporaryDirectory(prefix="airlock-trivy-deps-") as tmp_s:
            tmp = Path(tmp_s)
            head = {f.path: view.head(f.path) for f in files}
            base = {f.path: view.base(f) for f in files if view.has_base}
            head_data, err = self._scan(exe, ctx, state.cache_dir, tmp / "head", head)
            if err:
                return ScanResult(self.name, self.stage, ToolStatus.ERROR, error=err)
            base_data, err = self._scan(exe, ctx, state.cache_dir, tmp / "base", base) if base else ({}, "")
            if err:
                return ScanResult(self.name, self.stage, ToolStatus.ERROR, error=f"base: {err}")
        old = {(path, v[0], v[1], v[2]) for path, vs in _vulns(base_data).items() for v in vs}
        findings = []
        for path, vs in _vulns(head_data).items():
            for pkg, installed, vid, raw in vs:
                if (path, pkg, installed, vid) not in old:
                    findings.append(_finding(path, pkg, installed, vid, raw, head.get(path)))
        version = tc.report_version(head_data) or tc.version(exe)
        return ScanResult(self.name, self.stage, ToolStatus.OK, tuple(findings), version)

    def _scan(
        self, exe: str, ctx: ScanContext, cache: Path, root: Path, files: dict[str, bytes | None]
    ) -> tuple[dict[str, Any], str]:
        root.mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            if content is not None and safe_relpath(rel) == rel:
                write_file(root, rel, content)
        neutral = tc.neutral(root.parent / f"{root.name}-conf")
        argv = [
            exe, "fs", "--format", "json", "--quiet", "--scanners", "vuln", "--cache-dir", str(cache),
            "--cache-backend", "memory", "--skip-db-update", "--skip-java-db-update", "--offline-scan",
            "--skip-check-update", "--timeout", f"{int(ctx.tool.timeout_s)}s", *tc.NO_PHONE_HOME, *neutral.args,
            str(root),
        ]  # fmt: skip
        done = proc.run(argv, timeout_s=ctx.tool.timeout_s + 30, cwd=neutral.cwd,
                        env=tc.tool_env_for(root.parent / f"{root.name}-home"))  # fmt: skip
        if done.timed_out:
            return {}, f"trivy timed out after {ctx.tool.timeout_s:g} s; raise [tools.trivy-deps] timeout_s"
        data = tc.decode(done.stdout)
        if data is not None and not any(files.values()):
            return {}, ""
        if done.returncode != 0 or data is None:
            return {}, f"trivy exited {done.returncode}: {tc.last_error(done.stderr)}"
        return data, ""


def _vulns(data: dict[str, Any]) -> dict[str, list[tuple[str, str, str, dict[str, Any]]]]:
    out: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
    for result in data.get("Results") or []:
        if not isinstance(result, dict):
            continue
        target = str(result.get("Target", ""))
        for v in result.get("Vulnerabilities") or []:
            if isinstance(v, dict):
                item = (str(v.get("PkgName", "")), str(v.get("InstalledVersion", "")),
                        str(v.get("VulnerabilityID", "")), v)  # fmt: skip
                out.setdefault(target, []).append(item)
    return out


def _finding(path: str, pkg: str, installed: str, vid: str, v: dict[str, Any], raw: bytes | None) -> Finding:
    line = 0
    parser = manifests.parser_for(path)
    if parser is not None and raw is not None:
        try:
            dep = next((d for d in parser(raw.decode("utf-8", "replace")).deps
                        if d.key == manifests.Dep(d.ecosystem, pkg, "", "", "", 0).key), None)  # fmt: skip
            line = dep.line if dep else 0
        except (manifests.Unparsable, RecursionError, ValueError):
            line = 0
    fixed = str(v.get("FixedVersion", ""))
    return Finding(
        stage="agent", tool="trivy", rule_id=vid,
        message=f"the change adds {pkg} {installed}, affected by {vid}" + (f"; fixed in {fixed}" if fixed else ""),
        severity=SEVERITY.get(str(v.get("Severity", "")).upper(), Severity.MEDIUM), path=path,
        start_line=line, end_line=line, title=str(v.get("Title", "")) or vid,
        cwe=tuple(str(c) for c in v.get("CweIDs") or []), help_url=str(v.get("PrimaryURL", "")),
        evidence=(f"package: {pkg} {installed}",),
    )  # fmt: skip
