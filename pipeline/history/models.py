"""The history's tables. A finding is its fingerprint within a repository; a run records each branch's result
and which findings that branch carried. Changes to these tables ship as an Alembic migration (migrations/)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Repository(Base):
    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(512), unique=True)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    label: Mapped[str] = mapped_column(String(64), default="")  # "1/3" for a shard, "" for a whole run
    airlock_version: Mapped[str] = mapped_column(String(64), default="")


class Branch(Base):
    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    name: Mapped[str] = mapped_column(String(1024))


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("repository_id", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(512))
    severity: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    first_run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    first_branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))


class BranchResult(Base):
    __tablename__ = "branch_results"
    __table_args__ = (UniqueConstraint("run_id", "branch_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    head: Mapped[str] = mapped_column(String(64), default="")
    base: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    fixed_count: Mapped[int] = mapped_column(Integer, default=0)


class BranchFinding(Base):
    __tablename__ = "branch_findings"
    branch_result_id: Mapped[int] = mapped_column(ForeignKey("branch_results.id"), primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True, index=True)
    line: Mapped[int] = mapped_column(Integer, default=0)
