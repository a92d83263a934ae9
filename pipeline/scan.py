"""One scan: Change -> scanners -> findings -> fingerprints and baseline -> gate -> Report."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from airlock.pipeline import __version__
from airlock.pipeline.anchors import MAX_TEXT_BYTES, anchored
from airlock.pipeline.cache_store import DiskCache
from airlock.pipeline.cached_scanner import with_cache
from airlock.pipeline.fingerprint import assign
from airlock.pipeline.gate import evaluate
from airlock.pipeline.models import (
    Change,
    FileStatus,
    Report,
    ScanResult,
    StageResult,
    Target,
    ToolRun,
    ToolStatus,
)
from airlock.pipeline.policy import Policy, RuntimePolicy
from airlock.pipeline.redact import redact
from airlock.pipeline.review import Trusted, load_trusted, review
from airlock.pipeline.runner import Job, ProgressCallback, run_jobs
from airlock.scanners.interface import ScanContext, Scanner
from airlock.scanners.registry import all_scanners
from airlock.scanners.tooling import SourceLines

# Stages whose findings point at files, so a base version can be scanned to tell old from new.
DIFFABLE_STAGES = frozenset({"sast", "iac"})
# Stages that need the whole head tree: runtime runs the project; image findings are anchored at files the
# change may not touch. The others read only the changed files.
WHOLE_TREE_STAGES = frozenset({"runtime", "image"})


@dataclass(frozen=True)
class ScanOptions:
    stages: tuple[str, ...]
    offline: bool = False
    output_dir: Path | None = None
    on_event: ProgressCallback | None = None  # progress display hook; see pipeline/runner.py
    today: dt.date | None = None  # for waiver expiry; None means today (UTC)
    read_baseline: bool = True  # False for `airlock baseline create`
    anchor_fallback: str = ""  # the CI file that ran airlock: where findings of --run commands are shown
    cache: DiskCache | None = None  # per-file results of the cacheable scanners (pipeline/cached_scanner.py)


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pat) for pat in patterns)


@dataclass(frozen=True)
class Plan:
    """The jobs one scan runs, and what assembling their results into a report needs."""

    jobs: tuple[Job, ...]
    paths: tuple[str, ...]
    path_map: dict[str, str]  # base path -> head path, so a moved file's old findings still match
    trusted: Trusted
    notes: tuple[str, ...] = ()  # what planning has to say (compare_base without a base revision)


def plan(change: Change, policy: Policy, options: ScanOptions, scanners: Sequence[Scanner] | None = None) -> Plan:
    """The head jobs (and base jobs, in diff modes) of a scan; nothing runs yet."""
    scanners = with_cache(
        [
            s
            for s in (scanners if scanners is not None else all_scanners())
            if s.stage in options.stages and policy.tool(s.name).enabled
        ],
        options.cache,
    )
    paths = tuple(p for p in change.scan_paths if not _excluded(p, policy.exclude))
    # A bad waivers or baseline file stops the scan before any tool runs.
    trusted = load_trusted(change.policy_dir, with_baseline=options.read_baseline)

    def ctx(
        workspace: Path, ctx_paths: tuple[str, ...], s: Scanner, runtime: RuntimePolicy | None = None
    ) -> ScanContext:
        return ScanContext(
            workspace=workspace,
            paths=ctx_paths,
            tool=policy.tool(s.name),
            offline=options.offline,
            image=policy.image,
            runtime=runtime or policy.runtime,
            # --offline wins over [agent] online: nothing may touch the network
            agent=replace(policy.agent, online=policy.agent.online and not options.offline),
            change=change,
            output_dir=options.output_dir,
            tracer=policy.tool("strace"),
        )

    notes: list[str] = []
    if any(s.stage in WHOLE_TREE_STAGES for s in scanners):
        notes += change.whole_workspace()
    jobs = [Job(s, ctx(change.workspace, paths, s)) for s in scanners]
    path_map: dict[str, str] = {}
    if change.base_workspace is not None:
        old = {
            f.old_path: f.path
            for f in change.files
            if f.old_path
            and f.status in (FileStatus.MODIFIED, FileStatus.RENAMED)
            and not _excluded(f.path, policy.exclude)
        }
        path_map = old
        jobs += [
            Job(s, ctx(change.base_workspace, tuple(sorted(old)), s), "base")
            for s in scanners
            if s.stage in DIFFABLE_STAGES
        ]
    if policy.runtime.compare_base and "runtime" in options.stages:
        jobs += _runtime_base_jobs(change, jobs, notes, ctx)
    return Plan(tuple(jobs), paths, path_map, trusted, tuple(notes))


def scan(change: Change, policy: Policy, options: ScanOptions, scanners: Sequence[Scanner] | None = None) -> Report:
    p = plan(change, policy, options, scanners)
    return assemble(change, policy, options, p, run_jobs(p.jobs, on_event=options.on_event))


def assemble(
    change: Change, policy: Policy, options: ScanOptions, p: Plan, results: Sequence[ScanResult]
) -> Report:
    """The plan's results (in the order of its jobs) -> fingerprints, new/old, review, gate -> Report."""
    jobs = p.jobs
    head = [r for j, r in zip(jobs, results, strict=True) if j.label == "head"]
    base = {r.tool: r for j, r in zip(jobs, results, strict=True) if j.label == "base"}

    notes = [*change.notes, *p.notes]
    # Intake's airlock.unscanned findings (files no tool could be shown) count like any tool's.
    findings = assign([*change.findings, *(f for r in head for f in r.findings)])
    known: set[str] = set()
    for tool, r in base.items():
        if r.status is ToolStatus.ERROR:
            notes.append(
                f"{tool} could not scan the base ({r.error.splitlines()[0] if r.error else 'error'}); "
                "all its findings count as new"
            )
        known.update(f.fingerprint for f in assign(r.findings, p.path_map))
        if r.stage == "runtime" and r.status is not ToolStatus.ERROR:
            notes.append(
                f"runtime: compare_base ran the same commands on the base, which showed {len(r.findings)} runtime "
                "finding(s); the head's findings matching them are marked not new"
            )
    findings = [redact(replace(f, new=f.fingerprint not in known)) for f in findings]
    src = SourceLines(change.workspace)
    today = options.today or dt.datetime.now(dt.timezone.utc).date()
    reviewed = review(findings, change, p.trusted, src.line, today)
    findings = list(reviewed.findings)
    for r in head:
        notes.extend(r.notes)

    runs = {stage: [_tool_run(r) for r in head if r.stage == stage] for stage in options.stages}
    gate = evaluate(policy.gate, findings, runs)
    gate = replace(gate, warnings=gate.warnings + reviewed.warnings)
    stages = tuple(
        _stage_result(stage, runs[stage], gate.failing_stages, gate.errored_stages) for stage in options.stages
    )
    findings = anchored(findings, _policy_texts(change, policy), _exists_in(change.workspace), options.anchor_fallback)
    target = Target(root=str(change.root), mode=change.mode, base=change.base, head=change.head, files=len(p.paths))
    return Report(
        airlock_version=__version__,
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        target=target,
        gate=gate,
        stages=stages,
        findings=tuple(sorted(findings, key=lambda f: (-f.severity, f.stage, f.path, f.start_line, f.rule_id))),
        notes=tuple(notes),
        fail_on=policy.gate.fail_on.label,
        policy_source=policy.source,
    )


