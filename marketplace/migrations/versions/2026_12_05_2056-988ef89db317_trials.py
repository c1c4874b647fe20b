"""trials

A package version's trial offer (days, a price of nothing or below the entry price, limits),
the enterprises' trials with their history, and order lines of kind ``trial`` (a paid
trial is billed as a one-time line at the trial price; issue 23).

Revision ID: 988ef89db317
Revises: 0f9da726ee14
Create Date: 2026-12-05 20:56:23.004312
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "988ef89db317"
down_revision: str | None = "0f9da726ee14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "live",
                "ended",
                "converted",
                "cancelled",
                name="trialstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("limits", sa.Text(), nullable=False),
        sa.Column("started_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_line_id", sa.Integer(), nullable=True),
        sa.Column("converted_line_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(status = 'converted') = (converted_line_id IS NOT NULL)",
            name=op.f("ck_trials_converted_with_line"),
        ),
        sa.CheckConstraint(
            "(status = 'live') = (ended_at IS NULL)", name=op.f("ck_trials_ended_when_not_live")
        ),
        sa.CheckConstraint("ends_at > started_at", name=op.f("ck_trials_ends_after_start")),
        sa.CheckConstraint("price_fen >= 0", name=op.f("ck_trials_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["converted_line_id"],
            ["order_lines.id"],
            name=op.f("fk_trials_converted_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_trials_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
            name=op.f("fk_trials_enterprise_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"], name=op.f("fk_trials_order_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_trials_package_id_packages")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["organisations.id"], name=op.f("fk_trials_provider_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["package_versions.id"],
            name=op.f("fk_trials_version_id_package_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint("enterprise_id", "package_id", name="uq_trials_enterprise_package"),
    )
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trials_package_id"), ["package_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trials_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index("ix_trials_status_ends_at", ["status", "ends_at"], unique=False)

    op.create_table(
        "trial_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "live",
                "ended",
                "converted",
                "cancelled",
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
                "live",
                "ended",
                "converted",
                "cancelled",
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
                "start",
                "end",
                "convert",
                "cancel",
                name="trialevent",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_trial_status_changes_actor_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name=op.f("fk_trial_status_changes_trial_id_trials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_status_changes")),
    )
    with op.batch_alter_table("trial_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trial_status_changes_trial_id"), ["trial_id"], unique=False
        )

    with op.batch_alter_table("package_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_days", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("trial_price_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("trial_limits", sa.Text(), server_default="", nullable=False))
        batch_op.create_check_constraint(
            batch_op.f("ck_package_versions_trial_days_range"),
            "trial_days IS NULL OR (trial_days >= 1 AND trial_days <= 90)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_package_versions_trial_price_not_negative"), "trial_price_fen >= 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_package_versions_trial_price_below_entry"),
            "trial_price_fen = 0 OR published_at IS NULL OR trial_price_fen < entry_price_fen",
        )

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_order_lines_kind_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_order_lines_kind_known"), "kind IN ('package', 'integration', 'trial')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM trial_status_changes")
    op.execute("DELETE FROM trials")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_order_lines_kind_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_order_lines_kind_known"), "kind IN ('package', 'integration')"
        )
    with op.batch_alter_table("package_versions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_package_versions_trial_price_below_entry"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("ck_package_versions_trial_price_not_negative"), type_="check"
        )
        batch_op.drop_constraint(batch_op.f("ck_package_versions_trial_days_range"), type_="check")
        batch_op.drop_column("trial_limits")
        batch_op.drop_column("trial_price_fen")
        batch_op.drop_column("trial_days")

    with op.batch_alter_table("trial_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trial_status_changes_trial_id"))

    op.drop_table("trial_status_changes")
    with op.batch_alter_table("trials", schema=None) as batch_op:
        batch_op.drop_index("ix_trials_status_ends_at")
        batch_op.drop_index(batch_op.f("ix_trials_provider_id"))
        batch_op.drop_index(batch_op.f("ix_trials_package_id"))

    op.drop_table("trials")
