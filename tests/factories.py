"""Small builders for findings and changes used by the pure-function tests (no tools involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airlock.pipeline.fingerprint import assign
from airlock.pipeline.models import Change, ChangedFile, FileStatus, Finding, Severity


def finding(**kw: Any) -> Finding:
    base: dict[str, Any] = dict(
        stage="sast", tool="bandit", rule_id="B602", message="subprocess call with shell=True",
        severity=Severity.HIGH, path="app.py", start_line=3, end_line=3, snippet="subprocess.call(cmd, shell=True)",
        cwe=("CWE-78",),
    )
    base.update(kw)
    return Finding(**base)


def fp(*findings: Finding) -> list[Finding]:
    return assign(findings)


def change(
    tmp: Path, files: tuple[ChangedFile, ...] = (), mode: str = "diff", policy_dir: Path | None = None
) -> Change:
    return Change(root=tmp, mode=mode, base="b" * 40, head="h" * 40, files=files, workspace=tmp,
                  policy_dir=policy_dir)


def modified(path: str, *ranges: tuple[int, int]) -> ChangedFile:
    return ChangedFile(path, FileStatus.MODIFIED, path, tuple(ranges))