def _read_text(path: Path) -> str | None:
    try:
        if path.is_symlink() or not path.is_file():
            return None
        with path.open("rb") as fh:
            return fh.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None


def _policy_texts(change: Change, policy: Policy) -> list[tuple[str, str]]:
    """The file the policy came from, as (repository-relative path, text): where commands and images are declared."""
    where = change.policy_dir or change.root
    for name in ("airlock.toml", "pyproject.toml"):
        if policy.source == name or policy.source.startswith(name + " "):
            text = _read_text(where / name)
            return [(name, text)] if text is not None else []
    try:  # --config FILE: usable as a location only when it lives in the repository
        rel = Path(policy.source).resolve().relative_to(change.root.resolve())
    except (ValueError, OSError):
        return []
    text = _read_text(change.root / rel)
    return [(rel.as_posix(), text)] if text is not None else []


def _exists_in(workspace: Path) -> Callable[[str], bool]:
    top = workspace.resolve()

    def exists(rel: str) -> bool:
        p = workspace / rel
        try:
            return p.is_file() and not p.is_symlink() and p.resolve().is_relative_to(top)
        except (OSError, ValueError):
            return False

    return exists


def _runtime_base_jobs(
    change: Change, head_jobs: list[Job], notes: list[str], ctx: Callable[..., ScanContext]
) -> list[Job]:
    """[runtime] compare_base: the head's commands, run the same way on the whole base checkout, so behaviour the
    base shows too is not new. The commands are the head's: the base is asked "did you do this too?"."""
    runtime_jobs = [j for j in head_jobs if j.label == "head" and j.scanner.stage == "runtime"]
    if not runtime_jobs:
        return []
    if change.base_tree is None:
        notes.append(
            "runtime: compare_base needs a base revision (--base, --patch or --staged); every runtime finding "
            "counts as new"
        )
        return []
    out = []
    for j in runtime_jobs:
        commands = j.scanner.targets(j.ctx)
        if commands:
            rt = replace(j.ctx.runtime, commands=tuple(commands))
            out.append(Job(j.scanner, ctx(change.base_tree, (), j.scanner, rt), "base"))
    return out


def _tool_run(r: ScanResult) -> ToolRun:
    return ToolRun(r.tool, r.status, r.version, round(r.duration_s, 3), r.error, r.notes, len(r.findings))


def _stage_result(stage: str, runs: list[ToolRun], failing: frozenset[str], errored: frozenset[str]) -> StageResult:
    if not runs or all(r.status is ToolStatus.SKIPPED for r in runs):
        status = "skipped"
    elif stage in errored:
        status = "error"
    elif stage in failing:
        status = "failed"
    else:
        status = "passed"
    errors = "; ".join(f"{r.tool}: {r.error}" for r in runs if r.status is ToolStatus.ERROR)
    duration = max((r.duration_s for r in runs), default=0.0)
    return StageResult(stage, status, round(duration, 3), tuple(runs), errors)
