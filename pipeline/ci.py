"""`airlock ci`: one command for a pull or merge request.

It takes the base from the CI (pipeline/ci_env.py) or --base, proves the merge base is in the clone, deepening a
shallow one (pipeline/ci_history.py), scans the change as `airlock scan --base` would, and writes every report into
one directory. On GitHub Actions it also writes the step summary and `::error` annotations.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path

from airlock.pipeline import ci_env, ci_history, proc
from airlock.pipeline.change import open_change
from airlock.pipeline.cli import (
    _incomplete,
    _load_policy,
    _progress,
    _stages,
    _write,
    _write_sarif,
    cache_from_args,
)
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import Git
from airlock.pipeline.models import Report
from airlock.pipeline.policy import load_config_file
from airlock.pipeline.scan import ScanOptions, scan
from airlock.reports.registry import writer_for

# What lands in --output-dir. SARIF gets a directory of its own: github/codeql-action/upload-sarif takes it whole.
SARIF_DIR = "sarif"
SARIF_FILE = "airlock.sarif"
FILES = {
    "json": "report.json",
    "html": "report.html",
    "markdown": "report.md",
    "junit": "junit.xml",
    "gitlab-sast": "gl-sast-report.json",
}
MAX_SUMMARY_BYTES = 1024 * 1024  # GitHub's limit for one step's summary


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def link_base(report: Report, env: dict[str, str]) -> str | None:
    """Where Markdown links point: the scanned head on GitHub or GitLab."""
    sha = report.target.head if report.target.head and len(report.target.head) in (40, 64) else None
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    if server and repo and (sha or env.get("GITHUB_SHA")):
        return f"{server.rstrip('/')}/{repo}/blob/{sha or env['GITHUB_SHA']}"
    project = env.get("CI_PROJECT_URL")
    if project and (sha or env.get("CI_COMMIT_SHA")):
        return f"{project.rstrip('/')}/-/blob/{sha or env['CI_COMMIT_SHA']}"
    return None


def _root(path: Path) -> Path:
    top = Git.toplevel(path.resolve()) if path.is_dir() else None
    if top is None:
        raise UsageError(f"{path} is not a git checkout: run airlock ci from the repository root")
    return top


def cmd_ci(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    root = _root(Path(args.path))
    out = Path(args.output_dir)
    notes: list[str] = []
    base: str | None = None
    if args.full:
        if args.base:
            raise UsageError("--full and --base exclude each other: scan the whole tree or the change, not both")
        notes.append("airlock ci --full: the whole tree was scanned, not a change")
    else:
        named = ci_env.detect(env, args.base)
        resolved = ci_history.resolve(root, named, remote=args.remote, allow_fetch=not args.offline, log=_log)
        base = resolved.base
        line = f"base: {named.describe()} -> merge base {resolved.base[:12]}, head {resolved.head[:12]}"
        if resolved.fetches:
            line += f" ({resolved.fetches} fetch(es) to complete the shallow clone)"
        notes.append(line)
        _log(f"airlock: {line}")
    # A base checkout for [runtime] compare_base: --config decides when given, else the base's own policy.
    full_base = load_config_file(args.config).runtime.compare_base if args.config else None
    with open_change(root, base=base, full_base=full_base) as change:
        where = "from the base revision" if change.mode == "diff" else ""
        policy = _load_policy(args, change.policy_dir or change.root, change.root, where)
        display, on_event = _progress(True)
        options = ScanOptions(
            stages=_stages(args.stages, policy),
            offline=args.offline,
            output_dir=out.resolve(),
            on_event=on_event,
            anchor_fallback=ci_env.workflow_file(env),
            cache=cache_from_args(args),
        )
        with display:
            report = scan(change, policy, options)
    report = replace(report, notes=(*notes, *report.notes))
    reason = proc.cancelled()
    if reason is not None:
        report = _incomplete(report, reason)
    write_outputs(report, out, env)
    return report.gate.exit_code


def write_outputs(report: Report, out: Path, env: dict[str, str]) -> None:
    sarif = _write_sarif(out / SARIF_DIR / SARIF_FILE, report, {})
    if len(sarif) > 1:
        names = ", ".join(p.name for p in sarif)
        note = f"SARIF exceeded GitHub's upload limits and was split into {len(sarif)} files: {names}"
        report = replace(report, notes=(*report.notes, note))
    links = link_base(report, env)
    for fmt, name in FILES.items():
        _write(out / name, writer_for(fmt, link_base=links).render(report))
    github = ci_env.provider(env) == "github"
    text = writer_for("text").render(report)
    if github:
        text += writer_for("github").render(report)  # workflow commands are read from stdout
        _step_summary(env, writer_for("markdown", link_base=links).render(report))
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        with contextlib.suppress(OSError):
            _log(f"airlock: cannot write the report to stdout: {exc.strerror}")
    _log(f"airlock: reports written to {out}/ ({SARIF_DIR}/{SARIF_FILE}, {', '.join(FILES.values())})")


def _step_summary(env: dict[str, str], markdown: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY: needs no token, so it works on pull requests from forks too."""
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    data = markdown.encode("utf-8")[:MAX_SUMMARY_BYTES].decode("utf-8", errors="ignore")
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(data + "\n")
    except OSError as exc:
        _log(f"airlock: cannot write the step summary {path}: {exc.strerror}")
