"""`flask seed-demo`: realistic, valid, deterministic, and careful with existing data."""

import pytest
from sqlalchemy import func, select

from marketplace import create_app, migrate
from marketplace.accounts import credit_code
from marketplace.accounts.models import Organisation, OrgKind, ProviderType
from marketplace.config import TestConfig
from marketplace.db import db, make_engine, utcnow
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.payments.models import Invoice, InvoiceKind
from marketplace.vouchers.models import Reservation, ReservationStatus, VoucherProgramme

pytestmark = pytest.mark.slow


def seeded_app(path):
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return create_app(TestConfig(url))


def snapshot(app):
    with app.app_context():
        rows = db.session.execute(
            select(Organisation.kind, Organisation.name, Organisation.credit_code).order_by(
                Organisation.id
            )
        )
        return [tuple(r) for r in rows]


def test_seed_demo(tmp_path, monkeypatch):
    app = seeded_app(tmp_path / "a.sqlite3")
    # the real command, on a database of its own that the suite's savepoints do not wrap
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output

    with app.app_context():
        by_kind = dict(
            db.session.execute(
                select(Organisation.kind, func.count()).group_by(Organisation.kind)
            ).all()
        )
        assert by_kind[OrgKind.AGENCY] >= 2 and by_kind[OrgKind.ASSESSOR] >= 1
        assert by_kind[OrgKind.PROVIDER] >= 25 and by_kind[OrgKind.ENTERPRISE] >= 120
        orgs = db.session.scalars(select(Organisation)).all()
        assert all(credit_code.is_valid(o.credit_code) for o in orgs if o.credit_code)
        assert {o.provider_type for o in orgs if o.kind is OrgKind.PROVIDER} == set(ProviderType)
        assert {o.industry_code for o in orgs if o.kind is OrgKind.ENTERPRISE} >= {
            "machining",
            "textile",
            "electronics",
            "food",
            "auto_parts",
            "furniture",
            "hardware",
        }
        names = {o.name for o in orgs}
        assert {"石家庄市工业和信息化局", "厦门市工业和信息化局"} <= names
        # Shijiazhuang's programme cools off for 7 days; one line is inside the period
        sjz = db.session.scalar(
            select(VoucherProgramme).where(VoucherProgramme.name.like("石家庄市2026%"))
        )
        assert sjz is not None and sjz.cooling_off_days == 7
        cooling = db.session.execute(
            select(Reservation, OrderLine.status)
            .join(OrderLine, OrderLine.id == Reservation.order_line_id)
            .where(Reservation.cooling_off_until > utcnow())
        ).all()
        assert [(r.status, status) for r, status in cooling] == [
            (ReservationStatus.RESERVED, LineStatus.IN_DELIVERY)
        ]
        assert len({o.size_tier for o in orgs if o.kind is OrgKind.ENTERPRISE}) >= 3
        # invoices only for lines the enterprise accepted (验收), each with its due date and
        # the parties' details of its issue
        billed = db.session.execute(
            select(OrderLine.status, Invoice)
            .join(Invoice, Invoice.order_line_id == OrderLine.id)
            .where(Invoice.kind == InvoiceKind.CO_PAYMENT)
        ).all()
        assert billed and {status for status, _ in billed} == {LineStatus.COMPLETED}
        assert all(
            i.due_on and i.seller_credit_code and i.buyer_credit_code and i.seller_bank_account
            for _, i in billed
        )

    refused = runner.invoke(args=["seed-demo"])
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert runner.invoke(args=["seed-demo", "--if-empty"]).exit_code == 0
    logins = runner.invoke(args=["demo-logins"]).output
    assert "official@sjz.demo" in logins and "zhuanxing2026" in logins

    first = snapshot(app)
    assert runner.invoke(args=["seed-demo", "--reset"]).exit_code == 0
    assert snapshot(app) == first  # deterministic

    other = seeded_app(tmp_path / "b.sqlite3")
    assert other.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    assert snapshot(other) == first


def test_reset_is_refused_outside_demo_databases(tmp_path):
    app = seeded_app(tmp_path / "c.sqlite3")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    app.config["DEMO_RESET_ALLOWED"] = False
    refused = runner.invoke(args=["seed-demo", "--reset"])
    assert refused.exit_code == 1 and "DEMO_RESET_ALLOWED" in refused.output


def test_demo_catalogue(tmp_path):
    from marketplace.catalog import curated_bundles
    from marketplace.catalog import services as catalog
    from marketplace.catalog.models import Category, PlanKind, PricePlan
    from marketplace.pool.models import PoolMembership, PoolStatus

    app = seeded_app(tmp_path / "d.sqlite3")
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        rows, visible = catalog.catalogue(limit=1000)
        assert visible >= 150
        assert {v.category_code for v in rows} == set(db.session.scalars(select(Category.code)))
        kinds = {p.kind for v in rows for p in v.plans}
        assert kinds == set(PlanKind)
        assert all(v.plans and v.interfaces for v in rows)
        assert len(curated_bundles.public_bundles()) >= 8
        statuses = set(db.session.scalars(select(PoolMembership.status)))
        assert statuses == set(PoolStatus)
        outcome = db.session.scalars(
            select(PricePlan).where(PricePlan.kind == PlanKind.OUTCOME)
        ).all()
        assert {p.fee_rule.value for p in outcome} == {"fixed", "per_unit"}

        from marketplace.catalog.models import Review
        from marketplace.diagnosis.models import Diagnosis
        from marketplace.orders.models import (
            Bundle,
            LineStatus,
            OrderLine,
            Ticket,
        )

        assert set(db.session.scalars(select(OrderLine.status))) == set(LineStatus)
        for model in (Diagnosis, Bundle, Review, Ticket):
            assert db.session.scalar(select(func.count()).select_from(model)) > 0, model

        from marketplace.audit import ACTION_LABELS, AuditEntry

        actions = set(db.session.scalars(select(AuditEntry.action).distinct()))
        assert actions and actions <= set(ACTION_LABELS), actions - set(ACTION_LABELS)
