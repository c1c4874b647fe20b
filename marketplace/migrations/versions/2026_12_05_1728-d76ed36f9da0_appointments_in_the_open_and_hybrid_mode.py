"""appointments in the open and hybrid mode

Integrator appointments become rows that say how each was chosen (programme_appointments and
their applicants); the bare programme_integrators association is moved into them, each with
the reason that it was made before appointments were recorded and the programme's own dates
as its term. Programmes may be in hybrid mode, with the floor of the pro-rated integration
fee; bundles remember the swaps made under a hybrid programme, and order lines the
integrator that routed them.

Revision ID: d76ed36f9da0
Revises: 360419eeb96e
Create Date: 2026-12-05 17:28:30.257138
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import marketplace.db

revision: str = "d76ed36f9da0"
down_revision: str | None = "360419eeb96e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MODES_BEFORE = ("open", "integrator")
MODES_AFTER = ("open", "integrator", "hybrid")
MOVED_REASON = "在平台记录委任过程之前委任"  # appointed before appointments were recorded


def _mode_check(batch_op, modes):
    batch_op.drop_constraint(batch_op.f("ck_voucher_programmes_programmemode"), type_="check")
    batch_op.create_check_constraint("programmemode", sa.column("mode").in_(modes))


def upgrade() -> None:
    op.create_table(
        "programme_appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("integrator_id", sa.Integer(), nullable=False),
        sa.Column("call_reference", sa.String(length=60), nullable=False),
        sa.Column("call_title", sa.String(length=200), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=False),
        sa.Column("integration_fee_cap_bp", sa.Integer(), nullable=False),
        sa.Column("appointed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", marketplace.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", marketplace.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "length(trim(reason)) > 0", name=op.f("ck_programme_appointments_reason_given")
        ),
        sa.CheckConstraint(
            "term_start <= term_end", name=op.f("ck_programme_appointments_term_in_order")
        ),
        sa.CheckConstraint(
            "integration_fee_cap_bp BETWEEN 0 AND 10000",
            name=op.f("ck_programme_appointments_integration_fee_cap_range"),
        ),
        sa.CheckConstraint(
            "(ended_at IS NULL) = (end_reason IS NULL)",
            name=op.f("ck_programme_appointments_ended_with_a_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["appointed_by_id"],
            ["users.id"],
            name=op.f("fk_programme_appointments_appointed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["integrator_id"],
            ["organisations.id"],
            name=op.f("fk_programme_appointments_integrator_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["voucher_programmes.id"],
            name=op.f("fk_programme_appointments_programme_id_voucher_programmes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_appointments")),
    )
    with op.batch_alter_table("programme_appointments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_programme_appointments_programme_id"), ["programme_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_programme_appointments_integrator_id"), ["integrator_id"], unique=False
        )
    op.create_table(
        "appointment_applicants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "score BETWEEN 0 AND 100", name=op.f("ck_appointment_applicants_score_range")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["programme_appointments.id"],
            name=op.f("fk_appointment_applicants_appointment_id_programme_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_appointment_applicants_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_applicants")),
        sa.UniqueConstraint(
            "appointment_id",
            "provider_id",
            name=op.f("uq_appointment_applicants_appointment_id_provider_id"),
        ),
    )
    with op.batch_alter_table("appointment_applicants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appointment_applicants_appointment_id"),
            ["appointment_id"],
            unique=False,
        )

    # the bare association, moved into appointments with the programme's dates as their term
    conn = op.get_bind()
    programmes = sa.table(
        "voucher_programmes",
        sa.column("id", sa.Integer()),
        sa.column("issue_from", sa.Date()),
        sa.column("redeem_by", sa.Date()),
        sa.column("created_at", marketplace.db.UTCDateTime(timezone=True)),
    )
    bare = sa.table(
        "programme_integrators",
        sa.column("programme_id", sa.Integer()),
        sa.column("integrator_id", sa.Integer()),
    )
    appointments = sa.table(
        "programme_appointments",
        sa.column("programme_id", sa.Integer()),
        sa.column("integrator_id", sa.Integer()),
        sa.column("call_reference", sa.String()),
        sa.column("call_title", sa.String()),
        sa.column("criteria", sa.Text()),
        sa.column("reason", sa.Text()),
        sa.column("term_start", sa.Date()),
        sa.column("term_end", sa.Date()),
        sa.column("integration_fee_cap_bp", sa.Integer()),
        sa.column("created_at", marketplace.db.UTCDateTime(timezone=True)),
    )
    rows = conn.execute(
        sa.select(
            bare.c.programme_id,
            bare.c.integrator_id,
            programmes.c.issue_from,
            programmes.c.redeem_by,
            programmes.c.created_at,
        ).join(programmes, programmes.c.id == bare.c.programme_id)
    ).all()
    for row in rows:
        conn.execute(
            appointments.insert().values(
                programme_id=row.programme_id,
                integrator_id=row.integrator_id,
                call_reference="",
                call_title="",
                criteria="",
                reason=MOVED_REASON,
                term_start=row.issue_from,
                term_end=row.redeem_by,
                integration_fee_cap_bp=10000,
                created_at=row.created_at,
            )
        )
    op.drop_table("programme_integrators")

    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hybrid_fee_floor_bp", sa.Integer(), server_default="5000", nullable=False)
        )
        batch_op.create_check_constraint(
            "hybrid_fee_floor", "hybrid_fee_floor_bp BETWEEN 0 AND 10000"
        )
        _mode_check(batch_op, MODES_AFTER)

    with op.batch_alter_table("bundles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hybrid_programme_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_bundles_hybrid_programme_id_voucher_programmes"),
            "voucher_programmes",
            ["hybrid_programme_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces_package_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_bundle_items_replaces_package_id_packages"),
            "packages",
            ["replaces_package_id"],
            ["id"],
        )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integrator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_order_lines_integrator_id_organisations"),
            "organisations",
            ["integrator_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_order_lines_integrator_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_column("integrator_id")
    with op.batch_alter_table("bundle_items", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_bundle_items_replaces_package_id_packages"), type_="foreignkey"
        )
        batch_op.drop_column("replaces_package_id")
    with op.batch_alter_table("bundles", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_bundles_hybrid_programme_id_voucher_programmes"), type_="foreignkey"
        )
        batch_op.drop_column("hybrid_programme_id")
    op.execute("UPDATE voucher_programmes SET mode = 'integrator' WHERE mode = 'hybrid'")
    with op.batch_alter_table("voucher_programmes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_voucher_programmes_hybrid_fee_floor"), type_="check"
        )
        batch_op.drop_column("hybrid_fee_floor_bp")
        _mode_check(batch_op, MODES_BEFORE)

    op.create_table(
        "programme_integrators",
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("integrator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integrator_id"],
            ["organisations.id"],
            name=op.f("fk_programme_integrators_integrator_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["voucher_programmes.id"],
            name=op.f("fk_programme_integrators_programme_id_voucher_programmes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "programme_id", "integrator_id", name=op.f("pk_programme_integrators")
        ),
    )
    # appointments not ended go back into the bare association (their records are lost)
    op.execute(
        "INSERT INTO programme_integrators (programme_id, integrator_id)"
        " SELECT DISTINCT programme_id, integrator_id FROM programme_appointments"
        " WHERE ended_at IS NULL"
    )
    with op.batch_alter_table("appointment_applicants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_applicants_appointment_id"))
    op.drop_table("appointment_applicants")
    with op.batch_alter_table("programme_appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_appointments_integrator_id"))
        batch_op.drop_index(batch_op.f("ix_programme_appointments_programme_id"))
    op.drop_table("programme_appointments")
