"""bundle items remember their quote

A bundle item made from an accepted quote points at it, so the quoted price binds the
bundle's totals, the voucher claims and the order lines (issue 21).

Revision ID: fd2b16cca82d
Revises: d76ed36f9da0
Create Date: 2026-12-05 18:29:15.179849
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "fd2b16cca82d"
down_revision: str | None = "d76ed36f9da0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quote_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_bundle_items_quote_id"), ["quote_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_bundle_items_quote_id_quotes"),
            "quotes",
            ["quote_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_bundle_items_quote_id_quotes"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_bundle_items_quote_id"))
        batch_op.drop_column("quote_id")
