"""Catalogue stamps per scope: a token per part of the catalogue (packages, categories,
providers' names, each agency's pool) instead of one row for the world, so one city's pool
decision neither empties the results that do not depend on its pool nor queues behind
every other catalogue writer on one row.

Revision ID: 1de5d64e7186
Revises: cb364caacd25
Create Date: 2026-12-05 09:10:38.497517
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "1de5d64e7186"
down_revision: str | None = "cb364caacd25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    stamps = op.create_table(
        "catalogue_stamps",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_catalogue_stamps")),
    )
    # Pools get their rows with their first change (an upsert).
    op.bulk_insert(
        stamps,
        [{"scope": s, "token": "initial"} for s in ("categories", "packages", "providers")],
    )
    op.drop_table("catalogue_stamp")


def downgrade() -> None:
    stamp = op.create_table(
        "catalogue_stamp",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalogue_stamp_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_stamp")),
    )
    op.bulk_insert(stamp, [{"id": 1, "token": "downgraded"}])
    op.drop_table("catalogue_stamps")
