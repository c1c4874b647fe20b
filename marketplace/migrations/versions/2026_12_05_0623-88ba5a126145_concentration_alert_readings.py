"""Concentration alerts keep their history in readings (raised, changed, cleared), so an
alert can show today's figure and limit; each alert already raised gets its first reading.

Revision ID: 88ba5a126145
Revises: f33387d1e6b6
Create Date: 2026-12-05 06:23:21.445586
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "88ba5a126145"
down_revision: str | None = "f33387d1e6b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "concentration_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column(
            "event",
            sa.Enum(
                "raised",
                "changed",
                "cleared",
                name="readingevent",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["concentration_alerts.id"],
            name=op.f("fk_concentration_readings_alert_id_concentration_alerts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concentration_readings")),
    )
    with op.batch_alter_table("concentration_readings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_concentration_readings_alert_id"), ["alert_id"], unique=False
        )
    op.execute(
        "INSERT INTO concentration_readings (alert_id, event, value, threshold, at)"
        " SELECT id, 'raised', value, threshold, raised_at FROM concentration_alerts"
    )


def downgrade() -> None:
    with op.batch_alter_table("concentration_readings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concentration_readings_alert_id"))

    op.drop_table("concentration_readings")
