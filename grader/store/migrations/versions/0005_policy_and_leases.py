"""Submission policy under concurrency, worker leases and fault bookkeeping.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Worker leases (grader.jobs.lease).
    op.create_table(
        "leases",
        sa.Column("resource", sa.String(length=80), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource"),
    )
    op.create_index("ix_leases_expires_at", "leases", ["expires_at"], unique=False)
    # Submission policy under concurrency (grader.store.admission): unique attempt numbers, rate-count indexes.
    _renumber_repeated_attempts()
    op.create_index(
        "uq_submissions_attempt", "submissions", ["tenant_id", "assignment_id", "learner", "attempt"], unique=True
    )
    op.create_index("ix_submissions_learner_recent", "submissions", ["tenant_id", "learner", "created_at"], unique=False)
    op.create_index("ix_submissions_tenant_recent", "submissions", ["tenant_id", "created_at"], unique=False)


def _renumber_repeated_attempts() -> None:
    """Before the unique index: where concurrent requests once gave a learner one number twice, number
    that learner's submissions to that assignment again in the order they were made."""
    op.execute(
        """
        UPDATE submissions SET attempt = (
            SELECT numbered.n FROM (
                SELECT id, ROW_NUMBER() OVER (
                    PARTITION BY tenant_id, assignment_id, learner ORDER BY created_at, id
                ) AS n FROM submissions
            ) AS numbered WHERE numbered.id = submissions.id
        )
        WHERE (tenant_id, assignment_id, learner) IN (
            SELECT tenant_id, assignment_id, learner FROM submissions
            GROUP BY tenant_id, assignment_id, learner, attempt HAVING COUNT(*) > 1
        )
        """
    )


def downgrade() -> None:
    op.drop_index("ix_submissions_tenant_recent", table_name="submissions")
    op.drop_index("ix_submissions_learner_recent", table_name="submissions")
    op.drop_index("uq_submissions_attempt", table_name="submissions")
    # Worker leases.
    op.drop_index("ix_leases_expires_at", table_name="leases")
    op.drop_table("leases")
