"""Usage plans (metered unit, unit price, graduated tiers, included quantity, monthly
minimum and cap), usage records reported by providers, monthly usage statements; the plan
and invoice kinds gain "usage"; a voucher reservation names the month it pays towards.

Revision ID: 360419eeb96e
Revises: 3f985104de4c
Create Date: 2026-12-05 17:29:46.742291
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

MAX_PRICE_FEN = 10_000_000_000  # as in marketplace.catalog.models
PLAN_KINDS_BEFORE = "'one_time', 'subscription', 'outcome'"
PLAN_KINDS = PLAN_KINDS_BEFORE + ", 'usage'"
INVOICE_KINDS_BEFORE = "'co_payment', 'success_fee', 'voucher_shortfall'"
INVOICE_KINDS = INVOICE_KINDS_BEFORE + ", 'usage'"


def _kinds(table: str, name: str, column: str, values: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_{name}"), f"{column} IN ({values})")


revision: str = "360419eeb96e"
down_revision: str | None = "3f985104de4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _kinds_back(table: str, name: str, column: str, before: str) -> None:
    """The kinds before "usage", unless rows of that kind exist (never deleted here)."""
    used = op.get_bind().scalar(sa.text(f"SELECT count(*) FROM {table} WHERE {column} = 'usage'"))
    _kinds(table, name, column, before + (", 'usage'" if used else ""))


def upgrade() -> None:
    op.create_table(
        "price_plan_tiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("from_quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "from_quantity > 1", name=op.f("ck_price_plan_tiers_from_above_first_unit")
        ),
        sa.CheckConstraint(
            "unit_price_fen >= 0", name=op.f("ck_price_plan_tiers_unit_price_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["price_plans.id"],
            name=op.f("fk_price_plan_tiers_plan_id_price_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_plan_tiers")),
        sa.UniqueConstraint(
            "plan_id", "from_quantity", name=op.f("uq_price_plan_tiers_plan_id_from_quantity")
        ),
    )
    with op.batch_alter_table("price_plan_tiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_plan_tiers_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "usage_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("voucher_fen", sa.BigInteger(), nullable=False),
        sa.Column("computation", sa.JSON(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("gross_fen >= 0", name=op.f("ck_usage_statements_gross_not_negative")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_statements_quantity_not_negative")),
        sa.CheckConstraint(
            "voucher_fen >= 0 AND voucher_fen <= gross_fen",
            name=op.f("ck_usage_statements_voucher_within"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_usage_statements_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_usage_statements_order_line_id_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_statements")),
        sa.UniqueConstraint(
            "order_line_id", "month", name=op.f("uq_usage_statements_order_line_id_month")
        ),
    )
    with op.batch_alter_table("usage_statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_statements_order_line_id"), ["order_line_id"], unique=False
        )

    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column(
            "metric",
            sa.Enum(
                "devices",
                "report_calls",
                "data_points",
                "users",
                name="usageunit",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "counted",
                "disputed",
                "removed",
                name="usagestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("dispute_reason", sa.Text(), nullable=True),
        sa.Column("disputed_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolved_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("statement_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status <> 'disputed' OR dispute_reason IS NOT NULL",
            name=op.f("ck_usage_records_dispute_has_reason"),
        ),
        sa.CheckConstraint(
            "month BETWEEN 200001 AND 299912", name=op.f("ck_usage_records_month_range")
        ),
        sa.CheckConstraint(
            "period_start <= period_end", name=op.f("ck_usage_records_period_in_order")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_records_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_usage_records_order_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["usage_statements.id"],
            name=op.f("fk_usage_records_statement_id_usage_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint(
            "order_line_id", "external_id", name=op.f("uq_usage_records_order_line_id_external_id")
        ),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_records_order_line_id_month", ["order_line_id", "month"], unique=False
        )

    with op.batch_alter_table("price_plans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "usage_unit",
                sa.Enum(
                    "devices",
                    "report_calls",
                    "data_points",
                    "users",
                    name="usageunit",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("unit_price_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("included_quantity", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("minimum_fen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("cap_fen", sa.BigInteger(), nullable=True))
        for column in ("unit_price_fen", "minimum_fen", "cap_fen"):
            batch_op.create_check_constraint(
                op.f(f"ck_price_plans_{column}_range"),
                f"{column} IS NULL OR ({column} >= 0 AND {column} <= {MAX_PRICE_FEN})",
            )
        batch_op.create_check_constraint(
            op.f("ck_price_plans_usage_terms"),
            "kind <> 'usage' OR (usage_unit IS NOT NULL AND unit_price_fen IS NOT NULL"
            " AND included_quantity IS NOT NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_price_plans_included_not_negative"),
            "included_quantity IS NULL OR included_quantity >= 0",
        )
        batch_op.create_check_constraint(
            op.f("ck_price_plans_cap_not_below_minimum"),
            "minimum_fen IS NULL OR cap_fen IS NULL OR cap_fen >= minimum_fen",
        )
    _kinds("price_plans", "plankind", "kind", PLAN_KINDS)
    _kinds("order_lines", "plankind", "plan_kind", PLAN_KINDS)
    _kinds("invoices", "invoicekind", "kind", INVOICE_KINDS)

    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint(
            batch_op.f("uq_voucher_reservations_order_line_id_voucher_id_for_success_fee"),
            type_="unique",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_voucher_reservations_order_line_id_voucher_id_for_success_fee_period"),
            ["order_line_id", "voucher_id", "for_success_fee", "period"],
        )


def downgrade() -> None:
    # A usage line's months each reserved the same voucher once: with such rows the old key
    # (one reservation per line, voucher and kind) cannot hold again, and the ledger's rows are
    # never deleted, so it is then left off (the demo's reset drops every table next).
    months_reserved = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM voucher_reservations WHERE period <> 0")
    )
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_voucher_reservations_order_line_id_voucher_id_for_success_fee_period"),
            type_="unique",
        )
        if not months_reserved:
            batch_op.create_unique_constraint(
                batch_op.f("uq_voucher_reservations_order_line_id_voucher_id_for_success_fee"),
                ["order_line_id", "voucher_id", "for_success_fee"],
            )
        batch_op.drop_column("period")

    _kinds_back("invoices", "invoicekind", "kind", INVOICE_KINDS_BEFORE)
    _kinds_back("order_lines", "plankind", "plan_kind", PLAN_KINDS_BEFORE)
    _kinds_back("price_plans", "plankind", "kind", PLAN_KINDS_BEFORE)
    with op.batch_alter_table("price_plans", schema=None) as batch_op:
        for name in (
            "usageunit",
            "cap_not_below_minimum",
            "included_not_negative",
            "usage_terms",
            "unit_price_fen_range",
            "minimum_fen_range",
            "cap_fen_range",
        ):
            batch_op.drop_constraint(op.f(f"ck_price_plans_{name}"), type_="check")
        batch_op.drop_column("cap_fen")
        batch_op.drop_column("minimum_fen")
        batch_op.drop_column("included_quantity")
        batch_op.drop_column("unit_price_fen")
        batch_op.drop_column("usage_unit")

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_order_line_id_month")

    op.drop_table("usage_records")
    with op.batch_alter_table("usage_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_statements_order_line_id"))

    op.drop_table("usage_statements")
    with op.batch_alter_table("price_plan_tiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_plan_tiers_plan_id"))

    op.drop_table("price_plan_tiers")
