"""LMS grade passback: the passback log and its audit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lti_passbacks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("resource_link_id", sa.String(length=32), nullable=False),
        sa.Column("lti_user_id", sa.String(length=32), nullable=False),
        sa.Column("assignment_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=False),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.Column("lineitem_url", sa.String(length=2048), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_revision", sa.Integer(), nullable=True),
        sa.Column("delivered_score_given", sa.Float(), nullable=True),
        sa.Column("delivered_score_maximum", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resource_link_id"], ["lti_resource_links.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lti_user_id"], ["lti_users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("resource_link_id", "lti_user_id"),
    )
    with op.batch_alter_table("lti_passbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lti_passbacks_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lti_passbacks_resource_link_id"), ["resource_link_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lti_passbacks_lti_user_id"), ["lti_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lti_passbacks_assignment_id"), ["assignment_id"], unique=False)
        batch_op.create_index("ix_lti_passbacks_status", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "lti_passback_tries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("passback_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["passback_id"], ["lti_passbacks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lti_passback_tries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lti_passback_tries_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lti_passback_tries_passback_id"), ["passback_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lti_passback_tries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_passback_tries_passback_id"))
        batch_op.drop_index(batch_op.f("ix_lti_passback_tries_tenant_id"))
    op.drop_table("lti_passback_tries")
    with op.batch_alter_table("lti_passbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_lti_passbacks_status")
        batch_op.drop_index(batch_op.f("ix_lti_passbacks_assignment_id"))
        batch_op.drop_index(batch_op.f("ix_lti_passbacks_lti_user_id"))
        batch_op.drop_index(batch_op.f("ix_lti_passbacks_resource_link_id"))
        batch_op.drop_index(batch_op.f("ix_lti_passbacks_tenant_id"))
    op.drop_table("lti_passbacks")
