"""Claw-backs under four eyes (issue 16): one official proposes clawing a redemption back
with the reason the parties will see, another official of the same agency approves it (never
the proposer, and never without a note: CHECKs), or rejects it; the proposer may withdraw it.
At most one claw-back of a redemption is proposed or approved (a partial UNIQUE index).

Revision ID: 6d805d895977
Revises: 0a89f0771ac9
Create Date: 2026-12-05 08:25:50.149692
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "6d805d895977"
down_revision: str | None = "0a89f0771ac9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_clawbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "proposed",
                "approved",
                "rejected",
                "withdrawn",
                name="clawbackstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approval_note", sa.Text(), nullable=True),
        sa.Column("approved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'approved' OR (approved_by_id IS NOT NULL AND approved_at IS NOT NULL)",
            name=op.f("ck_voucher_clawbacks_approved_has_approver"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('rejected', 'withdrawn')"
            " OR (decided_by_id IS NOT NULL AND decision_note IS NOT NULL"
            " AND decided_at IS NOT NULL)",
            name=op.f("ck_voucher_clawbacks_decided_has_note"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_voucher_clawbacks_amount_positive")),
        sa.CheckConstraint(
            "approved_by_id IS NULL OR approval_note IS NOT NULL",
            name=op.f("ck_voucher_clawbacks_approval_has_note"),
        ),
        sa.CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> proposed_by_id",
            name=op.f("ck_voucher_clawbacks_approver_not_proposer"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_voucher_clawbacks_approved_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_voucher_clawbacks_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["voucher_programmes.id"],
            name=op.f("fk_voucher_clawbacks_programme_id_voucher_programmes"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["users.id"], name=op.f("fk_voucher_clawbacks_proposed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["voucher_reservations.id"],
            name=op.f("fk_voucher_clawbacks_reservation_id_voucher_reservations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_clawbacks")),
    )
    with op.batch_alter_table("voucher_clawbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voucher_clawbacks_programme_id"), ["programme_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_voucher_clawbacks_reservation_id"), ["reservation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_voucher_clawbacks_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_voucher_clawbacks_reservation_live",
            ["reservation_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('proposed', 'approved')"),
            postgresql_where=sa.text("status IN ('proposed', 'approved')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_clawbacks", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_voucher_clawbacks_reservation_live",
            sqlite_where=sa.text("status IN ('proposed', 'approved')"),
            postgresql_where=sa.text("status IN ('proposed', 'approved')"),
        )
        batch_op.drop_index(batch_op.f("ix_voucher_clawbacks_status"))
        batch_op.drop_index(batch_op.f("ix_voucher_clawbacks_reservation_id"))
        batch_op.drop_index(batch_op.f("ix_voucher_clawbacks_programme_id"))

    op.drop_table("voucher_clawbacks")
