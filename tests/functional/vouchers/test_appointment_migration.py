"""The migration of issue 22 moves the bare programme_integrators rows into appointments, each
with the reason that it was made before appointments were recorded and the programme's dates
as its term; and moves them back on downgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from marketplace import migrate
from marketplace.db import make_engine
from tests.factories import make_credit_code

BEFORE = "ff0df1e5ac8a"
AFTER = "d76ed36f9da0"


def test_bare_appointments_become_recorded_ones(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'appointments.sqlite3'}")
    migrate.upgrade(engine, BEFORE)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, kind, name, credit_code, provider_type, created_at)"
                " VALUES (1, 'agency', '厦门市工信局', NULL, NULL, '2026-01-01 00:00:00'),"
                " (2, 'provider', '集成商甲', :code, 'integrator', '2026-01-01 00:00:00')"
            ),
            {"code": make_credit_code(7, "350203")},
        )
        conn.execute(
            text(
                "INSERT INTO voucher_programmes (id, agency_id, name, status, mode, budget_fen,"
                " face_value_fen, rate_bp, cap_fen, industry_codes, size_tiers, region_codes,"
                " diagnosis_required, category_codes, plan_kinds, covers_success_fees,"
                " issue_from, redeem_by, issued_fen, created_at)"
                " VALUES (1, 1, '集成模式试点', 'open', 'integrator', 100000, 10000, 5000, 10000,"
                " '[]', '[]', '[]', 0, '[]', '[]', 0, '2026-03-01', '2026-12-31', 0,"
                " '2026-02-01 00:00:00')"
            )
        )
        conn.execute(text("INSERT INTO programme_integrators VALUES (1, 2)"))
    migrate.upgrade(engine, AFTER)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT programme_id, integrator_id, reason, term_start, term_end,"
                " integration_fee_cap_bp, ended_at FROM programme_appointments"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 2, "在平台记录委任过程之前委任", "2026-03-01", "2026-12-31", 10000, None)
    ]
    command.downgrade(migrate.alembic_config(engine), BEFORE)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT programme_id, integrator_id FROM programme_integrators"))
        assert [tuple(r) for r in back] == [(1, 2)]
    engine.dispose()
