"""Assignment versions are checked before they take submissions: status, check report, check job.

Versions stored before this revision had no check run by the service; they stay `published` so that
nothing that took submissions stops taking them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignment_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="published"))
        batch_op.add_column(sa.Column("status_detail", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("check_report", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_job_id", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_assignment_versions_status"), ["status"], unique=False)
    # The defaults were for the rows already there; new rows always say their status.
    with op.batch_alter_table("assignment_versions", schema=None) as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.alter_column("status_detail", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("assignment_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_versions_status"))
        batch_op.drop_column("check_job_id")
        batch_op.drop_column("checked_at")
        batch_op.drop_column("check_report")
        batch_op.drop_column("status_detail")
        batch_op.drop_column("status")
