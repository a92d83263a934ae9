"""The nightly scan: every matching branch against its merge base with the default branch, in one process.

Each branch is a diff-mode Change (its policy, waivers and baseline read from its merge base, as `airlock scan
--base` does), planned with scan.plan(); the plans of all branches run together through batch.run_plans(), so a
per-file tool runs once over the union of the changed files; each branch's report is then assembled on its own.
A branch that cannot be opened or assembled becomes an `error` outcome; the others carry on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from airlock.pipeline.batch import run_plans
from airlock.pipeline.cache_store import DiskCache
from airlock.pipeline.change import open_change
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import Git
from airlock.pipeline.models import Change, Report
from airlock.pipeline.policy import Policy
from airlock.pipeline.runner import ProgressCallback
from airlock.pipeline.scan import Plan, ScanOptions, assemble, plan
from airlock.reports.defectdojo import DefectDojoWriter
from airlock.reports.html import HtmlWriter
from airlock.reports.interface import ReportWriter
from airlock.reports.json import JsonWriter
from airlock.reports.sarif import SarifWriter

INTAKE_WORKERS = 4  # branches whose intake (git reads, workspace writes) runs at once
CHUNK = 32  # branches whose workspaces are open at once (disk), and whose per-file tool runs are shared
REPORT_FILES = (("json", "report.json"), ("sarif", "report.sarif"), ("html", "report.html"),
                ("defectdojo", "defectdojo.json"))


@dataclass(frozen=True)
class OpenFinding:
    """A finding the branch introduces (new against its merge base, not suppressed): what the nightly tracks."""

    fingerprint: str
    rule_id: str
    severity: str
    path: str
    line: int
    title: str
    message: str


@dataclass(frozen=True)
class BranchOutcome:
    branch: str
    verdict: str  # passed, failed, error
    head: str = ""
    base: str = ""
    error: str = ""
    findings: tuple[OpenFinding, ...] = ()
    reports: dict[str, str] = field(default_factory=dict)  # format -> path relative to the output dir


# (branch, verdict, index, total) after each branch
BranchCallback = Callable[[str, str, int, int], None]
PolicyLoader = Callable[[Change], Policy]
StagesFor = Callable[[Policy], tuple[str, ...]]


def list_branches(repo: Path, pattern: str) -> dict[str, str]:
    """Branch short name -> ref, for local branches matching the glob, then remote-tracking ones (a CI clone
    has only those); a local branch wins over a remote one of the same name."""
    names: dict[str, str] = {}
    for ref in Git(repo).refs("refs/heads", "refs/remotes"):
        if ref.startswith("refs/heads/"):
            short = ref[len("refs/heads/"):]
        else:
            short = ref[len("refs/remotes/"):].partition("/")[2]
            if short == "HEAD" or short in names:
                continue
        if fnmatch.fnmatchcase(short, pattern):
            names.setdefault(short, ref)
    return dict(sorted(names.items()))


def slug(branch: str) -> str:
    """A file name for a branch: readable, and unique thanks to a hash of the full name."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", branch).strip("._-")[:60] or "branch"
    return f"{readable}-{hashlib.sha256(branch.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


def open_findings(report: Report) -> tuple[OpenFinding, ...]:
    return tuple(
        OpenFinding(f.fingerprint, f.rule_id, f.severity.label, f.path, f.start_line, f.title, f.message)
        for f in report.findings
        if f.new and f.suppression is None
    )


