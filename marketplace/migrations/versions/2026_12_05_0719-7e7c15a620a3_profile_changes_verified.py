"""Eligibility an enterprise cannot grant itself (issue 16): a change of an enterprise's
region, headcount or revenue waits as a pending profile change until an official verifies it.

Revision ID: 7e7c15a620a3
Revises: 905fbc527fde
Create Date: 2026-12-05 07:19:07.083355
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "7e7c15a620a3"
down_revision: str | None = "905fbc527fde"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=30), nullable=False),
        sa.Column("old_value", sa.String(length=40), nullable=True),
        sa.Column("new_value", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                name="changestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)",
            name=op.f("ck_profile_changes_decided_unless_pending"),
        ),
        sa.CheckConstraint(
            "field IN ('region_code', 'employees', 'annual_revenue_fen')",
            name=op.f("ck_profile_changes_known_field"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_profile_changes_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_profile_changes_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_profile_changes_requested_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_changes")),
    )
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_profile_changes_org_id_status", ["org_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_changes_org_id_status")

    op.drop_table("profile_changes")
