"""The migration that keeps the routing integrator on the order line alone: a line ordered
before order lines recorded it takes it from its reservations, then the reservations' column
goes; a downgrade gives checkout's reservations their line's integrator back."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from marketplace import migrate
from marketplace.db import make_engine

BEFORE = "0f9da726ee14"
AFTER = "f16503d3da04"

# The parents the foreign keys ask for (plain organisations stand in for every party: the
# migration reads nothing else of them), then two lines of one routed order (routed by organisation 9; line 2 already knows it), a line
# ordered alone, and a reservation each (line 1: a checkout's and a usage month's).
PARENTS = [
    "INSERT INTO organisations (id, kind, name, created_at) VALUES"
    " (1, 'agency', '工信局', '2026-01-01'), (9, 'agency', '集成商', '2026-01-01')",
    "INSERT INTO voucher_programmes (id, agency_id, name, status, mode, budget_fen,"
    " face_value_fen, rate_bp, cap_fen, industry_codes, size_tiers, region_codes,"
    " diagnosis_required, category_codes, plan_kinds, covers_success_fees, issue_from,"
    " redeem_by, issued_fen, created_at) VALUES (1, 1, '试点', 'open', 'integrator', 1000,"
    " 100, 5000, 100, '[]', '[]', '[]', 0, '[]', '[]', 0, '2026-01-01', '2026-12-31', 100,"
    " '2026-01-01')",
    "INSERT INTO vouchers (id, code, programme_id, enterprise_id, seq, face_value_fen, cap_fen,"
    " reserved_fen, redeemed_fen, settled_fen, expired_fen, clawed_back_fen, revoked_fen,"
    " status, issued_at) VALUES (1, 'V1', 1, 1, 1, 100, 100, 0, 0, 0, 0, 0, 0, 'active',"
    " '2026-01-01')",
    "INSERT INTO orders (id, number, enterprise_id, created_at) VALUES (1, 'ZX1', 1, '2026-01-01')",
]
LINES = "INSERT INTO order_lines (id, order_id, kind, provider_id, title, plan_kind, plan_name,"
LINES += " committed_fen, status, created_at, integrator_id) VALUES (:id, 1, 'integration',"
LINES += " 1, 'MES', 'one_time', '买断', 100, 'placed', '2026-01-01', :integrator)"
RESERVATIONS = "INSERT INTO voucher_reservations (id, voucher_id, programme_id, order_line_id,"
RESERVATIONS += " provider_id, enterprise_id, amount_fen, line_amount_fen, is_integration,"
RESERVATIONS += " status, held, created_at, for_success_fee, period, integrator_id) VALUES"
RESERVATIONS += " (:id, 1, 1, :line, 1, 1, 50, 100, 0, 'reserved', 0, '2026-01-01', 0,"
RESERVATIONS += " :period, :integrator)"


def test_the_routing_integrator_moves_to_the_order_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'routing.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine, BEFORE)
    with engine.connect() as conn:
        for statement in PARENTS:
            conn.execute(text(statement))
        for line, integrator in ((1, None), (2, 9), (3, None)):
            conn.execute(text(LINES), {"id": line, "integrator": integrator})
        for rid, line, period, integrator in ((1, 1, 0, 9), (2, 1, 202601, None), (3, 2, 0, 9)):
            conn.execute(
                text(RESERVATIONS),
                {"id": rid, "line": line, "period": period, "integrator": integrator},
            )
        conn.execute(text(RESERVATIONS), {"id": 4, "line": 3, "period": 0, "integrator": None})
        conn.commit()
    migrate.upgrade(engine, AFTER)
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT id, integrator_id FROM order_lines ORDER BY id"))
        assert [tuple(r) for r in lines] == [(1, 9), (2, 9), (3, None)]
    columns = {c["name"] for c in inspect(engine).get_columns("voucher_reservations")}
    assert "integrator_id" not in columns
    command.downgrade(migrate.alembic_config(engine), BEFORE)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT id, integrator_id FROM voucher_reservations ORDER BY id"))
        # a usage month's reservation was never written with it
        assert [tuple(r) for r in back] == [(1, 9), (2, None), (3, 9), (4, None)]
    engine.dispose()