def write_atomic(path: Path, text: str) -> None:
    """Readers (and a concurrent nightly writing the same file) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(text)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_reports(output_dir: Path, branch: str, report: Report) -> dict[str, str]:
    rel_dir = Path("branches") / slug(branch)
    writers: dict[str, ReportWriter] = {
        "json": JsonWriter(), "sarif": SarifWriter(), "html": HtmlWriter(), "defectdojo": DefectDojoWriter(),
    }
    out = {}
    for fmt, name in REPORT_FILES:
        write_atomic(output_dir / rel_dir / name, writers[fmt].render(report))
        out[fmt] = (rel_dir / name).as_posix()
    return out


def _error(branch: str, exc: BaseException) -> BranchOutcome:
    text = str(exc) if isinstance(exc, UsageError) else f"internal error: {type(exc).__name__}: {exc}"
    return BranchOutcome(branch, "error", error=text.splitlines()[0][:500] if text else type(exc).__name__)


def run_nightly(
    repo: Path,
    branches: Sequence[tuple[str, str]],  # (name, ref)
    default_branch: str,
    *,
    load_policy: PolicyLoader,
    stages_for: StagesFor,
    offline: bool,
    output_dir: Path,
    on_event: ProgressCallback | None = None,
    on_branch: BranchCallback | None = None,
    workers: int | None = None,
    cache: DiskCache | None = None,
    full_base: bool | None = None,  # [runtime] compare_base from --config; None lets each base's policy decide
) -> list[BranchOutcome]:
    git = Git(repo)
    default_rev = git.resolve(default_branch)  # a missing default branch is the run's usage error, not a branch's
    outcomes: list[BranchOutcome] = []
    total = len(branches)
    for start in range(0, total, CHUNK):
        chunk = branches[start : start + CHUNK]
        with ExitStack() as stack:
            ready: list[tuple[str, Change, Policy, ScanOptions, Plan]] = []
            opened = _open_changes(stack, repo, default_rev, [ref for _, ref in chunk], full_base)
            for (name, _ref), change_or_error in zip(chunk, opened, strict=True):
                try:
                    if isinstance(change_or_error, BaseException):
                        raise change_or_error
                    change = change_or_error
                    policy = load_policy(change)
                    options = ScanOptions(stages=stages_for(policy), offline=offline,
                                          output_dir=output_dir / "branches" / slug(name), cache=cache)
                    ready.append((name, change, policy, options, plan(change, policy, options)))
                except Exception as exc:  # noqa: BLE001 - one bad branch never stops the night
                    outcomes.append(_error(name, exc))
                    _tell(on_branch, name, "error", len(outcomes), total)
            results = run_plans([r[4] for r in ready], on_event=on_event, workers=workers)
            for (name, change, policy, options, p), res in zip(ready, results, strict=True):
                try:
                    report = assemble(change, policy, options, p, res)
                    files = write_reports(output_dir, name, report)
                    outcomes.append(BranchOutcome(
                        name, report.gate.verdict, change.head or "", change.base or "",
                        error="; ".join(report.gate.reasons)[:500] if report.gate.verdict == "error" else "",
                        findings=open_findings(report), reports=files,
                    ))
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(_error(name, exc))
                _tell(on_branch, name, outcomes[-1].verdict, len(outcomes), total)
    return sorted(outcomes, key=lambda o: o.branch)


def _open_changes(
    stack: ExitStack, repo: Path, base: str, refs: Sequence[str], full_base: bool | None
) -> list[Change | Exception]:
    """Each branch's Change (or why it could not be opened), a few at a time: intake is mostly waiting on git,
    so two or more branches' git calls overlap. Every opened Change is closed by the stack."""

    def one(ref: str) -> tuple[AbstractContextManager[Change], Change]:
        cm = open_change(repo, base=base, head=ref, full_base=full_base)
        return cm, cm.__enter__()

    with ThreadPoolExecutor(max_workers=INTAKE_WORKERS, thread_name_prefix="airlock-intake") as pool:
        futures = [pool.submit(one, ref) for ref in refs]
        wait(futures)
    out: list[Change | Exception] = []
    fatal: BaseException | None = None
    for f in futures:  # registered in branch order, whatever order they finished in
        exc = f.exception()
        if exc is None:
            cm, change = f.result()
            stack.push(cm.__exit__)
            out.append(change)
        elif isinstance(exc, Exception):
            out.append(exc)
        else:
            fatal = fatal or exc
    if fatal is not None:
        raise fatal  # KeyboardInterrupt and the like stop the night, once every opened Change is on the stack
    return out


def _tell(cb: BranchCallback | None, name: str, verdict: str, index: int, total: int) -> None:
    if cb is None:
        return
    try:
        cb(name, verdict, index, total)
    except Exception:  # noqa: BLE001, S110 - a display problem never changes the night's outcome
        pass
