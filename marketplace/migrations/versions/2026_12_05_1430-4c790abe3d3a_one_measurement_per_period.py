"""one measurement per period of an outcome contract

Revision ID: 4c790abe3d3a
Revises: c3e100fd0601
Create Date: 2026-12-05 14:30:23.817796
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db  # noqa: F401  (our column types, when a migration uses them)

revision: str = "4c790abe3d3a"
down_revision: str | None = "c3e100fd0601"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Two measurements of one contract for the same period: nothing refused them before.
CLASHES = sa.text(
    "SELECT contract_id, period_start, period_end, COUNT(*) AS n FROM measurements"
    " GROUP BY contract_id, period_start, period_end HAVING COUNT(*) > 1"
    " ORDER BY contract_id, period_start, period_end"
)


def upgrade() -> None:
    # Measurements count towards success fees, so none is dropped or changed here: a database
    # holding two for one period stops the upgrade and says which, for a person to decide.
    clashes = op.get_bind().execute(CLASHES).all()
    if clashes:
        listed = "; ".join(
            f"contract {c} {start} to {end} ({n} measurements)" for c, start, end, n in clashes[:20]
        )
        raise RuntimeError(
            "Cannot make measurements one per period: these contracts have more than one"
            f" measurement for a period: {listed}. Keep one per period, then upgrade again."
        )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_measurements_contract_id_period_start_period_end"),
            ["contract_id", "period_start", "period_end"],
        )


def downgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_measurements_contract_id_period_start_period_end"), type_="unique"
        )
