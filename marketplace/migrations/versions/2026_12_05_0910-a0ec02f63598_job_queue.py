"""The job queue (issue 17): the periods scheduled jobs have claimed (one run per period
whatever the number of schedulers) and the tasks that were retried or failed.

Revision ID: a0ec02f63598
Revises: 1de5d64e7186
Create Date: 2026-12-05 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "a0ec02f63598"
down_revision: str | None = "1de5d64e7186"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_periods",
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "period", name=op.f("pk_job_periods")),
    )
    op.create_table(
        "job_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("kwargs", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "retrying",
                "failed",
                "resubmitted",
                "succeeded",
                name="jobstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_records")),
        sa.UniqueConstraint("task_id", name=op.f("uq_job_records_task_id")),
    )
    with op.batch_alter_table("job_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_records_state_updated_at", ["state", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_records", schema=None) as batch_op:
        batch_op.drop_index("ix_job_records_state_updated_at")

    op.drop_table("job_records")
    op.drop_table("job_periods")
