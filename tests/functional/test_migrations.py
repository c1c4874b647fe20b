"""Models and the migrated schema agree; migrations go down and up again."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marketplace import migrate
from marketplace.db import make_engine


def test_models_match_migrations(engine):
    migrate.check(engine)  # raises when autogenerate would find a difference


def test_downgrade_and_upgrade_again(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}")
    migrate.upgrade(engine)
    command.downgrade(migrate.alembic_config(engine), "base")
    migrate.upgrade(engine)
    migrate.check(engine)
    engine.dispose()


def test_audit_entries_are_append_only(connection):
    connection.execute(
        text(
            "INSERT INTO audit_entries (at, action, object_type, details) VALUES (CURRENT_TIMESTAMP, 'x', 'y', '{}')"
        )
    )
    for statement in ["UPDATE audit_entries SET action = 'changed'", "DELETE FROM audit_entries"]:
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
        savepoint.rollback()


def test_database_refuses_broken_organisations(connection):
    bad = [
        # an enterprise without its profile
        "INSERT INTO organisations (kind, name, created_at) VALUES ('enterprise', 'x', CURRENT_TIMESTAMP)",
        # a provider without a type
        "INSERT INTO organisations (kind, name, credit_code, created_at) VALUES ('provider', 'x', '91130100000000001X', CURRENT_TIMESTAMP)",
        # an unknown kind
        "INSERT INTO organisations (kind, name, created_at) VALUES ('pirate', 'x', CURRENT_TIMESTAMP)",
        # negative revenue
        "INSERT INTO organisations (kind, name, credit_code, industry_code, region_code, employees, annual_revenue_fen, created_at)"
        " VALUES ('enterprise', 'x', '91130100000000002X', 'machining', '130100', 5, -1, CURRENT_TIMESTAMP)",
    ]
    for statement in bad:
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError):
            connection.execute(text(statement))
        savepoint.rollback()


def test_database_refuses_broken_price_plans(connection):
    connection.execute(
        text(
            "INSERT INTO organisations (id, kind, name, credit_code, provider_type, created_at)"
            " VALUES (990001, 'provider', 'p', '913101000000000019', 'scenario', CURRENT_TIMESTAMP)"
        )
    )
    connection.execute(
        text(
            "INSERT INTO packages (id, provider_id, created_at) VALUES (990001, 990001, CURRENT_TIMESTAMP)"
        )
    )
    connection.execute(
        text(
            "INSERT INTO package_versions (id, package_id, number, status, title, summary, description,"
            " category_code, deployment, go_live_days, sla_response_hours, enterprise_provides, created_at)"
            " VALUES (990001, 990001, 1, 'draft', 't', 's', 'd', 'mes', 'saas', 7, 4, '', CURRENT_TIMESTAMP)"
        )
    )
    bad = [
        "INSERT INTO price_plans (version_id, position, kind, name, amount_fen) VALUES (990001, 0, 'one_time', 'x', -1)",
        "INSERT INTO price_plans (version_id, position, kind, name, amount_fen) VALUES (990001, 0, 'one_time', 'x', 10000000001)",
        "INSERT INTO price_plans (version_id, position, kind, name) VALUES (990001, 0, 'one_time', 'x')",
        "INSERT INTO price_plans (version_id, position, kind, name, monthly_fen, term_months) VALUES (990001, 0, 'subscription', 'x', 100, 0)",
        "INSERT INTO price_plans (version_id, position, kind, name, metric_code, target_kind, target_value, fee_rule,"
        " fee_per_unit_fen, fee_cap_fen, base_fee_fen, window_days)"
        " VALUES (990001, 0, 'outcome', 'x', 'oee', 'absolute', 5, 'per_unit', 100, 400, 500, 90)",
        "INSERT INTO price_plans (version_id, position, kind, name, target_kind, target_value, fee_rule,"
        " success_fee_fen, window_days) VALUES (990001, 0, 'outcome', 'x', 'absolute', 5, 'fixed', 100, 90)",
        "UPDATE package_versions SET go_live_days = 0 WHERE id = 990001",
        "UPDATE package_versions SET go_live_days = 731 WHERE id = 990001",
    ]
    for statement in bad:
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError):
            connection.execute(text(statement))
        savepoint.rollback()


def test_package_admission_backfills_the_versions_published_before_it(tmp_path):
    """Issue 22: versions published when admission review began are admitted in every
    programme there is (event ``backfill``), so the vouchers paying for them go on paying;
    drafts are not."""
    engine = make_engine(f"sqlite:///{tmp_path / 'backfill.sqlite3'}")
    migrate.upgrade(engine, "a3efc83c3308-1")  # the revision before package admission
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, kind, name, credit_code, provider_type,"
                " created_at) VALUES"
                " (1, 'agency', '石家庄市工业和信息化局', NULL, NULL, '2026-01-01 00:00:00'),"
                " (2, 'provider', '测试科技有限公司', '91130100MA0000000X', 'scenario',"
                " '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO packages (id, provider_id, created_at) VALUES"
                " (1, 2, '2026-01-01 00:00:00')"
            )
        )
        for vid, status in ((1, "published"), (2, "draft")):
            conn.execute(
                text(
                    "INSERT INTO package_versions (id, package_id, number, status, title,"
                    " summary, description, category_code, deployment, go_live_days,"
                    " sla_response_hours, enterprise_provides, created_at, published_at)"
                    " VALUES (:id, 1, :id, :status, '网关', '摘要', '说明',"
                    " 'equipment_networking', 'saas', 7, 4, '', '2026-01-01 00:00:00',"
                    " '2026-02-01 00:00:00')"
                ),
                {"id": vid, "status": status},
            )
        conn.execute(
            text(
                "INSERT INTO voucher_programmes (id, agency_id, name, status, mode, budget_fen,"
                " face_value_fen, rate_bp, cap_fen, industry_codes, size_tiers, region_codes,"
                " diagnosis_required, category_codes, plan_kinds, covers_success_fees,"
                " issue_from, redeem_by, issued_fen, created_at) VALUES (1, 1, '转型券', 'open',"
                " 'open', 100000, 10000, 5000, 10000, '[]', '[]', '[]', 0, '[]', '[]', 0,"
                " '2026-01-01', '2026-12-31', 0, '2026-01-01 00:00:00')"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT programme_id, version_id, state, event FROM package_admissions")
        ).all()
        history = conn.execute(text("SELECT to_state FROM package_admission_changes")).all()
    assert rows == [(1, 1, "admitted", "backfill")]
    assert history == [("admitted",)]
    engine.dispose()


def test_order_lines_get_their_orders_enterprise(tmp_path):
    """Issue 19: each line existing before the enterprise was copied onto lines gets its
    order's; from then on the database refuses a line whose enterprise is not its order's."""
    engine = make_engine(f"sqlite:///{tmp_path / 'lines.sqlite3'}")
    migrate.upgrade(engine, "304645ec402c-1")  # the revision before the lines' enterprise
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, kind, name, credit_code, industry_code,"
                " region_code, employees, annual_revenue_fen, provider_type, created_at) VALUES"
                " (1, 'enterprise', '甲机械', '91130100000000001X', 'machining', '130100', 5,"
                " 100, NULL, '2026-01-01 00:00:00'),"
                " (2, 'enterprise', '乙电子', '91130100000000002X', 'machining', '130100', 5,"
                " 100, NULL, '2026-01-01 00:00:00'),"
                " (3, 'provider', '测试科技有限公司', '91130100MA0000000X', NULL, NULL, NULL,"
                " NULL, 'scenario', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO orders (id, number, enterprise_id, created_at) VALUES"
                " (1, 'ZX-1', 1, '2026-01-01 00:00:00'), (2, 'ZX-2', 2, '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO order_lines (id, order_id, kind, provider_id, title, plan_kind,"
                " plan_name, committed_fen, status, created_at) VALUES"
                " (1, 1, 'integration', 3, '集成服务', 'one_time', '一次性', 100, 'accepted',"
                " '2026-01-01 00:00:00'),"
                " (2, 2, 'integration', 3, '集成服务', 'one_time', '一次性', 100, 'accepted',"
                " '2026-01-01 00:00:00'),"
                " (3, 1, 'integration', 3, '集成服务', 'one_time', '一次性', 100, 'accepted',"
                " '2026-01-01 00:00:00')"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, enterprise_id FROM order_lines ORDER BY id")).all()
        assert rows == [(1, 1), (2, 2), (3, 1)]
        with pytest.raises(DBAPIError):  # a line of order 1 said to be enterprise 2's
            conn.execute(
                text(
                    "INSERT INTO order_lines (order_id, enterprise_id, kind, provider_id, title,"
                    " plan_kind, plan_name, committed_fen, status, created_at) VALUES"
                    " (1, 2, 'integration', 3, '集成服务', 'one_time', '一次性', 100,"
                    " 'accepted', '2026-01-01 00:00:00')"
                )
            )
    engine.dispose()
