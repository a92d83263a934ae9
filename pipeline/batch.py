"""Run the jobs of many scan plans at once, sharing one tool run where a tool's findings depend on one file alone.

A nightly scans dozens of branches whose changed files overlap. For the per-file tools (semgrep, bandit and
trivy's secret scanner: every rule looks at one file) the files of every plan are laid out once in a union
tree, each distinct (path, content) in a slot dir of its own, the tool runs once over it, and its findings
go back to every plan that holds that very file. The other tools (checkov reads Terraform modules as a graph,
the image and runtime stages) run per plan, a few at a time.

Isolation is kept: a union run that errors (a timeout, an output cap, a hostile file crashing the tool) is
thrown away and its jobs run per plan again, so one branch can never turn another's verdict into an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from airlock.pipeline.cached_scanner import CachedScanner
from airlock.pipeline.models import Finding, ScanResult, ToolStatus
from airlock.pipeline.runner import Job, ProgressCallback, run_jobs
from airlock.pipeline.scan import Plan
from airlock.pipeline.workspace import temp_dir

# Tools whose every finding is a function of one file's path and content (and the rules).
PER_FILE_TOOLS = frozenset({"semgrep", "bandit", "trivy-secret"})
_SLOT = re.compile(r"slot-(\d{4,})-airlock/")


@dataclass(frozen=True)
class _Member:
    plan: int
    job: int
    files: dict[str, str]  # target path -> content digest


def _digest_file(path: Path) -> str | None:
    """sha256 of a regular file, or None when it is not one (such a job runs on its own, as in a plain scan)."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def _rules_key(rules: tuple[str, ...]) -> tuple[str, ...] | None:
    """Rule files by content (each plan reads them from its own base copy); None when one cannot be read."""
    out = []
    for r in rules:
        p = Path(r)
        if p.is_file():
            d = _digest_file(p)
            if d is None:
                return None
            out.append(d)
        elif p.is_dir():
            h = hashlib.sha256()
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.is_symlink()):
                h.update(f.relative_to(p).as_posix().encode() + b"\0" + (_digest_file(f) or "-").encode())
            out.append("dir:" + h.hexdigest())
        else:
            return None
    return tuple(out)


def _stored(job: Job, targets: tuple[str, ...]) -> ScanResult | None:
    if not targets or not isinstance(job.scanner, CachedScanner):
        return None  # no targets: the solo run reports the job as skipped
    try:
        return job.scanner.cached(job.ctx, targets)
    except Exception:  # noqa: BLE001 - the run of its own decides, and reports any error
        return None


def _group_key(job: Job) -> tuple[object, ...] | None:
    if job.scanner.name not in PER_FILE_TOOLS:
        return None
    rules = _rules_key(job.ctx.tool.rules)
    if rules is None:
        return None
    tool = job.ctx.tool
    return (job.scanner.name, tool.path, tool.timeout_s, rules, job.ctx.offline)


def _unslot(text: str) -> str:
    return _SLOT.sub("", text)


def _strip(f: Finding, path: str) -> Finding:
    return replace(
        f,
        path=path,
        message=_unslot(f.message),
        title=_unslot(f.title),
        evidence=tuple(_unslot(e) for e in f.evidence),
    )


def _split(result: ScanResult, slots: dict[str, tuple[str, str]], member: _Member) -> ScanResult:
    """The member's share of a union run: findings on its own (path, content) pairs, notes naming them."""
    mine = {slot for slot, (rel, digest) in slots.items() if member.files.get(rel) == digest}
    findings = []
    for f in result.findings:
        m = _SLOT.match(f.path)
        if m is None:
            findings.append(_strip(f, f.path))  # not tied to a file: every member hears of it
            continue
        slot = f.path[: m.end()]
        if slot in mine:
            findings.append(_strip(f, f.path[m.end() :]))
    notes = [
        _unslot(n)
        for n in result.notes
        if all(s.group(0) in mine for s in _SLOT.finditer(n))
    ]
    return replace(result, findings=tuple(findings), notes=tuple(notes), error=_unslot(result.error))


