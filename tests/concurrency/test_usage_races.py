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
from marketplace.outcomes.models import UsageRecord
from marketplace.security import Actor
from tests.concurrency.conftest import (
    SYSTEM,
    advance,
    bought,
    in_parallel,
    posted_at_once,
)

USAGE = catalog.PlanFields(
    kind="usage", name="按调用量", usage_unit="report_calls", unit_price_fen=50, included_quantity=0
)


def one_usage_line(app: Flask, tag: str) -> dict[str, Any]:
    """An enterprise's accepted line on a usage plan. Committed for real."""
    with app.app_context():
        line, _seller, _buyer = bought(tag, USAGE, "用量方案")
        advance(line)
        _token, plain = api_tokens.create(
            line.provider, "IoT", ["usage:write"], None, Actor(None, line.provider_id, None)
        )
        db.session.commit()
        return {"line_id": line.id, "provider_id": line.provider_id, "token": plain}


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

    url = f"/api/v1/subscriptions/{data['line_id']}/usage"
    posted_at_once(race_app, url, body, data["token"])
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
