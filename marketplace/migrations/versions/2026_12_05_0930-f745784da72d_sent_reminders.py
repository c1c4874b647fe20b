"""Reminders before silent deadlines (issue 18): one row per reminder sent, whose UNIQUE key
(kind, object, recipient, deadline) lets each go out once however many schedulers run.

Revision ID: f745784da72d
Revises: bae77313d371
Create Date: 2026-12-05 09:30:49.777663
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "f745784da72d"
down_revision: str | None = "bae77313d371"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("sent_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_sent_reminders_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_reminders")),
        sa.UniqueConstraint(
            "kind",
            "object_id",
            "org_id",
            "deadline",
            name=op.f("uq_sent_reminders_kind_object_id_org_id_deadline"),
        ),
    )


def downgrade() -> None:
    op.drop_table("sent_reminders")
