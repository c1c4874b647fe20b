"""Cooling-off (issue 23): a programme's cooling-off days (0 = none, up to 90) and, on a
reservation, until when its line is cooling off and when it was accepted meanwhile.

Revision ID: 0f9da726ee14
Revises: fd2b16cca82d
Create Date: 2026-12-05 18:52:42.509832
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "0f9da726ee14"
down_revision: str | None = "fd2b16cca82d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cooling_off_days", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_voucher_programmes_cooling_off_days_range"),
            "cooling_off_days BETWEEN 0 AND 90",
        )

    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cooling_off_until", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("accepted_at", marketplace.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_reservations", schema=None) as batch_op:
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("cooling_off_until")

    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_programmes_cooling_off_days_range"), type_="check"
        )
        batch_op.drop_column("cooling_off_days")
