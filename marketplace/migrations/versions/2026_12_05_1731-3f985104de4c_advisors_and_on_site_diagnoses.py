"""Advisors (数字化顾问): an organisation kind with a credit code, their pool memberships
and on-site diagnosis requests with findings, history and a rating

Revision ID: 3f985104de4c
Revises: a3efc83c3308
Create Date: 2026-12-05 17:31:17.738336
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "3f985104de4c"
down_revision: str | None = "a3efc83c3308"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


KINDS = "'enterprise', 'provider', 'agency', 'assessor', 'platform'"


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_organisations_orgkind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_organisations_orgkind"), f"kind IN ({KINDS}, 'advisor')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_organisations_advisor_has_credit_code"),
            "kind <> 'advisor' OR credit_code IS NOT NULL",
        )
        batch_op.create_unique_constraint(batch_op.f("uq_organisations_id_kind"), ["id", "kind"])
    # Only a provider lists packages: a package carries its lister's kind, checked against
    # the organisation by a composite foreign key.
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "provider_kind", sa.String(length=20), server_default="provider", nullable=False
            )
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_packages_listed_by_a_provider"), "provider_kind = 'provider'"
        )
        batch_op.create_foreign_key(
            "fk_packages_provider_id_kind_organisations",
            "organisations",
            ["provider_id", "provider_kind"],
            ["id", "kind"],
        )
    op.create_table(
        "advisor_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "applied",
                "admitted",
                "rejected",
                "suspended",
                "exited",
                name="poolstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("years_of_experience", sa.Integer(), nullable=False),
        sa.Column("expertise", sa.Text(), nullable=False),
        sa.Column("certifications", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_phone", sa.String(length=30), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("applied_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "advisor_id <> agency_id", name=op.f("ck_advisor_memberships_distinct_orgs")
        ),
        sa.CheckConstraint(
            "years_of_experience BETWEEN 0 AND 80", name=op.f("ck_advisor_memberships_years_sane")
        ),
        sa.ForeignKeyConstraint(
            ["advisor_id"],
            ["organisations.id"],
            name=op.f("fk_advisor_memberships_advisor_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["organisations.id"],
            name=op.f("fk_advisor_memberships_agency_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_memberships")),
        sa.UniqueConstraint(
            "advisor_id", "agency_id", name=op.f("uq_advisor_memberships_advisor_id_agency_id")
        ),
    )
    with op.batch_alter_table("advisor_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisor_memberships_advisor_id"), ["advisor_id"], unique=False
        )
        batch_op.create_index(
            "ix_advisor_memberships_agency_id_status", ["agency_id", "status"], unique=False
        )

    op.create_table(
        "advisor_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "applied",
                "admitted",
                "rejected",
                "suspended",
                "exited",
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
                "applied",
                "admitted",
                "rejected",
                "suspended",
                "exited",
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
                "apply",
                "admit",
                "reject",
                "suspend",
                "reinstate",
                "exit",
                "reapply",
                name="poolevent",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_advisor_status_changes_actor_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["advisor_memberships.id"],
            name=op.f("fk_advisor_status_changes_membership_id_advisor_memberships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_status_changes")),
    )
    with op.batch_alter_table("advisor_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisor_status_changes_membership_id"), ["membership_id"], unique=False
        )

    op.create_table(
        "advisor_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("diagnosis_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "accepted",
                "declined",
                "visited",
                "closed",
                name="visitstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("preferred_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=False),
        sa.Column("recommendations", sa.Text(), nullable=False),
        sa.Column("visited_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=False),
        sa.Column("rated_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(rating IS NULL) = (rated_at IS NULL)",
            name=op.f("ck_advisor_visits_rating_with_its_time"),
        ),
        sa.CheckConstraint(
            "advisor_id <> enterprise_id", name=op.f("ck_advisor_visits_distinct_orgs")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_advisor_visits_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["advisor_id"],
            ["organisations.id"],
            name=op.f("fk_advisor_visits_advisor_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["organisations.id"],
            name=op.f("fk_advisor_visits_agency_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["diagnosis_id"],
            ["diagnoses.id"],
            name=op.f("fk_advisor_visits_diagnosis_id_diagnoses"),
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["organisations.id"],
            name=op.f("fk_advisor_visits_enterprise_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_visits")),
    )
    with op.batch_alter_table("advisor_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_advisor_visits_advisor_id_status", ["advisor_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_advisor_visits_diagnosis_id"), ["diagnosis_id"], unique=False
        )
        batch_op.create_index("ix_advisor_visits_enterprise_id", ["enterprise_id"], unique=False)

    op.create_table(
        "advisor_visit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "requested",
                "accepted",
                "declined",
                "visited",
                "closed",
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
                "requested",
                "accepted",
                "declined",
                "visited",
                "closed",
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
                "request",
                "accept",
                "decline",
                "record_findings",
                "rate",
                name="visitevent",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_advisor_visit_changes_actor_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["advisor_visits.id"],
            name=op.f("fk_advisor_visit_changes_visit_id_advisor_visits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_visit_changes")),
    )
    with op.batch_alter_table("advisor_visit_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_advisor_visit_changes_visit_id"), ["visit_id"], unique=False
        )

    op.create_table(
        "advisor_visit_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("score_adjustment", sa.Integer(), nullable=True),
        sa.Column(
            "priority",
            sa.Enum(
                "high",
                "medium",
                "low",
                name="priority",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "score_adjustment IS NULL OR score_adjustment BETWEEN -50 AND 50",
            name=op.f("ck_advisor_visit_findings_adjustment_range"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["advisor_visits.id"],
            name=op.f("fk_advisor_visit_findings_visit_id_advisor_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_visit_findings")),
        sa.UniqueConstraint(
            "visit_id", "dimension", name=op.f("uq_advisor_visit_findings_visit_id_dimension")
        ),
    )


def downgrade() -> None:
    op.drop_table("advisor_visit_findings")
    with op.batch_alter_table("advisor_visit_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisor_visit_changes_visit_id"))

    op.drop_table("advisor_visit_changes")
    with op.batch_alter_table("advisor_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_advisor_visits_enterprise_id")
        batch_op.drop_index(batch_op.f("ix_advisor_visits_diagnosis_id"))
        batch_op.drop_index("ix_advisor_visits_advisor_id_status")

    op.drop_table("advisor_visits")
    with op.batch_alter_table("advisor_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_advisor_status_changes_membership_id"))

    op.drop_table("advisor_status_changes")
    with op.batch_alter_table("advisor_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_advisor_memberships_agency_id_status")
        batch_op.drop_index(batch_op.f("ix_advisor_memberships_advisor_id"))

    op.drop_table("advisor_memberships")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_packages_provider_id_kind_organisations", type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("ck_packages_listed_by_a_provider"), type_="check")
        batch_op.drop_column("provider_kind")
    # The kinds' check keeps 'advisor': advisor organisations (their users, notifications
    # and audit entries refer to them) stay, and narrowing it would fail while one exists.
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_organisations_id_kind"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("ck_organisations_advisor_has_credit_code"), type_="check"
        )
