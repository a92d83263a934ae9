"""After the branches: record the run in the history, then write nightly.json and the dashboard from it.

`nightly merge` ends here too, with the branch outcomes of every shard: so one night's result is the same
whether it ran in one job or in N.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airlock.pipeline import __version__
from airlock.pipeline.errors import UsageError
from airlock.pipeline.history.store import BranchRecord, FindingRecord, History, NightCount
from airlock.pipeline.models import Severity
from airlock.pipeline.nightly import REPORT_FILES, BranchOutcome, OpenFinding, slug, write_atomic
from airlock.reports.dashboard import render_dashboard

SCHEMA_VERSION = 1
SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]
MAX_NIGHTLY_JSON = 256 * 1024 * 1024


def exit_code(outcomes: Sequence[BranchOutcome]) -> int:
    if any(o.verdict == "error" for o in outcomes):
        return 2
    return 1 if any(o.verdict == "failed" for o in outcomes) else 0


def _records(outcomes: Sequence[BranchOutcome]) -> list[BranchRecord]:
    return [
        BranchRecord(
            o.branch, o.verdict, o.head, o.base, o.error,
            tuple(FindingRecord(f.fingerprint, f.rule_id, f.severity, f.path, f.line, f.title) for f in o.findings),
        )
        for o in outcomes
    ]


def _finding(f: OpenFinding) -> dict[str, Any]:
    return {"fingerprint": f.fingerprint, "rule_id": f.rule_id, "severity": f.severity, "path": f.path,
            "line": f.line, "title": f.title, "message": f.message}


def summarize(
    output_dir: Path,
    *,
    repository: str,
    default_branch: str,
    started_at: dt.datetime,
    outcomes: Sequence[BranchOutcome],
    history_url: str,
    shard: str | None,
) -> dict[str, Any]:
    """Record the run, write nightly.json and dashboard.html under output_dir; return the nightly document."""
    with History(history_url) as history:
        delta = history.record(repository, started_at, _records(outcomes), label=shard or "", version=__version__)
        trends: dict[str, list[NightCount]] = {repo: history.counts(repo) for repo in history.repositories()}
    branches = []
    for o in outcomes:
        d = delta.branches[o.branch]
        new = set(d.new)
        by_sev = {s: 0 for s in SEVERITIES}
        for f in o.findings:
            by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
        branches.append({
            "branch": o.branch,
            "verdict": o.verdict,
            "new": len(d.new),
            "fixed": len(d.fixed),
            "error": o.error or None,
            "head": o.head,
            "base": o.base,
            "first_run": not d.previous,
            "by_severity": by_sev,
            "reports": dict(o.reports),
            "findings": [dict(_finding(f), new_since_last_run=f.fingerprint in new) for f in o.findings],
            "fixed_findings": [
                {"fingerprint": fp, **({k: v for k, v in vars(delta.fixed_info[fp]).items()
                                        if k in ("rule_id", "severity", "path", "title")}
                                       if fp in delta.fixed_info else {})}
                for fp in d.fixed
            ],
        })
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "airlock_version": __version__,
        "repository": repository,
        "default_branch": default_branch,
        "started_at": started_at.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "shard": shard,
        "previous_run": delta.previous_at,
        "branches_added": list(delta.added),
        "branches_gone": list(delta.gone),
        "summary": {
            "branches": len(outcomes),
            "passed": sum(o.verdict == "passed" for o in outcomes),
            "failed": sum(o.verdict == "failed" for o in outcomes),
            "error": sum(o.verdict == "error" for o in outcomes),
            "new": sum(b["new"] for b in branches),
            "fixed": sum(b["fixed"] for b in branches),
            "exit_code": exit_code(outcomes),
        },
        "branches": branches,
    }
    write_atomic(output_dir / "nightly.json", json.dumps(doc, indent=2, ensure_ascii=True) + "\n")
    write_atomic(output_dir / "dashboard.html", render_dashboard(doc, trends))
    return doc


def _load(dir_: Path) -> dict[str, Any]:
    path = dir_ / "nightly.json"
    try:
        if path.stat().st_size > MAX_NIGHTLY_JSON:
            raise UsageError(f"{path} is larger than {MAX_NIGHTLY_JSON} bytes; is it a nightly output?")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{dir_} has no nightly.json; name the --output-dir of each shard") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION or not isinstance(
        doc.get("branches"), list
    ):
        raise UsageError(f"{path} is not an airlock nightly.json (schema {SCHEMA_VERSION})")
    return doc


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _outcome(entry: dict[str, Any]) -> BranchOutcome:
    findings = tuple(
        OpenFinding(_str(f.get("fingerprint")), _str(f.get("rule_id")), _str(f.get("severity")), _str(f.get("path")),
                    _int(f.get("line")), _str(f.get("title")),
                    _str(f.get("message")))
        for f in entry.get("findings") or []
        if isinstance(f, dict)
    )
    branch = _str(entry.get("branch"))
    verdict = _str(entry.get("verdict"))
    # Report links are rebuilt, never taken from the file: a shard's JSON cannot point the dashboard elsewhere.
    listed = entry.get("reports") if isinstance(entry.get("reports"), dict) else {}
    reports = {fmt: f"branches/{slug(branch)}/{name}" for fmt, name in REPORT_FILES if fmt in (listed or {})}
    return BranchOutcome(
        branch, verdict if verdict in ("passed", "failed", "error") else "error", _str(entry.get("head")),
        _str(entry.get("base")), _str(entry.get("error")), findings, reports,
    )


def merge_shards(dirs: Sequence[Path], output_dir: Path, history_url: str) -> dict[str, Any]:
    """Fold shard outputs into one: their branch report dirs copied, one nightly.json, dashboard, history run."""
    docs = [(d, _load(d)) for d in dirs]
    repos = {doc.get("repository") for _d, doc in docs}
    if len(repos) != 1:
        raise UsageError(f"the shards scanned different repositories ({', '.join(sorted(map(str, repos)))})")
    defaults = {doc.get("default_branch") for _d, doc in docs}
    outcomes: dict[str, BranchOutcome] = {}
    for d, doc in docs:
        for entry in doc["branches"]:
            o = _outcome(entry if isinstance(entry, dict) else {})
            if not o.branch:
                continue
            if o.branch in outcomes:
                raise UsageError(f"branch {o.branch!r} is in two shards; run each shard with its own K of the same N")
            outcomes[o.branch] = o
            src = d / "branches" / slug(o.branch)
            if src.is_dir() and not src.is_symlink() and d.resolve() != output_dir.resolve():
                dest = output_dir / "branches" / slug(o.branch)
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(src, dest, symlinks=True)
    starts = sorted(_str(doc.get("started_at")) for _d, doc in docs if _str(doc.get("started_at")))
    try:
        started = dt.datetime.fromisoformat(starts[0]) if starts else dt.datetime.now(dt.timezone.utc)
    except ValueError:
        started = dt.datetime.now(dt.timezone.utc)
    return summarize(
        output_dir,
        repository=str(repos.pop()),
        default_branch=str(defaults.pop()) if len(defaults) == 1 else "",
        started_at=started,
        outcomes=[outcomes[k] for k in sorted(outcomes)],
        history_url=history_url,
        shard=None,
    )
