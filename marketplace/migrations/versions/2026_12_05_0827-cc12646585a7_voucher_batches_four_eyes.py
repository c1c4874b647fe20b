"""Four eyes on large voucher batches (issue 16): each programme sets a threshold (¥200,000
for new and existing programmes); a batch or list above it is stored as a proposal, with its
exact holders in ``voucher_run_items``, until another official approves it (never the
proposer, a CHECK says so; with a note) or someone cancels it (with a reason).

Runs issued before this revision are 'issued' and have no proposer.

Revision ID: cc12646585a7
Revises: 6d805d895977
Create Date: 2026-12-05 08:27:33.256089
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "cc12646585a7"
down_revision: str | None = "6d805d895977"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_run_items",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_voucher_run_items_seq_positive")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
            name=op.f("fk_voucher_run_items_enterprise_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["voucher_issue_runs.id"],
            name=op.f("fk_voucher_run_items_run_id_voucher_issue_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "enterprise_id", name=op.f("pk_voucher_run_items")),
    )
    with op.batch_alter_table("voucher_issue_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "issued",
                    "proposed",
                    "cancelled",
                    name="runstatus",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                server_default="issued",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("proposed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proposal_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approval_note", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_issue_runs_cancelled_by_id_users"),
            "users",
            ["cancelled_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_issue_runs_proposed_by_id_users"),
            "users",
            ["proposed_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_issue_runs_approved_by_id_users"),
            "users",
            ["approved_by_id"],
            ["id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_issue_runs_approver_not_proposer"),
            "approved_by_id IS NULL OR approved_by_id <> proposed_by_id",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_issue_runs_approval_has_note"),
            "approved_by_id IS NULL OR approval_note IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_issue_runs_proposal_has_proposer"),
            "status <> 'proposed' OR (proposed_by_id IS NOT NULL AND kind <> 'single')",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_issue_runs_cancel_has_reason"),
            "status <> 'cancelled' OR cancel_reason IS NOT NULL",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_issue_runs_proposal_issued_when_approved"),
            "proposed_by_id IS NULL OR status <> 'issued' OR approved_by_id IS NOT NULL",
        )

    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "batch_approval_threshold_fen",
                sa.BigInteger(),
                server_default="20000000",
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_programmes_batch_approval_threshold"),
            "batch_approval_threshold_fen BETWEEN 0 AND 1000000000000",
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_programmes_batch_approval_threshold"), type_="check"
        )
        batch_op.drop_column("batch_approval_threshold_fen")

    with op.batch_alter_table("voucher_issue_runs", schema=None) as batch_op:
        for name in (
            "proposal_issued_when_approved",
            "cancel_has_reason",
            "proposal_has_proposer",
            "approval_has_note",
            "approver_not_proposer",
            "runstatus",  # the status column's own CHECK (its values)
        ):
            batch_op.drop_constraint(batch_op.f(f"ck_voucher_issue_runs_{name}"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_issue_runs_approved_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_issue_runs_proposed_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_issue_runs_cancelled_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancelled_by_id")
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approval_note")
        batch_op.drop_column("approved_by_id")
        batch_op.drop_column("proposal_note")
        batch_op.drop_column("proposed_by_id")
        batch_op.drop_column("status")

    op.drop_table("voucher_run_items")
