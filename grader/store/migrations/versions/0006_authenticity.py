"""Ownership claims, signing keys, similarity matches and the review queue.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learner_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("learner", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "learner", "fingerprint"),
    )
    op.create_index("ix_learner_keys_learner", "learner_keys", ["tenant_id", "learner"], unique=False)
    op.create_index("ix_learner_keys_tenant_id", "learner_keys", ["tenant_id"], unique=False)

    op.create_table(
        "submission_work",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.String(length=32), nullable=False),
        sa.Column("learner", sa.String(length=320), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("tree", sa.String(length=64), nullable=True),
        sa.Column("ownership", sa.JSON(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("fingerprints", sa.LargeBinary(), nullable=False),
        sa.Column("similarity", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "run"),
    )
    op.create_index("ix_submission_work_tenant_id", "submission_work", ["tenant_id"], unique=False)
    op.create_index("ix_submission_work_commit", "submission_work", ["tenant_id", "commit"], unique=False)
    op.create_index("ix_submission_work_tree", "submission_work", ["tenant_id", "tree"], unique=False)
    op.create_index(
        "ix_submission_work_assignment", "submission_work", ["tenant_id", "assignment_id", "created_at"], unique=False
    )

    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("grade_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["grade_id"], ["grades.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_index("ix_reviews_tenant_id", "reviews", ["tenant_id"], unique=False)
    op.create_index("ix_reviews_state", "reviews", ["tenant_id", "state", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reviews_state", table_name="reviews")
    op.drop_index("ix_reviews_tenant_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_submission_work_assignment", table_name="submission_work")
    op.drop_index("ix_submission_work_tree", table_name="submission_work")
    op.drop_index("ix_submission_work_commit", table_name="submission_work")
    op.drop_index("ix_submission_work_tenant_id", table_name="submission_work")
    op.drop_table("submission_work")
    op.drop_index("ix_learner_keys_tenant_id", table_name="learner_keys")
    op.drop_index("ix_learner_keys_learner", table_name="learner_keys")
    op.drop_table("learner_keys")
