"""Usage reported by a provider's platform: the same record posted 20 times at once is stored
once, and the month's billing run twice at once bills it once."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts import api_tokens
from marketplace.accounts.models import Organisation
from marketplace.catalog import services as catalog
from marketplace.db import db, local_today
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.outcomes.models import UsageRecord
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from tests import factories
from tests.concurrency.conftest import in_parallel
from tests.functional.catalog_helpers import FIELDS

SYSTEM = Actor(None, None, None)
USAGE = catalog.PlanFields(
    kind="usage", name="按调用量", usage_unit="report_calls", unit_price_fen=50, included_quantity=0
)


def one_usage_line(app: Flask, tag: str) -> dict[str, Any]:
    """An enterprise's accepted line on a usage plan. Committed for real."""
    with app.app_context():
        factories.bind(db.session)
        agency = factories.OrganisationFactory(agency=True)
        provider = factories.OrganisationFactory(provider=True)
        seller = factories.UserFactory(org=provider, email=f"seller@{tag}.cn")
        db.session.add(
            PoolMembership(
                provider=provider,
                agency=agency,
                status=PoolStatus.ADMITTED,
                years_in_business=5,
                reference_customer_count=3,
                reference_customers="甲",
                capability_statement="能力",
                contact_name="王工",
                contact_phone="138",
                contact_email="bd@p.cn",
            )
        )
        enterprise = factories.OrganisationFactory()
        owner = factories.UserFactory(org=enterprise, email=f"owner@{tag}.cn")
        actor = Actor(seller.id, provider.id, None)
        package = catalog.create_package(provider, FIELDS, actor)
        catalog.add_plan(package, USAGE, actor)
        catalog.add_interface(package, "consumes", "opc_ua", "device_telemetry", actor)
        catalog.submit(package, actor)
        catalog.publish(package, actor)
        buyer = Actor(owner.id, enterprise.id, None)
        bundle = bundles.create(enterprise, "用量方案", buyer)
        bundles.add(bundle, package.id, None, buyer)
        line = orders.checkout(enterprise, bundle, buyer).lines[0]
        for event, kind in (
            (LineEvent.ACCEPT, "provider"),
            (LineEvent.START, "provider"),
            (LineEvent.DELIVER, "provider"),
            (LineEvent.ACCEPT_DELIVERY, "enterprise"),
        ):
            orders.transition(line, event, "", SYSTEM, kind)
        _token, plain = api_tokens.create(
            provider, "IoT", ["usage:write"], None, Actor(None, provider.id, None)
        )
        db.session.commit()
        return {"line_id": line.id, "provider_id": provider.id, "token": plain}


def test_the_same_usage_record_posted_20_times_at_once_is_stored_once(race_app: Flask) -> None:
    data = one_usage_line(race_app, "usage20")
    today = local_today().isoformat()
    body = {
        "external_id": "IOT-2026-0001",
        "metric": "report_calls",
        "quantity": 1200,
        "period_start": today,
        "period_end": today,
    }

    def post(_i: int) -> tuple[int, int]:
        response = race_app.test_client().post(
            f"/api/v1/subscriptions/{data['line_id']}/usage",
            json=body,
            headers={"Authorization": f"Bearer {data['token']}"},
        )
        return response.status_code, (response.json or {}).get("id")

    results = in_parallel(post, 20)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201], results
    assert len({record_id for _, record_id in results}) == 1, results
    with race_app.app_context():
        stored = db.session.scalar(
            select(func.count(UsageRecord.id)).where(UsageRecord.order_line_id == data["line_id"])
        )
        assert stored == 1
        assert db.session.get(Organisation, data["provider_id"]) is not None


def test_two_billing_runs_at_once_bill_a_month_once(race_app: Flask) -> None:
    from datetime import datetime, time, timedelta

    from sqlalchemy import update

    from marketplace.db import LOCAL_ZONE, writing
    from marketplace.orders.models import OrderLine
    from marketplace.outcomes import usage
    from marketplace.outcomes.models import UsageStatement
    from marketplace.payments.models import Invoice

    data = one_usage_line(race_app, "bill2")
    first_of_last = (local_today().replace(day=1) - timedelta(days=1)).replace(day=1)
    with race_app.app_context(), writing():
        db.session.execute(
            update(OrderLine)
            .where(OrderLine.id == data["line_id"])
            .values(accepted_at=datetime.combine(first_of_last, time(12), LOCAL_ZONE))
        )
        line = db.session.get(OrderLine, data["line_id"])
        report = usage.Report("IOT-1", "report_calls", 3000, first_of_last, first_of_last)
        usage.report(line, report, Actor(None, data["provider_id"], None))
        db.session.commit()

    def bill(_i: int) -> int:
        with race_app.app_context(), writing():
            try:
                return usage.bill_line(data["line_id"], SYSTEM)
            finally:
                db.session.commit()

    results = in_parallel(bill, 4)
    assert sorted(r if isinstance(r, int) else -1 for r in results) in ([0, 0, 0, 1],), results
    with race_app.app_context():
        statements = list(db.session.scalars(select(UsageStatement)))
        assert len(statements) == 1 and statements[0].gross_fen == 3000 * 50
        invoices = db.session.scalar(
            select(func.count(Invoice.id)).where(Invoice.order_line_id == data["line_id"])
        )
        assert invoices == 1
