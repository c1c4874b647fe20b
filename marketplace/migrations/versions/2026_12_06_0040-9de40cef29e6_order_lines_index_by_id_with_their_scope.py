"""Order lines indexed by id with their scope (provider, time, order), on PostgreSQL: the
officials' statistics merge it with the tickets' (and outcome contracts') index of their lines
instead of scanning every line (issue 19). SQLite looks each line up by its rowid and gets no
such index.

Revision ID: 9de40cef29e6
Revises: c4e8a2f61d07
Create Date: 2026-12-06 00:17:48.929038
"""

from collections.abc import Sequence

from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "9de40cef29e6"
down_revision: str | None = "c4e8a2f61d07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_order_lines_id_scope"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        NAME,
        "order_lines",
        ["id"],
        unique=False,
        postgresql_include=["provider_id", "created_at", "order_id"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="order_lines")