def run_plans(
    plans: Sequence[Plan], *, on_event: ProgressCallback | None = None, workers: int | None = None
) -> list[list[ScanResult]]:
    """Results per plan, in the order of each plan's jobs, as scan.run_jobs would give them one plan at a time."""
    results: list[list[ScanResult | None]] = [[None] * len(p.jobs) for p in plans]
    groups: dict[tuple[object, ...], list[_Member]] = {}
    solo: list[tuple[int, int]] = []
    for pi, p in enumerate(plans):
        for ji, job in enumerate(p.jobs):
            key = _group_key(job)
            files: dict[str, str] | None = None
            if key is not None:
                try:
                    targets = job.scanner.targets(job.ctx)
                except Exception:  # noqa: BLE001 - the solo run reports it as the adapter's error
                    targets = ()
                stored = _stored(job, targets)
                if stored is not None:  # every file's result is in the content cache: nothing to run or copy
                    results[pi][ji] = stored
                    continue
                digests = {rel: _digest_file(job.ctx.workspace / rel) for rel in targets}
                if targets and all(digests.values()):
                    files = {rel: d for rel, d in digests.items() if d}
            if key is None or files is None:
                solo.append((pi, ji))
            else:
                groups.setdefault(key, []).append(_Member(pi, ji, files))

    with temp_dir("batch") as root:
        union_jobs: list[Job] = []
        layouts: list[tuple[dict[str, tuple[str, str]], list[_Member]]] = []
        for n, members in enumerate(groups.values()):
            if len(members) == 1:
                solo.append((members[0].plan, members[0].job))
                continue
            first = plans[members[0].plan].jobs[members[0].job]
            tree = root / f"g{n}"
            seen: dict[tuple[str, str], str] = {}
            for m in members:
                src = plans[m.plan].jobs[m.job].ctx.workspace
                for rel, digest in m.files.items():
                    if (rel, digest) in seen:
                        continue
                    slot = f"slot-{len(seen):04d}-airlock/"
                    seen[(rel, digest)] = slot
                    dest = tree / slot / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src / rel, dest)
                    if os.access(src / rel, os.X_OK):
                        dest.chmod(0o755)
            slots = {slot: key for key, slot in seen.items()}
            # The union reads len(seen) files where the largest member reads `most`: it gets that many times the
            # tool's timeout, and a timeout (or any error) sends every member back to a run of its own.
            most = max(len(m.files) for m in members)
            tool = replace(first.ctx.tool, timeout_s=first.ctx.tool.timeout_s * max(1, -(-len(seen) // most)))
            ctx = replace(first.ctx, workspace=tree, paths=tuple(s + rel for (rel, _d), s in seen.items()),
                          tool=tool, change=None)
            # The union runs uncached (its slot paths are no branch's); each branch's share is stored below.
            scanner = first.scanner.inner if isinstance(first.scanner, CachedScanner) else first.scanner
            union_jobs.append(Job(scanner, ctx, "batch"))
            layouts.append((slots, members))
        for (slots, members), union in zip(layouts, run_jobs(union_jobs, on_event=on_event), strict=True):
            for m in members:
                if union.status is ToolStatus.OK:
                    results[m.plan][m.job] = share = _split(union, slots, m)
                    job = plans[m.plan].jobs[m.job]
                    if isinstance(job.scanner, CachedScanner):
                        job.scanner.remember(job.ctx, share, m.files)
                else:
                    solo.append((m.plan, m.job))

    # The rest a few at a time: thirty concurrent checkovs would only fight over the cores and the memory.
    width = max(1, workers or os.cpu_count() or 2)
    solo.sort()
    for i in range(0, len(solo), width):
        chunk = solo[i : i + width]
        done = run_jobs([plans[pi].jobs[ji] for pi, ji in chunk], on_event=on_event)
        for (pi, ji), r in zip(chunk, done, strict=True):
            results[pi][ji] = r
    return [[r for r in per if r is not None] for per in results]
