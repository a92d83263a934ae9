"""The merge step between the scanners and the gate, in a fixed order:

1. inline suppressions (honoured only for comments the change did not add) -> agent.suppression-added
2. cross-tool dedup
3. agent.policy-change for edits to the gate's own configuration
4. baseline (new=False), read from the trusted policy directory
5. waivers (suppressed, with reason); expired ones -> agent.waiver-expired and a gate warning

Everything but loading the two trusted files is a pure function of its inputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline import baseline as baseline_mod
from airlock.pipeline import suppressions, waivers
from airlock.pipeline.agent_checks import policy_change_findings
from airlock.pipeline.fingerprint import assign
from airlock.pipeline.merge import dedup
from airlock.pipeline.models import Change, FileStatus, Finding
from airlock.pipeline.policy import file_reader


@dataclass(frozen=True)
class Trusted:
    """What the base revision (or the directory, in full mode) says a human has accepted."""

    baseline: baseline_mod.Baseline = baseline_mod.Baseline()
    waivers: tuple[waivers.Waiver, ...] = ()


def load_trusted(policy_dir: Path | None, *, with_baseline: bool = True) -> Trusted:
    """with_baseline=False when the baseline is being (re)created: a damaged one must not block that."""
    if policy_dir is None:
        return Trusted()
    read = file_reader(policy_dir)
    raw_b = read(baseline_mod.FILENAME) if with_baseline else None
    raw_w = read(waivers.FILENAME)
    return Trusted(
        baseline=baseline_mod.parse(raw_b) if raw_b is not None else baseline_mod.Baseline(),
        waivers=waivers.parse(raw_w) if raw_w is not None else (),
    )


@dataclass(frozen=True)
class Reviewed:
    findings: tuple[Finding, ...]
    warnings: tuple[str, ...]  # for the gate's warnings: expired waivers


def review(
    findings: list[Finding],
    change: Change,
    trusted: Trusted,
    read_line: suppressions.LineReader,
    today: dt.date,
) -> Reviewed:
    head_to_base = {f.path: f.old_path for f in change.files if f.status is FileStatus.RENAMED and f.old_path}
    renamed = baseline_mod.renamed_fingerprints(findings, head_to_base)
    merged = dedup(assign(suppressions.apply(findings, change, read_line)))
    if change.policy_dir is not None:
        merged += policy_change_findings(change, file_reader(change.policy_dir), file_reader(change.workspace))
    merged = baseline_mod.apply(merged, trusted.baseline, renamed)
    merged, expired = waivers.apply(merged, trusted.waivers, today)
    warnings = tuple(f.message for f in expired)
    return Reviewed(tuple(merged + expired), warnings)
