"""The routing integrator is recorded once, on the order line (issue 22 follow-up):
``voucher_reservations.integrator_id`` repeated ``order_lines.integrator_id``. Lines ordered
before the order lines had the column (it came later than the caps) get it from their
reservations first; then the reservations' column goes.

Revision ID: f16503d3da04
Revises: 988ef89db317
Create Date: 2026-12-05 21:01:46.151884
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "f16503d3da04"
down_revision: str | None = "988ef89db317"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Copy: a line without its own routing integrator takes the one its reservations
    # recorded (they agree where both were written: checkout wrote both from one deal).
    op.execute(
        """
        UPDATE order_lines SET integrator_id = (
            SELECT MAX(r.integrator_id) FROM voucher_reservations AS r
            WHERE r.order_line_id = order_lines.id AND r.integrator_id IS NOT NULL
        )
        WHERE integrator_id IS NULL AND EXISTS (
            SELECT 1 FROM voucher_reservations AS r
            WHERE r.order_line_id = order_lines.id AND r.integrator_id IS NOT NULL
        )
        """
    )
    # Then drop (batch mode: SQLite rebuilds the table).
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_voucher_reservations_integrator_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_column("integrator_id")


def downgrade() -> None:
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integrator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_voucher_reservations_integrator_id_organisations"),
            "organisations",
            ["integrator_id"],
            ["id"],
        )
    # Checkout wrote it on the reservations it made (not on a usage month's or a success
    # fee's, made later): those get their line's back.
    op.execute(
        """
        UPDATE voucher_reservations SET integrator_id = (
            SELECT l.integrator_id FROM order_lines AS l
            WHERE l.id = voucher_reservations.order_line_id
        )
        WHERE period = 0 AND NOT for_success_fee
        """
    )
