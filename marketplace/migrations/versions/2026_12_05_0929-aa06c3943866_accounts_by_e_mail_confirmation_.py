"""Accounts by e-mail (issue 18): users.email_confirmed_at (every existing user counts as
confirmed), email_confirmations (one-time links for new registrations) and the address an
invitation was e-mailed to.

Revision ID: aa06c3943866
Revises: 2b0e0e6ccd9e
Create Date: 2026-12-05 09:29:00.715776
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # our column types

revision: str = "aa06c3943866"
down_revision: str | None = "2b0e0e6ccd9e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_confirmations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_confirmations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_confirmations_token_hash")),
    )
    with op.batch_alter_table("email_confirmations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_confirmations_user_id"), ["user_id"], unique=False
        )

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "email_confirmed_at", marketplace.db.UTCDateTime(timezone=True), nullable=True
            )
        )
    # Accounts that exist already were made before addresses were confirmed: they count as
    # confirmed since they were created (demo accounts too).
    op.execute("UPDATE users SET email_confirmed_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_confirmed_at")

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("email")

    with op.batch_alter_table("email_confirmations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_confirmations_user_id"))

    op.drop_table("email_confirmations")
