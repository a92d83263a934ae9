"""`airlock nightly`, `airlock nightly merge` and `airlock history`: argument wiring for the nightly modules."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from airlock.pipeline import shard as shard_mod
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import Git
from airlock.pipeline.history.store import History, default_url
from airlock.pipeline.models import Change, Severity
from airlock.pipeline.nightly import list_branches, run_nightly
from airlock.pipeline.nightly_summary import exit_code, merge_shards, summarize
from airlock.pipeline.policy import Policy
from airlock.reports.escape import clean
from airlock.reports.nightly_progress import NightlyProgress

DEFAULT_OUTPUT = Path("airlock-nightly")


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    n = sub.add_parser(
        "nightly",
        help="scan every matching branch against its merge base; dashboard, history, shards",
        description="Scan every branch matching --branches against its merge base with the default branch. "
        "Exit 0 if all passed, 1 if any failed, 2 if any errored.",
    )
    n.add_argument("--repo", metavar="PATH", type=Path, default=Path("."), help="the git repository (default: .)")
    n.add_argument("--branches", metavar="GLOB", help="branch name pattern, e.g. 'agent/*'")
    n.add_argument("--default-branch", metavar="REF", default="main", help="what branches merge into (default: main)")
    n.add_argument("--stages", metavar="LIST", help="comma-separated stages (default: each branch's base policy)")
    n.add_argument("--config", metavar="FILE", type=Path, help="an airlock.toml to use instead of the repo's")
    n.add_argument("--fail-on", metavar="SEVERITY", help="override the policy's [gate] fail_on")
    n.add_argument("--offline", action="store_true", help="nothing may touch the network")
    n.add_argument("--output-dir", metavar="DIR", type=Path, default=DEFAULT_OUTPUT,
                   help=f"reports, nightly.json, dashboard.html (default: {DEFAULT_OUTPUT}/)")
    n.add_argument("--history-db", metavar="URL", help="sqlite:///PATH or postgresql://... "
                   "(default: sqlite:///<output-dir>/history.db)")
    n.add_argument("--shard", metavar="K/N", help="scan slice K of N (default: JOB_COMPLETION_INDEX/JOB_COMPLETIONS "
                   "or CI_NODE_INDEX/CI_NODE_TOTAL when set)")
    n.add_argument("--repo-name", metavar="NAME", help="the repository's name in the history (default: the "
                   "repository directory's name)")
    n.add_argument("--jobs", metavar="N", type=int, help="tools run at once outside the shared runs (default: CPUs)")
    from airlock.pipeline.cli import add_cache_options

    add_cache_options(n)
    nsub = n.add_subparsers(dest="nightly_command", parser_class=parser_class)
    m = nsub.add_parser("merge", help="fold shard output dirs into one dashboard, nightly.json and history",
                        description="Fold the --output-dir of every shard into one.")
    m.add_argument("dirs", metavar="DIR", nargs="+", type=Path, help="each shard's output dir")
    m.add_argument("--output-dir", dest="merge_output", metavar="DIR", type=Path, required=True)
    m.add_argument("--history-db", dest="merge_history", metavar="URL",
                   help="default: sqlite:///<output-dir>/history.db")

    h = sub.add_parser("history", help="ask the nightly history", description="Questions to the nightly history.")
    hsub = h.add_subparsers(dest="history_command", parser_class=parser_class)
    for name, helptext in (("first-seen", "when (and on which branch) a finding first appeared"),
                           ("branches", "which branches carry a finding"),
                           ("counts", "the counts per night")):
        q = hsub.add_parser(name, help=helptext, description=helptext)
        if name != "counts":
            q.add_argument("fingerprint", help="a finding's fingerprint, or its first 4+ hex digits")
        else:
            q.add_argument("--repository", metavar="NAME", help="default: every repository in the history")
        q.add_argument("--history-db", metavar="URL", help="default: sqlite:///<output-dir>/history.db")
        q.add_argument("--output-dir", metavar="DIR", type=Path, default=DEFAULT_OUTPUT)
        q.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _policy_loader(args: argparse.Namespace) -> Any:
    from airlock.pipeline.cli import _load_policy

    def load(change: Change) -> Policy:
        return _load_policy(args, change.policy_dir or change.root, change.root, "from the base revision")

    return load


def cmd_nightly(args: argparse.Namespace) -> int:
    from airlock.pipeline.cli import _stages, cache_from_args
    from airlock.pipeline.policy import load_config_file

    if args.nightly_command == "merge":
        target: Path = args.merge_output
        merged = merge_shards(args.dirs, target, args.merge_history or default_url(target))
        print(f"airlock nightly: merged {len(args.dirs)} shard(s), {merged['summary']['branches']} branches "
              f"into {target}", file=sys.stderr)
        return int(merged["summary"]["exit_code"])
    if not args.branches:
        raise UsageError("nightly needs --branches GLOB, e.g. --branches 'agent/*'")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be 1 or more")
    if args.stages is not None:
        _stages(args.stages, Policy())  # a bad list is a usage error before any branch runs
    if args.fail_on is not None:
        try:
            Severity.parse(args.fail_on)
        except ValueError as exc:
            raise UsageError(f"--fail-on: {exc}") from None
    if args.config is not None and not args.config.is_file():
        raise UsageError(f"--config {args.config}: no such file")
    part = shard_mod.resolve(args.shard, os.environ)
    repo = Git.toplevel(args.repo.resolve()) if args.repo.is_dir() else None
    if repo is None:
        raise UsageError(f"--repo {args.repo}: not a git repository")
    found = list_branches(repo, args.branches)
    picked = part.pick(list(found))
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    where = f" (shard {part.label})" if part.total > 1 else ""
    print(f"airlock nightly: {len(picked)} of {len(found)} branch(es) matching {clean(args.branches)}{where}",
          file=sys.stderr)
    with NightlyProgress(len(picked)) as progress:
        outcomes = run_nightly(
            repo,
            [(b, found[b]) for b in picked],
            args.default_branch,
            load_policy=_policy_loader(args),
            stages_for=lambda policy: _stages(args.stages, policy),
            offline=args.offline,
            output_dir=out,
            on_event=progress.on_event,
            on_branch=progress.on_branch,
            workers=args.jobs,
            cache=cache_from_args(args),
            full_base=load_config_file(args.config).runtime.compare_base if args.config else None,
        )
    doc = summarize(
        out,
        repository=args.repo_name or repo.name,
        default_branch=args.default_branch,
        started_at=started,
        outcomes=outcomes,
        history_url=args.history_db or default_url(out),
        shard=part.label if part.total > 1 else None,
    )
    s = doc["summary"]
    print(f"airlock nightly: {s['passed']} passed, {s['failed']} failed, {s['error']} error; {s['new']} new, "
          f"{s['fixed']} fixed since the previous run; {out / 'dashboard.html'}", file=sys.stderr)
    return exit_code(outcomes)


def cmd_history(args: argparse.Namespace) -> int:
    if args.history_command is None:
        raise UsageError("history needs a question: first-seen FINGERPRINT, branches FINGERPRINT or counts")
    url = args.history_db or default_url(args.output_dir)
    if url.startswith("sqlite:///") and not args.history_db and not (args.output_dir / "history.db").is_file():
        raise UsageError(f"no history at {args.output_dir / 'history.db'}; run airlock nightly first or give "
                         "--history-db")
    with History(url) as h:
        rows: list[dict[str, Any]]
        if args.history_command == "first-seen":
            rows = h.first_seen(args.fingerprint)
            cols = ["first_seen", "branch", "repository", "fingerprint", "severity", "rule_id", "path"]
        elif args.history_command == "branches":
            rows = h.carriers(args.fingerprint)
            cols = ["branch", "current", "last_seen", "repository", "fingerprint"]
        else:
            repos = [args.repository] if args.repository else h.repositories()
            rows = [dict(vars(c), repository=r) for r in repos for c in h.counts(r)]
            cols = ["repository", "started_at", "label", "branches", "failed", "errored", "findings", "new", "fixed"]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=True))
    else:
        _table(rows, cols)
    if not rows and args.history_command != "counts":
        print(f"airlock history: no finding with fingerprint {clean(args.fingerprint)}", file=sys.stderr)
        return 1
    return 0


def _table(rows: list[dict[str, Any]], cols: list[str]) -> None:
    cells = [[clean(str(r.get(c, ""))) for c in cols] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
