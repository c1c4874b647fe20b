"""The needs board: enterprises post needs, admitted providers answer with quotes (issue 21).

Revision ID: b93668185d1f
Revises: ff0df1e5ac8a
Create Date: 2026-12-05 17:28:31.284264
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "b93668185d1f"
down_revision: str | None = "ff0df1e5ac8a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("industry_code", sa.String(length=20), nullable=True),
        sa.Column("site", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "awarded",
                "closed",
                "expired",
                name="needstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("bundle_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("budget_fen > 0", name=op.f("ck_needs_budget_positive")),
        sa.CheckConstraint("length(description) > 0", name=op.f("ck_needs_description_given")),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["bundles.id"],
            name=op.f("fk_needs_bundle_id_bundles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["category_code"], ["categories.code"], name=op.f("fk_needs_category_code_categories")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
            name=op.f("fk_needs_enterprise_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["industry_code"], ["industries.code"], name=op.f("fk_needs_industry_code_industries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_needs_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(
            "ix_needs_status_category_code", ["status", "category_code"], unique=False
        )

    op.create_table(
        "need_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "open",
                "awarded",
                "closed",
                "expired",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "open",
                "awarded",
                "closed",
                "expired",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "event",
            sa.Enum(
                "post",
                "award",
                "close",
                "expire",
                name="needevent",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_need_status_changes_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_need_status_changes_need_id_needs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need_status_changes")),
    )
    with op.batch_alter_table("need_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_need_status_changes_need_id"), ["need_id"], unique=False
        )

    op.create_table(
        "quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "live",
                "withdrawn",
                "accepted",
                "declined",
                name="quotestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("list_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("delivery_days", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("delivery_days > 0", name=op.f("ck_quotes_delivery_days_positive")),
        sa.CheckConstraint("price_fen <= list_price_fen", name=op.f("ck_quotes_price_within_list")),
        sa.CheckConstraint("price_fen > 0", name=op.f("ck_quotes_price_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_quotes_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["need_id"], ["needs.id"], name=op.f("fk_quotes_need_id_needs")),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["organisations.id"], name=op.f("fk_quotes_provider_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quotes_need_id"), ["need_id"], unique=False)
        batch_op.create_index(
            "ix_quotes_provider_id_status", ["provider_id", "status"], unique=False
        )
        batch_op.create_index(
            "uq_quotes_need_id_provider_id_live",
            ["need_id", "provider_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('live', 'accepted')"),
            postgresql_where=sa.text("status IN ('live', 'accepted')"),
        )

    op.create_table(
        "quote_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_quote_items_package_id_packages")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["price_plans.id"], name=op.f("fk_quote_items_plan_id_price_plans")
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["quotes.id"],
            name=op.f("fk_quote_items_quote_id_quotes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["package_versions.id"],
            name=op.f("fk_quote_items_version_id_package_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_items")),
        sa.UniqueConstraint(
            "quote_id", "package_id", name=op.f("uq_quote_items_quote_id_package_id")
        ),
    )
    with op.batch_alter_table("quote_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quote_items_quote_id"), ["quote_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quote_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quote_items_quote_id"))

    op.drop_table("quote_items")
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_quotes_need_id_provider_id_live",
            sqlite_where=sa.text("status IN ('live', 'accepted')"),
            postgresql_where=sa.text("status IN ('live', 'accepted')"),
        )
        batch_op.drop_index("ix_quotes_provider_id_status")
        batch_op.drop_index(batch_op.f("ix_quotes_need_id"))

    op.drop_table("quotes")
    with op.batch_alter_table("need_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_need_status_changes_need_id"))

    op.drop_table("need_status_changes")
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_index("ix_needs_status_category_code")
        batch_op.drop_index(batch_op.f("ix_needs_enterprise_id"))

    op.drop_table("needs")
