"""The first history schema: repositories, runs, branches, findings, branch results and their findings.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(512), nullable=False, unique=True),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("airlock_version", sa.String(64), nullable=False),
    )
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), nullable=False, index=True),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.UniqueConstraint("repository_id", "name"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey("repositories.id"), nullable=False, index=True),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("first_run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("first_branch_id", sa.Integer, sa.ForeignKey("branches.id"), nullable=False),
        sa.UniqueConstraint("repository_id", "fingerprint"),
    )
    op.create_table(
        "branch_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("branch_id", sa.Integer, sa.ForeignKey("branches.id"), nullable=False, index=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("base", sa.String(64), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("new_count", sa.Integer, nullable=False),
        sa.Column("fixed_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("run_id", "branch_id"),
    )
    op.create_table(
        "branch_findings",
        sa.Column("branch_result_id", sa.Integer, sa.ForeignKey("branch_results.id"), primary_key=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id"), primary_key=True, index=True),
        sa.Column("line", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("branch_findings", "branch_results", "findings", "branches", "runs", "repositories"):
        op.drop_table(table)
