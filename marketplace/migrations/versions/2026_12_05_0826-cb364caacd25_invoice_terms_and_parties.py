"""Invoices when the promise says (issue 16): an issued invoice carries its due date and a copy
of who bills whom (names, 统一社会信用代码, the seller's bank account), taken when it is issued.

Invoices issued before get a due date of their issue date plus 30 days (the default payment
terms) and the parties' details as they are now: the closest record there is.

Revision ID: cb364caacd25
Revises: cc12646585a7
Create Date: 2026-12-05 08:26:02.577981
"""

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "cb364caacd25"
down_revision: str | None = "cc12646585a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIES = {
    "seller_name": ("provider_id", "name"),
    "seller_credit_code": ("provider_id", "credit_code"),
    "seller_bank_name": ("provider_id", "bank_name"),
    "seller_bank_account": ("provider_id", "bank_account"),
    "buyer_name": ("enterprise_id", "name"),
    "buyer_credit_code": ("enterprise_id", "credit_code"),
}


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("seller_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("seller_credit_code", sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column("seller_bank_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("seller_bank_account", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("buyer_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("buyer_credit_code", sa.String(length=18), nullable=True))

    # Invoices issued before: the parties as they are now, due 30 days after issue.
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("provider_id", sa.Integer()),
        sa.column("enterprise_id", sa.Integer()),
        sa.column("created_at", marketplace.db.UTCDateTime()),
        sa.column("finalised_at", marketplace.db.UTCDateTime()),
        sa.column("due_on", sa.Date()),
        *(sa.column(name, sa.String()) for name in PARTIES),
    )
    organisations = sa.table(
        "organisations",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("credit_code", sa.String()),
        sa.column("bank_name", sa.String()),
        sa.column("bank_account", sa.String()),
    )
    issued = invoices.c.status != "draft"
    op.execute(
        invoices.update()
        .where(issued)
        .values(
            {
                name: sa.select(organisations.c[column])
                .where(organisations.c.id == invoices.c[key])
                .scalar_subquery()
                for name, (key, column) in PARTIES.items()
            }
        )
    )
    bind = op.get_bind()
    local = ZoneInfo("Asia/Shanghai")
    rows = bind.execute(
        sa.select(invoices.c.id, invoices.c.finalised_at, invoices.c.created_at).where(issued)
    ).all()
    for row in rows:
        at = row.finalised_at or row.created_at
        bind.execute(
            invoices.update()
            .where(invoices.c.id == row.id)
            .values(due_on=at.astimezone(local).date() + timedelta(days=30))
        )

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "issued_with_terms_and_parties",
            "status = 'draft' OR (due_on IS NOT NULL AND seller_name IS NOT NULL"
            " AND buyer_name IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_invoices_issued_with_terms_and_parties"), type_="check")
        batch_op.drop_column("buyer_credit_code")
        batch_op.drop_column("buyer_name")
        batch_op.drop_column("seller_bank_account")
        batch_op.drop_column("seller_bank_name")
        batch_op.drop_column("seller_credit_code")
        batch_op.drop_column("seller_name")
        batch_op.drop_column("due_on")
