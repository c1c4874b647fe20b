"""An enterprise's industry is verified like its region, headcount and revenue (voucher
programmes select by industry), and one change of a field waits at a time (a partial UNIQUE
index, so two tabs cannot queue two).

Revision ID: b17c3e5d9a02
Revises: a4729afdd042
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "b17c3e5d9a02"
down_revision: str | None = "a4729afdd042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def _known_fields(batch_op: Any, fields: str) -> None:
    batch_op.drop_constraint("known_field", type_="check")
    batch_op.create_check_constraint("known_field", f"field IN ({fields})")


def upgrade() -> None:
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        _known_fields(batch_op, "'industry_code', 'region_code', 'employees', 'annual_revenue_fen'")
        batch_op.create_index(
            "uq_profile_changes_org_id_field_pending",
            ["org_id", "field"],
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )


def downgrade() -> None:
    op.execute("DELETE FROM profile_changes WHERE field = 'industry_code'")
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.drop_index("uq_profile_changes_org_id_field_pending")
        _known_fields(batch_op, "'region_code', 'employees', 'annual_revenue_fen'")
