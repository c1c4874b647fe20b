"""Recovery claims (issue 16, claw-back is money): voucher money clawed back after it was
settled and paid to the provider is asked back from the provider, one claim per redemption,
open until the agency records the repayment with its bank reference.

Revision ID: a4729afdd042
Revises: 7e7c15a620a3
Create Date: 2026-12-05 07:21:52.336962
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "a4729afdd042"
down_revision: str | None = "7e7c15a620a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_recovery_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "recovered",
                name="recoverystatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=True),
        sa.Column("recovered_by_id", sa.Integer(), nullable=True),
        sa.Column("recovered_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status <> 'recovered' OR (reference IS NOT NULL AND recovered_at IS NOT NULL)",
            name=op.f("ck_voucher_recovery_claims_recovered_has_reference"),
        ),
        sa.CheckConstraint(
            "amount_fen > 0", name=op.f("ck_voucher_recovery_claims_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_voucher_recovery_claims_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["voucher_programmes.id"],
            name=op.f("fk_voucher_recovery_claims_programme_id_voucher_programmes"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_voucher_recovery_claims_provider_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["recovered_by_id"],
            ["users.id"],
            name=op.f("fk_voucher_recovery_claims_recovered_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["voucher_reservations.id"],
            name=op.f("fk_voucher_recovery_claims_reservation_id_voucher_reservations"),
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["voucher_settlements.id"],
            name=op.f("fk_voucher_recovery_claims_settlement_id_voucher_settlements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_recovery_claims")),
        sa.UniqueConstraint(
            "reservation_id", name=op.f("uq_voucher_recovery_claims_reservation_id")
        ),
    )
    with op.batch_alter_table("voucher_recovery_claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_voucher_recovery_claims_programme_id"), ["programme_id"], unique=False
        )
        batch_op.create_index(
            "ix_voucher_recovery_claims_provider_id_status", ["provider_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_recovery_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_voucher_recovery_claims_provider_id_status")
        batch_op.drop_index(batch_op.f("ix_voucher_recovery_claims_programme_id"))

    op.drop_table("voucher_recovery_claims")
