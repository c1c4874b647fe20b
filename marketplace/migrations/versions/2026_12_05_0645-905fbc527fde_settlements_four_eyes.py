"""Settlements need four eyes (issue 16): who approved (never the official who drew it up, a
CHECK says so), with the approval's note; who marked it paid; who cancelled it, when and why.

Settlements approved before this revision keep no approver (the audit trail names them).

Revision ID: 905fbc527fde
Revises: 88ba5a126145
Create Date: 2026-12-05 06:45:12.402113
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "905fbc527fde"
down_revision: str | None = "88ba5a126145"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_settlements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approval_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("paid_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_settlements_approved_by_id_users"),
            "users",
            ["approved_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_settlements_paid_by_id_users"), "users", ["paid_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_settlements_cancelled_by_id_users"),
            "users",
            ["cancelled_by_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_settlements_approver_not_proposer"),
            "approved_by_id IS NULL OR approved_by_id <> created_by_id",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_settlements_approval_has_note"),
            "approved_by_id IS NULL OR approval_note IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_settlements_cancel_has_reason"),
            "cancelled_by_id IS NULL OR cancel_reason IS NOT NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_settlements", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_settlements_cancel_has_reason"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_settlements_approval_has_note"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_settlements_approver_not_proposer"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_settlements_cancelled_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_settlements_paid_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_settlements_approved_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancelled_by_id")
        batch_op.drop_column("paid_by_id")
        batch_op.drop_column("approval_note")
        batch_op.drop_column("approved_by_id")
