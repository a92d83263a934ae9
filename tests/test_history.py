"""The nightly history, the same tests against SQLite and against a real PostgreSQL server started here."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from airlock.pipeline.errors import UsageError
from airlock.pipeline.history.store import BranchRecord, FindingRecord, History
from tests.pg_server import ServerUnavailable, postgres_server

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.timezone.utc)
A = FindingRecord("aa11" * 8, "B602", "high", "pkg/a.py", 10, "shell")
B = FindingRecord("bb22" * 8, "B404", "low", "pkg/a.py", 1, "import")
C = FindingRecord("cc33" * 8, "airlock.python.eval", "medium", "pkg/c.py", 4, "eval")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except ServerUnavailable as exc:
        pytest.skip(f"LOUD: PostgreSQL could not start, the PostgreSQL history tests did not run: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'history.db'}"
        return
    base = request.getfixturevalue("pg_url")
    # One fresh schema per test: drop everything the previous test left.
    engine = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield base


def test_migrations_create_every_table_and_are_idempotent(url: str) -> None:
    History(url).close()
    with History(url) as h:  # a second open finds the schema at head and changes nothing
        names = set(inspect(h.engine).get_table_names())
        with h.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert {"repositories", "runs", "branches", "findings", "branch_results", "branch_findings",
            "alembic_version"} <= names
    assert version == "0001"


def test_the_fast_schema_check_knows_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from airlock.pipeline.history.store import HEAD_REVISION, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_new_and_fixed_between_nights_and_the_questions(url: str) -> None:
    with History(url) as h:
        d1 = h.record("repo", T0, [BranchRecord("agent/a", "failed", "h1", "b1", findings=(A, B)),
                                   BranchRecord("agent/b", "passed", "h2", "b1")])
        assert d1.previous_at is None and d1.added == () and d1.gone == ()
        assert d1.branches["agent/a"].new == tuple(sorted((A.fingerprint, B.fingerprint)))
        # Night 2: a fixes A, b adds C, c appears, nothing goes.
        d2 = h.record("repo", T0 + dt.timedelta(days=1), [
            BranchRecord("agent/a", "failed", findings=(B,)),
            BranchRecord("agent/b", "failed", findings=(C,)),
            BranchRecord("agent/c", "failed", findings=(A,)),
        ])
        assert d2.previous_at == "2026-03-01T02:00:00+00:00"
        assert d2.branches["agent/a"].new == () and d2.branches["agent/a"].fixed == (A.fingerprint,)
        assert d2.branches["agent/b"].new == (C.fingerprint,) and d2.branches["agent/b"].fixed == ()
        assert d2.branches["agent/c"].new == (A.fingerprint,) and not d2.branches["agent/c"].previous
        assert d2.added == ("agent/c",) and d2.gone == ()
        assert d2.fixed_info[A.fingerprint].rule_id == "B602"
        # Night 3: b errors (compared with nothing, and its last good result stays the reference), c is gone.
        d3 = h.record("repo", T0 + dt.timedelta(days=2), [
            BranchRecord("agent/a", "failed", findings=(B,)),
            BranchRecord("agent/b", "error", error="git failed"),
        ])
        assert d3.gone == ("agent/c",) and d3.branches["agent/b"].new == () == d3.branches["agent/b"].fixed
        d4 = h.record("repo", T0 + dt.timedelta(days=3), [BranchRecord("agent/b", "failed", findings=(C,))])
        assert d4.branches["agent/b"].new == () and d4.branches["agent/b"].fixed == ()

        first = h.first_seen(A.fingerprint[:8])
        assert [(r["branch"], r["first_seen"], r["rule_id"]) for r in first] == [
            ("agent/a", "2026-03-01T02:00:00+00:00", "B602")]
        carriers = {r["branch"]: r["current"] for r in h.carriers(A.fingerprint)}
        assert carriers == {"agent/a": "no", "agent/c": "no"}
        assert {r["branch"]: r["current"] for r in h.carriers(C.fingerprint)} == {"agent/b": "yes"}
        counts = h.counts("repo")
        assert [(c.branches, c.failed, c.errored, c.findings, c.new, c.fixed) for c in counts] == [
            (2, 1, 0, 2, 2, 0), (3, 3, 0, 3, 2, 1), (2, 1, 1, 1, 0, 0), (1, 1, 0, 1, 0, 0)]
        assert h.repositories() == ["repo"]
        with pytest.raises(UsageError, match="not a fingerprint"):
            h.first_seen("'; drop table runs; --")


def test_repositories_are_kept_apart(url: str) -> None:
    with History(url) as h:
        h.record("one", T0, [BranchRecord("agent/a", "failed", findings=(A,))])
        d = h.record("two", T0, [BranchRecord("agent/a", "failed", findings=(A,))])
        assert d.previous_at is None and d.branches["agent/a"].new == (A.fingerprint,)
        assert sorted(r["repository"] for r in h.first_seen(A.fingerprint)) == ["one", "two"]


def test_concurrent_writers_serialise(url: str) -> None:
    """Eight runs recorded at once from threads with their own connections: every run lands whole."""
    History(url).close()
    errors: list[BaseException] = []

    def night(i: int) -> None:
        try:
            with History(url) as h:
                h.record("repo", T0 + dt.timedelta(hours=i),
                         [BranchRecord(f"agent/{j}", "failed", findings=(A, B, C)) for j in range(5)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=night, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with History(url) as h:
        counts = h.counts("repo")
    assert len(counts) == 8 and all(c.branches == 5 and c.findings == 15 for c in counts)
    # Exactly one run saw no predecessor: the writers never overlapped.
    assert sorted(c.new for c in counts) == [0] * 7 + [15]


def test_bad_urls_are_one_line_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="only sqlite:/// and postgresql://"):
        History("mysql://u@h/db")
    with pytest.raises(UsageError, match="not a database URL"):
        History("not a url")
    with pytest.raises(UsageError, match=r"cannot open the history database postgresql://u:\*\*\*@") as err:
        History(f"postgresql://u:secret@/nodb?host={tmp_path}")
    assert "secret" not in str(err.value) and "\n" not in str(err.value)
