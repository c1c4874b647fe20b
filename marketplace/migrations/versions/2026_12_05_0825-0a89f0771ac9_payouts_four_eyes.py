"""Payouts to providers need four eyes (issue 16): one platform administrator proposes a
payout (amount and note), another approves it with a note (never the proposer: a CHECK says
so), then the transfer's reference is recorded; until paid it may be cancelled with a reason.

A proposed or approved payout commits its amount: ``provider_balances.pending_fen``, with
``paid_out_fen + pending_fen <= collected_fen``, so two proposals cannot together exceed what
the platform owes. ``reference`` stays NULL until paid.

Payouts recorded before this revision become paid payouts proposed (and marked paid) by
their recorder, without an approver (the audit trail names them); ``recorded_by_id`` is
replaced by ``proposed_by_id``.

Revision ID: 0a89f0771ac9
Revises: b17c3e5d9a02
Create Date: 2026-12-05 08:25:46.813496
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "0a89f0771ac9"
down_revision: str | None = "b17c3e5d9a02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider_balances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pending_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_balances_pending_not_negative"), "pending_fen >= 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_balances_committed_within_collected"),
            "paid_out_fen + pending_fen <= collected_fen",
        )

    # The new columns first (nullable), then the rows recorded so far become paid payouts,
    # then the constraints that hold from now on.
    with op.batch_alter_table("provider_payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("proposed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proposal_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approval_note", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("paid_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("paid_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )

    op.execute(
        "UPDATE provider_payouts SET status = 'paid', proposed_by_id = recorded_by_id,"
        " paid_by_id = recorded_by_id, paid_at = created_at"
    )

    with op.batch_alter_table("provider_payouts", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("reference", existing_type=sa.VARCHAR(length=100), nullable=True)
        batch_op.drop_constraint(
            batch_op.f("fk_provider_payouts_recorded_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("recorded_by_id")
        batch_op.create_foreign_key(
            batch_op.f("fk_provider_payouts_proposed_by_id_users"),
            "users",
            ["proposed_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_provider_payouts_approved_by_id_users"),
            "users",
            ["approved_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_provider_payouts_paid_by_id_users"), "users", ["paid_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_provider_payouts_cancelled_by_id_users"),
            "users",
            ["cancelled_by_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_payouts_payoutstatus"),
            "status IN ('proposed', 'approved', 'paid', 'cancelled')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_payouts_paid_has_reference"),
            "status <> 'paid' OR reference IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_payouts_approver_not_proposer"),
            "approved_by_id IS NULL OR approved_by_id <> proposed_by_id",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_payouts_approval_has_note"),
            "approved_by_id IS NULL OR approval_note IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_provider_payouts_cancel_has_reason"),
            "cancelled_by_id IS NULL OR cancel_reason IS NOT NULL",
        )


def downgrade() -> None:
    """Back to one-step payouts: only paid ones were transfers; proposals not yet paid are
    dropped (their pending money returns to what is owed)."""
    op.execute("DELETE FROM provider_payouts WHERE status <> 'paid'")
    with op.batch_alter_table("provider_payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_by_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_provider_payouts_cancel_has_reason"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_provider_payouts_approval_has_note"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("ck_provider_payouts_approver_not_proposer"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("ck_provider_payouts_paid_has_reference"), type_="check"
        )
        batch_op.drop_constraint(batch_op.f("ck_provider_payouts_payoutstatus"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_provider_payouts_cancelled_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_provider_payouts_paid_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_provider_payouts_approved_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_provider_payouts_proposed_by_id_users"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_provider_payouts_recorded_by_id_users"),
            "users",
            ["recorded_by_id"],
            ["id"],
        )
    op.execute("UPDATE provider_payouts SET recorded_by_id = proposed_by_id")
    with op.batch_alter_table("provider_payouts", schema=None) as batch_op:
        batch_op.alter_column("reference", existing_type=sa.VARCHAR(length=100), nullable=False)
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancelled_by_id")
        batch_op.drop_column("paid_at")
        batch_op.drop_column("paid_by_id")
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approval_note")
        batch_op.drop_column("approved_by_id")
        batch_op.drop_column("proposal_note")
        batch_op.drop_column("proposed_by_id")
        batch_op.drop_column("status")

    with op.batch_alter_table("provider_balances", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_provider_balances_committed_within_collected"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("ck_provider_balances_pending_not_negative"), type_="check"
        )
        batch_op.drop_column("pending_fen")
