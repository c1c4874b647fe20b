"""The catalogue's change stamp: a token that changes with anything the catalogue shows
(rendered search results are reused until it does), and an index for the catalogue's
default order.

Revision ID: f33387d1e6b6
Revises: d16f54128d79
Create Date: 2026-12-03 06:21:31.716901
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "f33387d1e6b6"
down_revision: str | None = "d16f54128d79"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    stamp = op.create_table(
        "catalogue_stamp",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalogue_stamp_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_stamp")),
    )
    op.bulk_insert(stamp, [{"id": 1, "token": "initial"}])
    op.create_index(
        "ix_package_versions_status_published",
        "package_versions",
        ["status", "published_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_package_versions_status_published", table_name="package_versions")
    op.drop_table("catalogue_stamp")
