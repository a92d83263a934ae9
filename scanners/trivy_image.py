"""trivy over container images: archives (docker-archive tar, OCI archive, OCI layout dir) and registry refs.

It reports OS and language package vulnerabilities, secrets in layers and image-config misconfigurations
(root user, ...), with trivy's own severities, and writes a CycloneDX SBOM beside the report. trivy pulls
refs itself; no Docker daemon is used. Offline, trivy runs against a pre-seeded DB cache; with no DB the
vulnerability part errors (the gate fails closed) while secret and config checks still report.
Dockerfiles in the change belong to checkov (iac stage); this adapter never scans them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlock.pipeline import proc
from airlock.pipeline.models import Finding, ScanResult, Severity, ToolStatus
from airlock.scanners import image_input
from airlock.scanners import trivy_common as tc
from airlock.scanners.interface import ScanContext

SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
    "UNKNOWN": Severity.MEDIUM,  # unrated is not harmless; medium, like checkov's unmapped checks
}
ARCHIVE, REF = "archive:", "ref:"
REFUSED = "airlock.image.unverified"


@dataclass(frozen=True)
class DbState:
    cache_dir: Path
    offline: bool
    present: bool

    @property
    def db(self) -> Path:
        return self.cache_dir / "db" / "trivy.db"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trivy"


def db_state(ctx: ScanContext) -> DbState:
    cache = Path(ctx.image.cache_dir) if ctx.image.cache_dir else default_cache_dir()
    offline = ctx.offline or ctx.image.offline
    db = cache / "db"
    present = (db / "trivy.db").is_file() and (db / "metadata.json").is_file()
    return DbState(cache, offline, present)


def missing_db_message(state: DbState) -> str:
    return (
        f"no trivy vulnerability DB in {state.db.parent} and the scan is offline, so image vulnerabilities were "
        "not checked (secrets and image config were). Seed the cache on a connected machine with "
        f"'trivy image --download-db-only --cache-dir DIR', copy DIR/db to {state.db.parent}, and pass "
        "--image-cache-dir (or [image] cache_dir); see the README's air-gapped section"
    )


def label(target: str) -> str:
    kind, _, value = target.partition(":")
    return Path(value).name if kind + ":" == ARCHIVE else value


def sbom_name(target: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label(target)).strip("._") or "image"
    return f"sbom-{safe}.cdx.json"


class TrivyImageScanner:
    name = "trivy"
    stage = "image"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return tuple(ARCHIVE + a for a in ctx.image.archives) + tuple(REF + r for r in ctx.image.refs)

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        exe = tc.find_trivy(ctx.tool)
        if exe is None:
            return tc.missing_trivy(self.name, self.stage)
        state = db_state(ctx)
        versions: list[str] = []
        errors: list[str] = []
        if state.offline and not state.present:
            errors.append(missing_db_message(state))
        findings: list[Finding] = []
        notes: list[str] = []
        for target in targets:
            f, n, err = self._scan_one(exe, ctx, state, target, versions)
            findings += f
            notes += n
            if err:
                errors.append(f"{label(target)}: {err}")
        status = ToolStatus.ERROR if errors else ToolStatus.OK
        version = versions[0] if versions else tc.version(exe)
        return ScanResult(self.name, self.stage, status, tuple(findings), version, error="; ".join(errors),
                          notes=tuple(notes))  # fmt: skip

    def _scan_one(
        self, exe: str, ctx: ScanContext, state: DbState, target: str, versions: list[str]
    ) -> tuple[list[Finding], list[str], str]:
        kind, _, value = target.partition(":")
        with tempfile.TemporaryDirectory(prefix="airlock-trivy-image-") as tmp_s:
            tmp = Path(tmp_s)
            neutral = tc.neutral(tmp / "conf")
            if kind + ":" == ARCHIVE:
                limits = image_input.Limits(deadline=time.monotonic() + ctx.tool.timeout_s)
                try:
                    source = ["--input", str(image_input.prepare(Path(value), tmp / "input", limits))]
                except (image_input.ImageRefused, OSError) as exc:
                    reason = f"image archive {value} refused: {exc}"
                    return [self._refused(label(target), reason)], [], reason
            elif ctx.offline:
                # --offline means nothing touches the network; [image] offline alone only pins the DB, so an
                # internal registry stays usable there.
                advice = "save it to an archive (docker save, skopeo copy ... oci-archive:FILE), pass --image-archive"
                return [], [], f"registry image {value} cannot be pulled with --offline; {advice}"
            else:
                source = ["--image-src", "remote", value]
            scanners = "vuln,secret" if (state.present or not state.offline) else "secret"
            argv = [
                exe, "image", "--format", "json", "--list-all-pkgs", "--quiet",
                # Only the vulnerability DB is shared: the scan cache, keyed by ids an image claims, is per run.
                "--cache-dir", str(state.cache_dir), "--cache-backend", "memory", "--scanners", scanners,
                "--image-config-scanners", "misconfig,secret", "--skip-check-update",
                "--timeout", f"{int(ctx.tool.timeout_s)}s", *tc.NO_PHONE_HOME, *neutral.args,
            ]  # fmt: skip
            if state.offline:
                argv += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
            done = proc.run([*argv, *source], timeout_s=ctx.tool.timeout_s + 30, cwd=neutral.cwd,
                            env=tc.tool_env_for(tmp, tmpdir=tmp / "trivy-tmp"))  # fmt: skip
            if done.timed_out:
                return [], [], f"trivy timed out after {ctx.tool.timeout_s:g} s; raise [tools.trivy] timeout_s"
            data = tc.decode(done.stdout)
            if tc.report_version(data):
                versions.append(tc.report_version(data))
            if done.returncode != 0 or data is None:
                return [], [], f"trivy exited {done.returncode}: {tc.last_error(done.stderr)}"
            notes = []
            if ctx.output_dir is not None:
                notes.append(self._sbom(exe, data, tmp, ctx.output_dir / sbom_name(target), neutral))
        return self._findings(data, label(target)), [n for n in notes if n], ""

    def _sbom(self, exe: str, data: dict[str, Any], tmp: Path, out: Path, neutral: tc.Neutral) -> str:
        """CycloneDX from the JSON report already made (--list-all-pkgs): no second scan."""
        report = tmp / "report.json"
        report.write_text(json.dumps(data), encoding="utf-8")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"SBOM not written: {exc}"
        done = proc.run(
            [exe, "convert", "--format", "cyclonedx", "--quiet", "--output", str(out), str(report)],
            timeout_s=120, cwd=neutral.cwd, env=tc.tool_env_for(tmp),
        )  # fmt: skip
        if done.returncode != 0:
            return f"SBOM not written: trivy convert exited {done.returncode}: {tc.last_error(done.stderr)}"
        return f"CycloneDX SBOM written to {out}"

    def _findings(self, data: dict[str, Any], image: str) -> list[Finding]:
        out: list[Finding] = []
        for result in data.get("Results") or []:
            target = str(result.get("Target", ""))
            for v in result.get("Vulnerabilities") or []:
                out.append(self._vuln(v, image))
            for s in result.get("Secrets") or []:
                out.append(self._secret(s, image, target))
            for m in result.get("Misconfigurations") or []:
                if str(m.get("Status", "FAIL")).upper() == "FAIL":
                    out.append(self._misconfig(m, image))
        return out

    def _refused(self, image: str, reason: str) -> Finding:
        return Finding(
            stage=self.stage, tool=self.name, rule_id=REFUSED,
            message=f"image {image} was not scanned: {reason}",
            severity=Severity.HIGH, path="", title="image not verifiable",
            evidence=(f"image: {image}",),
        )  # fmt: skip

    def _vuln(self, v: dict[str, Any], image: str) -> Finding:
        vid = str(v.get("VulnerabilityID", ""))
        pkg, installed = str(v.get("PkgName", "")), str(v.get("InstalledVersion", ""))
        fixed = str(v.get("FixedVersion", ""))
        title = str(v.get("Title", "")) or vid
        fix = f"; fixed in {fixed}" if fixed else "; no fix released"
        evidence = [f"image: {image}", f"package: {pkg} {installed}"]
        if v.get("PkgPath"):
            evidence.append(f"file: {v['PkgPath']}")
        return Finding(
            stage=self.stage, tool=self.name, rule_id=vid,
            message=f"{pkg} {installed} in image {image} is affected by {vid}{fix}",
            severity=SEVERITY.get(str(v.get("Severity", "")).upper(), Severity.MEDIUM),
            path="", title=title, cwe=tuple(str(c) for c in v.get("CweIDs") or []),
            help_url=str(v.get("PrimaryURL", "")), evidence=tuple(evidence),
        )  # fmt: skip

    def _secret(self, s: dict[str, Any], image: str, where: str) -> Finding:
        title = str(s.get("Title", "")) or str(s.get("RuleID", "secret"))
        return Finding(
            stage=self.stage, tool=self.name, rule_id=str(s.get("RuleID", "")),
            message=f"{title} in image {image} at {where}",
            severity=SEVERITY.get(str(s.get("Severity", "")).upper(), Severity.HIGH),
            path="", start_line=int(s.get("StartLine") or 0), end_line=int(s.get("EndLine") or 0),
            title=title, snippet=tc.masked_snippet(s), cwe=("CWE-798",),
            evidence=(f"image: {image}", f"file: {where}"),
        )  # fmt: skip

    def _misconfig(self, m: dict[str, Any], image: str) -> Finding:
        mid = str(m.get("ID") or m.get("AVDID") or "")
        title = str(m.get("Title", "")) or mid
        message = str(m.get("Message") or m.get("Description") or title)
        return Finding(
            stage=self.stage, tool=self.name, rule_id=mid,
            message=f"{message} (image {image})",
            severity=SEVERITY.get(str(m.get("Severity", "")).upper(), Severity.MEDIUM),
            path="", title=title, help_url=str(m.get("PrimaryURL", "")),
            evidence=(f"image: {image}", "source: image config"),
        )  # fmt: skip
