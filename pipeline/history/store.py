"""Open the history database (migrating it to the current schema), record a run, answer questions about it.

Writers are serialised: SQLite transactions begin IMMEDIATE (a second writer waits for the lock instead of
failing on upgrade), PostgreSQL ones take a transaction-scoped advisory lock. Two nightlies recording at once
therefore each see the other's run complete or not at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from airlock.pipeline.errors import UsageError
from airlock.pipeline.history.models import Branch, BranchFinding, BranchResult, Finding, Repository, Run

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x41_49_52_4C  # "AIRL": the advisory lock every airlock writer takes on PostgreSQL
_FP = re.compile(r"^[0-9a-f]{4,128}$")


@dataclass(frozen=True)
class FindingRecord:
    fingerprint: str
    rule_id: str
    severity: str
    path: str
    line: int = 0
    title: str = ""


@dataclass(frozen=True)
class BranchRecord:
    name: str
    verdict: str  # passed, failed, error
    head: str = ""
    base: str = ""
    error: str = ""
    findings: tuple[FindingRecord, ...] = ()


@dataclass(frozen=True)
class BranchDelta:
    new: tuple[str, ...]  # fingerprints the branch carries now and did not at its previous recorded result
    fixed: tuple[str, ...]  # the other way round
    previous: bool  # whether there was a previous result to compare with


@dataclass(frozen=True)
class RunDelta:
    run_id: int
    previous_at: str | None  # the previous run of this repository, ISO 8601, or None for the first
    branches: dict[str, BranchDelta]
    added: tuple[str, ...]  # branches in this run, not in the previous one
    gone: tuple[str, ...]  # the other way round
    fixed_info: dict[str, FindingRecord] = field(default_factory=dict)  # what the fixed fingerprints were


@dataclass(frozen=True)
class NightCount:
    run_id: int
    started_at: str
    label: str
    branches: int
    failed: int
    errored: int
    findings: int  # open findings summed over the branches
    new: int
    fixed: int


def default_url(output_dir: Path) -> str:
    return f"sqlite:///{output_dir.resolve() / 'history.db'}"


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def _engine(url: str) -> Engine:
    try:
        u = make_url(url)
    except ArgumentError:
        raise UsageError("--history-db: not a database URL; use sqlite:///PATH or postgresql://USER@HOST/DB") from None
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 300})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below, not pysqlite's deferred one

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if u.get_backend_name() == "postgresql":
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")  # psycopg 3, a dependency; psycopg2 is not
        return create_engine(u, pool_pre_ping=True)
    raise UsageError(f"--history-db {_safe(url)}: only sqlite:/// and postgresql:// are supported")


HEAD_REVISION = "0001"  # the newest migration in migrations/versions (a test holds the two together)


class History:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        try:
            self._migrate()
        except SQLAlchemyError as exc:
            self.engine.dispose()
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            raise UsageError(f"cannot open the history database {_safe(url)}: {first}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _current(self) -> bool:
        """The schema is already at HEAD_REVISION: alembic (a third of a second to load) is not needed."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD_REVISION]
        except SQLAlchemyError:
            return False  # a new database: migrate

    def _migrate(self) -> None:
        if self._current():
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with Session(self.engine) as s, s.begin():
            if self.engine.dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            yield s

    # --- writing ---

    def record(
        self, repo: str, started_at: dt.datetime, branches: Sequence[BranchRecord], *, label: str = "",
        version: str = "",
    ) -> RunDelta:
        try:
            with self._tx() as s:
                return self._record(s, repo, started_at, branches, label, version)
        except SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            raise UsageError(f"cannot record the run in {_safe(self.url)}: {first}") from None

    def _record(
        self, s: Session, repo: str, started_at: dt.datetime, branches: Sequence[BranchRecord], label: str,
        version: str,
    ) -> RunDelta:
        repo_row = s.scalar(select(Repository).where(Repository.name == repo))
        if repo_row is None:
            repo_row = Repository(name=repo)
            s.add(repo_row)
            s.flush()
        prev = s.scalar(select(Run).where(Run.repository_id == repo_row.id).order_by(Run.id.desc()).limit(1))
        run = Run(repository_id=repo_row.id, started_at=started_at, label=label, airlock_version=version)
        s.add(run)
        s.flush()
        prev_names: set[str] = set()
        if prev is not None:
            prev_names = set(
                s.scalars(
                    select(Branch.name).join(BranchResult, BranchResult.branch_id == Branch.id)
                    .where(BranchResult.run_id == prev.id)
                )
            )
        deltas: dict[str, BranchDelta] = {}
        fixed_ids: set[str] = set()
        for b in sorted(branches, key=lambda x: x.name):
            br = s.scalar(select(Branch).where(Branch.repository_id == repo_row.id, Branch.name == b.name))
            if br is None:
                br = Branch(repository_id=repo_row.id, name=b.name)
                s.add(br)
                s.flush()
            last = s.scalar(
                select(BranchResult)
                .where(BranchResult.branch_id == br.id, BranchResult.verdict != "error", BranchResult.run_id != run.id)
                .order_by(BranchResult.run_id.desc())
                .limit(1)
            )
            before = set(self._fingerprints(s, last.id)) if last is not None else set()
            now = {f.fingerprint for f in b.findings}
            if b.verdict == "error":
                delta = BranchDelta((), (), last is not None)
            else:
                delta = BranchDelta(tuple(sorted(now - before)), tuple(sorted(before - now)), last is not None)
            fixed_ids.update(delta.fixed)
            deltas[b.name] = delta
            result = BranchResult(
                run_id=run.id, branch_id=br.id, verdict=b.verdict, head=b.head, base=b.base, error=b.error[:4000],
                new_count=len(delta.new), fixed_count=len(delta.fixed),
            )
            s.add(result)
            s.flush()
            rows = self._finding_rows(s, repo_row.id, run.id, br.id, b.findings)
            lines: dict[int, int] = {}
            for f in b.findings:
                lines.setdefault(rows[f.fingerprint].id, f.line)
            s.add_all(BranchFinding(branch_result_id=result.id, finding_id=fid, line=ln) for fid, ln in lines.items())
        names = {b.name for b in branches}
        info = {}
        if fixed_ids:
            for row in self._by_fingerprint(s, repo_row.id, fixed_ids).values():
                info[row.fingerprint] = FindingRecord(row.fingerprint, row.rule_id, row.severity, row.path, 0,
                                                      row.title)
        return RunDelta(
            run_id=run.id,
            previous_at=_iso(prev.started_at) if prev is not None else None,
            branches=deltas,
            added=tuple(sorted(names - prev_names)) if prev is not None else (),
            gone=tuple(sorted(prev_names - names)),
            fixed_info=info,
        )

    @staticmethod
    def _fingerprints(s: Session, result_id: int) -> list[str]:
        return list(
            s.scalars(
                select(Finding.fingerprint).join(BranchFinding, BranchFinding.finding_id == Finding.id)
                .where(BranchFinding.branch_result_id == result_id)
            )
        )

    @staticmethod
    def _by_fingerprint(s: Session, repo_id: int, fps: set[str]) -> dict[str, Finding]:
        out: dict[str, Finding] = {}
        ordered = sorted(fps)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            for row in s.scalars(
                select(Finding).where(Finding.repository_id == repo_id, Finding.fingerprint.in_(chunk))
            ):
                out[row.fingerprint] = row
        return out

    def _finding_rows(
        self, s: Session, repo_id: int, run_id: int, branch_id: int, findings: Sequence[FindingRecord]
    ) -> dict[str, Finding]:
        rows = self._by_fingerprint(s, repo_id, {f.fingerprint for f in findings})
        for f in findings:
            if f.fingerprint not in rows:
                row = Finding(
                    repository_id=repo_id, fingerprint=f.fingerprint, rule_id=f.rule_id, severity=f.severity,
                    path=f.path, title=f.title, first_run_id=run_id, first_branch_id=branch_id,
                )
                s.add(row)
                rows[f.fingerprint] = row
        s.flush()
        return rows

    # --- reading ---

    def repositories(self) -> list[str]:
        with self._tx() as s:
            return list(s.scalars(select(Repository.name).order_by(Repository.name)))

    def counts(self, repo: str, limit: int = 60) -> list[NightCount]:
        """The last `limit` runs of repo, oldest first."""
        with self._tx() as s:
            repo_id = s.scalar(select(Repository.id).where(Repository.name == repo))
            if repo_id is None:
                return []
            runs = list(
                s.scalars(select(Run).where(Run.repository_id == repo_id).order_by(Run.id.desc()).limit(limit))
            )
            out = []
            for run in reversed(runs):
                results = list(s.scalars(select(BranchResult).where(BranchResult.run_id == run.id)))
                n_findings = s.scalar(
                    select(func.count()).select_from(BranchFinding)
                    .join(BranchResult, BranchResult.id == BranchFinding.branch_result_id)
                    .where(BranchResult.run_id == run.id)
                ) or 0
                out.append(NightCount(
                    run.id, _iso(run.started_at), run.label, len(results),
                    sum(r.verdict == "failed" for r in results), sum(r.verdict == "error" for r in results),
                    int(n_findings), sum(r.new_count for r in results), sum(r.fixed_count for r in results),
                ))
            return out

    def first_seen(self, fingerprint: str) -> list[dict[str, str]]:
        """Where each finding whose fingerprint starts with `fingerprint` first appeared."""
        prefix = _fingerprint_arg(fingerprint)
        with self._tx() as s:
            q = (
                select(Finding, Run, Branch, Repository)
                .join(Run, Run.id == Finding.first_run_id)
                .join(Branch, Branch.id == Finding.first_branch_id)
                .join(Repository, Repository.id == Finding.repository_id)
                .where(Finding.fingerprint.startswith(prefix))
                .order_by(Repository.name, Finding.fingerprint)
            )
            return [
                {"repository": repo.name, "fingerprint": f.fingerprint, "rule_id": f.rule_id, "severity": f.severity,
                 "path": f.path, "first_seen": _iso(run.started_at), "run": str(run.id), "branch": br.name}
                for f, run, br, repo in s.execute(q)
            ]

    def carriers(self, fingerprint: str) -> list[dict[str, str]]:
        """Every branch that carried the finding, with the last run it did and whether the latest run still saw it."""
        prefix = _fingerprint_arg(fingerprint)
        with self._tx() as s:
            q = (
                select(Repository.name, Finding.fingerprint, Branch.name, func.max(Run.id))
                .select_from(BranchFinding)
                .join(Finding, Finding.id == BranchFinding.finding_id)
                .join(BranchResult, BranchResult.id == BranchFinding.branch_result_id)
                .join(Branch, Branch.id == BranchResult.branch_id)
                .join(Run, Run.id == BranchResult.run_id)
                .join(Repository, Repository.id == Finding.repository_id)
                .where(Finding.fingerprint.startswith(prefix))
                .group_by(Repository.name, Finding.fingerprint, Branch.name)
                .order_by(Repository.name, Finding.fingerprint, Branch.name)
            )
            out = []
            for repo, fp, branch, last_run in s.execute(q).all():
                latest = s.scalar(
                    select(func.max(Run.id)).join(Repository, Repository.id == Run.repository_id)
                    .where(Repository.name == repo)
                )
                when = s.scalar(select(Run.started_at).where(Run.id == last_run))
                out.append({"repository": repo, "fingerprint": fp, "branch": branch,
                            "last_seen": _iso(when) if when else "", "current": "yes" if last_run == latest else "no"})
            return out


def _fingerprint_arg(text: str) -> str:
    t = text.strip().lower()
    if not _FP.match(t):
        raise UsageError(f"{text!r} is not a fingerprint; give at least 4 hex digits of one (from a report)")
    return t


def _iso(when: dt.datetime) -> str:
    if when.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat()
