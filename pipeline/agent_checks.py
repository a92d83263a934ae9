"""Checks on the change itself: an agent must not loosen the gate that judges it.

In diff modes the policy, waivers and baseline are read from the base revision. A change that
edits them gets an `agent.policy-change` finding (high); the edits take effect once a human merges them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from airlock.pipeline.fingerprint import assign
from airlock.pipeline.models import Change, ChangedFile, FileStatus, Finding, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

POLICY_CHANGE = "agent.policy-change"
GUARDED = {
    "airlock.toml": "the airlock policy",
    ".airlock-waivers.toml": "the airlock waivers",
    ".airlock-baseline.json": "the airlock baseline",
}
Reader = Callable[[str], bytes | None]


def _tool_airlock(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return tomllib.loads(raw.decode("utf-8")).get("tool", {}).get("airlock")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        # Unparsable at head: treat any mention as an edit rather than guess.
        return "unparsable" if b"airlock" in raw else None


def _touched(f: ChangedFile) -> set[str]:
    return {p for p in (f.path, f.old_path) if p}


def policy_change_findings(change: Change, read_base: Reader, read_head: Reader) -> list[Finding]:
    if change.mode == "full":
        return []
    out = []
    for f in change.files:
        for name in sorted(_touched(f)):
            what = GUARDED.get(name)
            if name == "pyproject.toml" and _tool_airlock(read_base(name)) != _tool_airlock(read_head(name)):
                what = "[tool.airlock] in pyproject.toml"
            if what is None:
                continue
            verb = "deletes" if f.status is FileStatus.DELETED or name != f.path else "edits"
            first = f.added_lines[0][0] if f.added_lines and name == f.path else 0
            out.append(
                Finding(
                    stage="agent",
                    tool="airlock",
                    rule_id=POLICY_CHANGE,
                    message=(
                        f"this change {verb} {what} ({name}); the gate keeps using the base revision's "
                        "version, and the edit takes effect only once a human has reviewed and merged it"
                    ),
                    severity=Severity.HIGH,
                    path=name,
                    start_line=first,
                    end_line=first,
                    title="change edits the gate's own configuration",
                    snippet=f"{verb} {name}",
                )
            )
    return assign(out)
