"""Notifications by e-mail (issue 18): each user's language and daily-digest choice, which
kinds they want by e-mail, and the marker of each day's digest (once per user and day).

Revision ID: bae77313d371
Revises: 15516586907c
Create Date: 2026-12-05 09:30:23.989539
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "bae77313d371"
down_revision: str | None = "15516586907c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("until", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mail_digests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_digests")),
        sa.UniqueConstraint("user_id", "day", name=op.f("uq_mail_digests_user_id_day")),
    )
    op.create_table(
        "mail_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("by_email", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mail_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_mail_preferences")),
    )
    op.add_column(
        "users", sa.Column("locale", sa.String(length=5), server_default="zh", nullable=False)
    )
    op.add_column(
        "users", sa.Column("digest_from", marketplace.db.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("digest_from")
        batch_op.drop_column("locale")

    op.drop_table("mail_preferences")
    op.drop_table("mail_digests")
