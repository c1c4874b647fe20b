"""programme caps and cap holds

Revision ID: 4a45f302a258
Revises: b93668185d1f
Create Date: 2026-12-05 17:28:21.429810
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "4a45f302a258"
down_revision: str | None = "b93668185d1f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_cap_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=24), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("cap_bp", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "declined",
                name="capholdstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("line_accepted_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_voucher_cap_holds_amount_positive")),
        sa.CheckConstraint(
            "share_bp BETWEEN 0 AND 10000", name=op.f("ck_voucher_cap_holds_share_range")
        ),
        sa.CheckConstraint(
            "cap_bp BETWEEN 1 AND 10000", name=op.f("ck_voucher_cap_holds_cap_range")
        ),
        sa.CheckConstraint(
            "status = 'pending' OR (decided_by_id IS NOT NULL AND decided_at IS NOT NULL"
            " AND length(reason) > 0)",
            name=op.f("ck_voucher_cap_holds_decided_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_voucher_cap_holds_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
            name=op.f("fk_voucher_cap_holds_enterprise_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_voucher_cap_holds_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["voucher_programmes.id"],
            name=op.f("fk_voucher_cap_holds_programme_id_voucher_programmes"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_voucher_cap_holds_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_cap_holds")),
        sa.UniqueConstraint(
            "programme_id",
            "order_line_id",
            name=op.f("uq_voucher_cap_holds_programme_id_order_line_id"),
        ),
    )
    op.create_index(
        "ix_voucher_cap_holds_programme_id_status",
        "voucher_cap_holds",
        ["programme_id", "status"],
        unique=False,
    )
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_cap_bp", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("integration_fee_cap_bp", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "cap_policy",
                sa.Enum(
                    "refuse",
                    "hold",
                    name="cappolicy",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                server_default="refuse",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("cap_from_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            "provider_cap_range",
            "provider_cap_bp IS NULL OR (provider_cap_bp > 0 AND provider_cap_bp <= 10000)",
        )
        batch_op.create_check_constraint(
            "integration_fee_cap_range",
            "integration_fee_cap_bp IS NULL"
            " OR (integration_fee_cap_bp > 0 AND integration_fee_cap_bp <= 10000)",
        )
        batch_op.create_check_constraint("cap_from_not_negative", "cap_from_fen >= 0")
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integrator_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cap_hold_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_voucher_reservations_cap_hold_id"), ["cap_hold_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_reservations_integrator_id_organisations"),
            "organisations",
            ["integrator_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_reservations_cap_hold_id_voucher_cap_holds"),
            "voucher_cap_holds",
            ["cap_hold_id"],
            ["id"],
        )
    # Reservations made before: the routing integrator is the one whose integration fee the
    # line's order carries (checkout bills it only for a curated bundle ordered whole; a
    # package added beside the bundle in open mode is counted as routed too, an
    # approximation for these old rows only).
    op.execute(
        """
        UPDATE voucher_reservations SET integrator_id = (
            SELECT fee.provider_id FROM order_lines AS fee
            WHERE fee.kind = 'integration' AND fee.order_id = (
                SELECT line.order_id FROM order_lines AS line
                WHERE line.id = voucher_reservations.order_line_id
            )
            ORDER BY fee.id LIMIT 1
        )
        WHERE integrator_id IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_reservations_cap_hold_id_voucher_cap_holds"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_reservations_integrator_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_voucher_reservations_cap_hold_id"))
        batch_op.drop_column("cap_hold_id")
        batch_op.drop_column("integrator_id")
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        for name in (
            "cap_from_not_negative",
            "integration_fee_cap_range",
            "provider_cap_range",
            "cappolicy",
        ):
            batch_op.drop_constraint(op.f(f"ck_voucher_programmes_{name}"), type_="check")
        batch_op.drop_column("cap_from_fen")
        batch_op.drop_column("cap_policy")
        batch_op.drop_column("integration_fee_cap_bp")
        batch_op.drop_column("provider_cap_bp")
    op.drop_index("ix_voucher_cap_holds_programme_id_status", table_name="voucher_cap_holds")
    op.drop_table("voucher_cap_holds")
