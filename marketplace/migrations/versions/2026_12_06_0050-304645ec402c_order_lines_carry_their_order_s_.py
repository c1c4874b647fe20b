"""Order lines carry their order's enterprise (``order_lines.enterprise_id``, immutable like
the order's), kept equal to it by a composite foreign key to ``orders (id, enterprise_id)``:
the officials' statistics count the enterprises served from an index of the lines alone, and
narrow a jurisdiction's lines by their enterprise, without joining 100,000 orders (issue 19).
The statistics' covering indexes carry the enterprise instead of the order.

Revision ID: 304645ec402c
Revises: 9de40cef29e6
Create Date: 2026-12-06 00:40:29.658494
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "304645ec402c"
down_revision: str | None = "9de40cef29e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS = [
    "category_code",
    "days_to_go_live",
    "days_to_acceptance",
    "provider_id",
    "created_at",
    "status",
    "committed_fen",
]
ID_SCOPE = "ix_order_lines_id_scope"  # PostgreSQL only (9de40cef29e6)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # what the lines' composite key refers to
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_orders_id_enterprise_id"), ["id", "enterprise_id"]
        )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enterprise_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE order_lines SET enterprise_id ="
        " (SELECT orders.enterprise_id FROM orders WHERE orders.id = order_lines.order_id)"
    )
    if postgresql:
        op.drop_index(ID_SCOPE, table_name="order_lines")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("enterprise_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            "fk_order_lines_order_id_enterprise_id_orders",
            "orders",
            ["order_id", "enterprise_id"],
            ["id", "enterprise_id"],
        )
        batch_op.drop_index("ix_order_lines_statistics")
        batch_op.create_index(
            "ix_order_lines_statistics", [*STATISTICS, "enterprise_id"], unique=False
        )
        batch_op.create_index(
            "ix_order_lines_enterprise_id_provider_id_created_at",
            ["enterprise_id", "provider_id", "created_at"],
            unique=False,
        )
    if postgresql:
        op.create_index(
            ID_SCOPE,
            "order_lines",
            ["id"],
            unique=False,
            postgresql_include=["provider_id", "created_at", "enterprise_id"],
        )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.drop_index(ID_SCOPE, table_name="order_lines")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint("fk_order_lines_order_id_enterprise_id_orders", type_="foreignkey")
        batch_op.drop_index("ix_order_lines_enterprise_id_provider_id_created_at")
        batch_op.drop_index("ix_order_lines_statistics")
        batch_op.create_index("ix_order_lines_statistics", [*STATISTICS, "order_id"], unique=False)
        batch_op.drop_column("enterprise_id")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_orders_id_enterprise_id"), type_="unique")
    if postgresql:
        op.create_index(
            ID_SCOPE,
            "order_lines",
            ["id"],
            unique=False,
            postgresql_include=["provider_id", "created_at", "order_id"],
        )
