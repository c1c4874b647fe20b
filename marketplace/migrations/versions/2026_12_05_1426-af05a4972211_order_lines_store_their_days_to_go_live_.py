"""order lines store their days to go-live and acceptance

Revision ID: af05a4972211
Revises: e0b6e24746b6
Create Date: 2026-12-05 14:26:38.290598
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "af05a4972211"
down_revision: str | None = "e0b6e24746b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The whole days from the order to a moment, as the statistics computed them until now on
# each database (so the figures stay what they were).
WHOLE_DAYS = {
    "sqlite": "CAST(julianday({end}) - julianday(created_at) AS INTEGER)",
    "postgresql": "CAST(floor(date_part('epoch', {end} - created_at) / 86400) AS INTEGER)",
}


def upgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("days_to_go_live", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("days_to_acceptance", sa.Integer(), nullable=True))

    days = WHOLE_DAYS[op.get_bind().dialect.name]
    op.execute(
        f"""
        UPDATE order_lines SET
            days_to_go_live = CASE WHEN delivered_at IS NOT NULL
                THEN {days.format(end="delivered_at")} END,
            days_to_acceptance = CASE WHEN accepted_at IS NOT NULL
                THEN {days.format(end="accepted_at")} END
        WHERE delivered_at IS NOT NULL OR accepted_at IS NOT NULL
        """
    )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_order_lines_go_live_days_stored"),
            "(delivered_at IS NULL) = (days_to_go_live IS NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_order_lines_acceptance_days_stored"),
            "(accepted_at IS NULL) = (days_to_acceptance IS NULL)",
        )
        batch_op.create_index(
            "ix_order_lines_statistics",
            [
                "category_code",
                "days_to_go_live",
                "days_to_acceptance",
                "provider_id",
                "created_at",
                "status",
                "committed_fen",
                "order_id",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_statistics")
        batch_op.drop_constraint(op.f("ck_order_lines_acceptance_days_stored"), type_="check")
        batch_op.drop_constraint(op.f("ck_order_lines_go_live_days_stored"), type_="check")
        batch_op.drop_column("days_to_acceptance")
        batch_op.drop_column("days_to_go_live")
