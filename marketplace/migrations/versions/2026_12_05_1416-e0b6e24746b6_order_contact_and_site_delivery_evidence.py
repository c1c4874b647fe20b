"""order contact and site, delivery evidence

Revision ID: e0b6e24746b6
Revises: 4c790abe3d3a
Create Date: 2026-12-05 14:16:13.310197
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "e0b6e24746b6"
down_revision: str | None = "4c790abe3d3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("milestone_id", sa.Integer(), nullable=True),
        sa.Column(
            "line_status",
            sa.Enum(
                "placed",
                "accepted",
                "rejected",
                "cancelled",
                "in_delivery",
                "delivered",
                "disputed",
                "completed",
                name="linestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("content_type", sa.String(length=80), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(data IS NULL) = (name IS NULL) AND (data IS NULL) = (size IS NULL) AND (data IS NULL) = (content_type IS NULL)",
            name=op.f("ck_delivery_evidence_file_whole"),
        ),
        sa.CheckConstraint(
            "length(note) > 0 OR data IS NOT NULL", name=op.f("ck_delivery_evidence_note_or_file")
        ),
        sa.CheckConstraint(
            "size IS NULL OR size > 0", name=op.f("ck_delivery_evidence_size_positive")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_delivery_evidence_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_delivery_evidence_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"],
            ["milestones.id"],
            name=op.f("fk_delivery_evidence_milestone_id_milestones"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_evidence")),
    )
    with op.batch_alter_table("delivery_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_evidence_line_id"), ["line_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("site_address", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(
            "contact_given_whole",
            "(contact_name IS NULL) = (contact_phone IS NULL)"
            " AND (contact_name IS NULL) = (site_address IS NULL)",
        )
        batch_op.create_check_constraint(
            "contact_not_empty",
            "contact_name IS NULL OR (length(contact_name) > 0 AND length(contact_phone) > 0"
            " AND length(site_address) > 0)",
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_contact_not_empty"), type_="check")
        batch_op.drop_constraint(op.f("ck_orders_contact_given_whole"), type_="check")
        batch_op.drop_column("site_address")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_name")

    with op.batch_alter_table("delivery_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_evidence_line_id"))

    op.drop_table("delivery_evidence")
