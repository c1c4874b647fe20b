"""Usage plans from listing to a paid monthly invoice: the provider lists a usage plan, the
enterprise orders it with a voucher, the provider's platform reports usage through the API,
the enterprise disputes a record, the month is rated and invoiced with the vouchers' share,
and the invoice is paid. Also every bad input of ingestion, and the web pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from marketplace.catalog import services as catalog
from marketplace.db import LOCAL_ZONE, local_today, utcnow
from marketplace.errors import DomainError
from marketplace.orders import services as orders
from marketplace.orders.models import OrderLine
from marketplace.outcomes import todos as outcome_todos
from marketplace.outcomes import usage
from marketplace.outcomes.models import UsageRecord, UsageStatement, UsageStatus
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceKind, InvoiceStatus
from marketplace.security import Actor
from marketplace.vouchers import ledger
from marketplace.vouchers.models import Reservation, ReservationStatus
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.api.test_api import call, token_for
from tests.functional.catalog_helpers import (
    agency_with_official,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.order_helpers import accept_delivery
from tests.functional.voucher_helpers import pilot

USAGE = catalog.PlanFields(
    kind="usage",
    name="按设备联网数计费",
    usage_unit="devices",
    unit_price_fen=10_00,
    included_quantity=100,
    minimum_fen=500_00,
    cap_fen=20_000_00,
    tiers="1001 = 8",
)


def previous_month() -> tuple[int, datetime]:
    """The month before this one (YYYYMM) and noon on its first day, in UTC."""
    first_of_this = local_today().replace(day=1)
    first_of_last = (first_of_this - timedelta(days=1)).replace(day=1)
    noon = datetime.combine(first_of_last, time(12), LOCAL_ZONE)
    return usage.month_of(first_of_last), noon


def usage_pilot(app, dbs, tag="u", **rules):
    p = pilot(app, dbs, tag=tag)
    package = published_package(app, dbs, p.provider, p.provider_owner, plans=(USAGE,))
    p.package = package
    programme = p.programme(plan_kinds=rules.pop("plan_kinds", ["usage"]), **rules)
    p.issue_to(programme)
    return p


def subscribed(app, dbs, p, since: datetime | None = None) -> OrderLine:
    """Ordered with vouchers, delivered and accepted (验收); accepted ``since`` if given."""
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        line = accept_delivery(order.lines[0])
    if since is not None:
        dbs.execute(update(OrderLine).where(OrderLine.id == line.id).values(accepted_at=since))
        dbs.commit()
        dbs.refresh(line)
    return line


def record(external_id, quantity, start, end=None, metric="devices"):
    return {
        "external_id": external_id,
        "metric": metric,
        "quantity": quantity,
        "period_start": start.isoformat(),
        "period_end": (end or start).isoformat(),
    }


def test_a_usage_plan_goes_from_listing_to_a_paid_monthly_invoice_with_a_voucher_share(
    client, app, dbs
):
    p = usage_pilot(app, dbs)
    # listed: the package page, the API and the catalogue's filter show the usage plan
    page = client.get(f"/packages/{p.package.id}", headers={"Accept-Language": "zh-CN"})
    assert "按使用量付费" in page.text or "按用量付费" in page.text
    plans = client.get(f"/api/v1/packages/{p.package.id}").json["plans"]
    assert plans[0]["kind"] == "usage" and plans[0]["unit"] == "devices"
    assert plans[0]["included_quantity"] == 100 and plans[0]["unit_price_fen"] == 1000
    assert plans[0]["tiers"] == [{"from_quantity": 1001, "unit_price_fen": 800}]
    assert plans[0]["minimum_fen"] == 500_00 and plans[0]["cap_fen"] == 20_000_00
    listed = client.get("/api/v1/packages?pricing=usage").json["items"]
    assert [item["id"] for item in listed] == [p.package.id]
    month, since = previous_month()
    line = subscribed(app, dbs, p, since)
    assert line.committed_fen == 0
    assert dbs.scalar(select(func.count(Invoice.id)).where(Invoice.order_line_id == line.id)) == 0

    token = token_for(app, dbs, p.provider, p.provider_owner, scopes=["usage:write"])
    day = usage.month_start(month)
    url = f"/subscriptions/{line.id}/usage"
    first = call(client, "POST", url, token, record("r-1", 1000, day, day + timedelta(days=9)))
    assert first.status_code == 201, first.json
    assert first.json["status"] == "counted" and first.json["month"] == usage.month_start(
        month
    ).strftime("%Y-%m")
    assert (
        call(client, "POST", url, token, record("r-2", 500, day + timedelta(days=10))).status_code
        == 201
    )
    wrong = call(client, "POST", url, token, record("r-3", 300, day + timedelta(days=11)))
    assert wrong.status_code == 201
    # the enterprise sees it as it arrives and disputes one record
    client.login(p.owner.email)
    page = client.get(f"/usage/lines/{line.id}")
    assert page.status_code == 200 and "r-1" in page.text and "r-3" in page.text
    r3 = dbs.scalar(select(UsageRecord).where(UsageRecord.external_id == "r-3"))
    answer = client.form(f"/usage/records/{r3.id}/dispute", {"reason": "当天设备未联网"})
    assert answer.status_code == 302
    dbs.refresh(r3)
    assert r3.status is UsageStatus.DISPUTED
    # the month waits while it is disputed
    with services(app, dbs):
        assert usage.bill_line(line.id, Actor(None, None, "job")) == 0
    # the provider accepts the dispute: the record is removed
    client.get("/logout")
    client.login(p.provider_owner.email)
    answer = client.form(f"/usage/records/{r3.id}/resolve", {"decision": "accept", "note": ""})
    assert answer.status_code == 302
    dbs.refresh(r3)
    assert r3.status is UsageStatus.REMOVED
    # the billing job rates the month: 100 included, 900 × ¥10, 500 × ¥8 = ¥13,000
    with services(app, dbs):
        assert usage.lines_due() == [line.id]
        assert usage.bill_line(line.id, Actor(None, None, "job")) == 1
        assert usage.bill_line(line.id, Actor(None, None, "job")) == 0  # safe to run twice
    statement = dbs.scalar(select(UsageStatement).where(UsageStatement.order_line_id == line.id))
    assert statement.month == month and statement.quantity == 1500
    assert statement.gross_fen == 13_000_00 and statement.voucher_fen == 6_500_00
    assert [row["kind"] for row in statement.computation] == ["included", "band", "band", "total"]
    assert statement.computation[1] == {
        "kind": "band",
        "from": 101,
        "to": 1000,
        "units": 900,
        "unit_price_fen": 1000,
        "amount_fen": 900_000,
    }
    invoice = dbs.get(Invoice, statement.invoice_id)
    assert invoice.kind is InvoiceKind.USAGE and invoice.period == month
    assert (invoice.gross_fen, invoice.voucher_fen, invoice.amount_fen) == (
        13_000_00,
        6_500_00,
        6_500_00,
    )
    assert invoice.status is InvoiceStatus.FINALISED and invoice.number
    reservation = dbs.scalar(select(Reservation).where(Reservation.order_line_id == line.id))
    assert reservation.status is ReservationStatus.REDEEMED and reservation.period == month
    assert reservation.amount_fen == 6_500_00
    # the statement line by line on the page
    page = client.get(f"/usage/lines/{line.id}")
    assert "第 101 至 1000 个单位：900 × " in page.text and "转型券支付" in page.text
    assert f"/invoices/{invoice.id}" in page.text
    # paid
    with services(app, dbs):
        payments.record_transfer(
            invoice,
            invoice.amount_fen,
            "BANK-USAGE-1",
            utcnow(),
            Actor(p.provider_owner.id, p.provider.id, None),
        )
    dbs.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID
    # a late record for the billed month is refused, nothing stored
    late = call(client, "POST", url, token, record("r-late", 5, day + timedelta(days=20)))
    assert late.status_code == 409 and late.mimetype == "application/problem+json"
    assert (
        "billed" in late.json["detail"]
        or "计费" in late.json["detail"]
        or "账" in late.json["detail"]
    )
    assert (
        dbs.scalar(select(func.count(UsageRecord.id)).where(UsageRecord.external_id == "r-late"))
        == 0
    )
    # and so is a dispute of a billed record
    r1 = dbs.scalar(select(UsageRecord).where(UsageRecord.external_id == "r-1"))
    assert r1.statement_id == statement.id
    with services(app, dbs), pytest.raises(DomainError):
        usage.dispute(r1, "太多", p.enterprise_actor)


def test_ingestion_is_idempotent_by_external_id(client, app, dbs):
    p = usage_pilot(app, dbs, tag="ui")
    line = subscribed(app, dbs, p)
    token = token_for(app, dbs, p.provider, p.provider_owner, scopes=["usage:write"])
    url = f"/subscriptions/{line.id}/usage"
    body = record("same", 7, local_today())
    assert call(client, "POST", url, token, body).status_code == 201
    again = call(client, "POST", url, token, body)
    assert again.status_code == 200 and again.json["quantity"] == 7
    other = call(client, "POST", url, token, {**body, "quantity": 8})
    assert other.status_code == 409 and other.mimetype == "application/problem+json"
    assert dbs.scalar(select(func.count(UsageRecord.id))) == 1


def test_bad_usage_is_refused_clearly_and_nothing_is_stored(client, app, dbs):
    p = usage_pilot(app, dbs, tag="ub")
    line = subscribed(app, dbs, p)
    token = token_for(app, dbs, p.provider, p.provider_owner, scopes=["usage:write"])
    url = f"/subscriptions/{line.id}/usage"
    today = local_today()
    cases = [
        ({**record("neg", -1, today)}, 422, "quantity"),
        ({**record("txt", 1, today), "quantity": "many"}, 422, "quantity"),
        ({**record("frac", 1, today), "quantity": 1.5}, 422, "quantity"),
        (record("metric", 1, today, metric="report_calls"), 422, "metric"),
        (record("before", 1, today - timedelta(days=40)), 422, "period_start"),
        (record("future", 1, today, today + timedelta(days=1)), 422, "period_start"),
        (record("reversed", 1, today, today - timedelta(days=1)), 422, "period_end"),
    ]
    for body, status, field in cases:
        answer = call(client, "POST", url, token, body)
        assert answer.status_code == status, (body, answer.json)
        assert answer.mimetype == "application/problem+json"
        assert field in {e["field"] for e in answer.json.get("errors") or []}, answer.json
    # wrong scope
    reader = token_for(app, dbs, p.provider, p.provider_owner, scopes=["orders:read"])
    answer = call(client, "POST", url, reader, record("scope", 1, today))
    assert answer.status_code == 403 and "usage:write" in answer.json["detail"]
    # another provider's line, and the enterprise of the line
    other, other_owner = provider_with_owner("other@ub.cn")
    stranger = token_for(app, dbs, other, other_owner, scopes=["usage:write"])
    assert call(client, "POST", url, stranger, record("x", 1, today)).status_code == 404
    enterprise = token_for(app, dbs, p.enterprise, p.owner, scopes=["usage:write"])
    assert call(client, "POST", url, enterprise, record("x", 1, today)).status_code == 403
    assert dbs.scalar(select(func.count(UsageRecord.id))) == 0


def test_usage_before_acceptance_and_on_other_plans_is_refused(client, app, dbs):
    p = usage_pilot(app, dbs, tag="ua")
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    token = token_for(app, dbs, p.provider, p.provider_owner, scopes=["usage:write"])
    answer = call(
        client,
        "POST",
        f"/subscriptions/{order.lines[0].id}/usage",
        token,
        record("early", 1, local_today()),
    )
    assert answer.status_code == 422 and "验收" in answer.json["detail"]
    assert dbs.scalar(select(func.count(UsageRecord.id))) == 0


def test_a_rejected_dispute_is_billed_and_needs_a_reason(client, app, dbs):
    p = usage_pilot(app, dbs, tag="ur", plan_kinds=["one_time"])  # vouchers pay nothing
    month, since = previous_month()
    line = subscribed(app, dbs, p, since)
    day = usage.month_start(month)
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        r, _created = usage.report(line, usage.Report("a", "devices", 50, day, day), provider)
        usage.dispute(r, "不对", p.enterprise_actor)
    with services(app, dbs):  # on the provider's to-do list until decided
        waiting = outcome_todos.for_provider(p.provider)
        assert [t.kind for t in waiting] == ["usage_disputed"]
    with services(app, dbs), pytest.raises(DomainError):
        usage.resolve(r, False, "  ", provider)
    with services(app, dbs):
        usage.resolve(r, False, "设备日志显示在线", provider)
        assert usage.bill_line(line.id, provider) == 1
        assert outcome_todos.for_provider(p.provider) == []
    statement = dbs.scalar(select(UsageStatement).where(UsageStatement.order_line_id == line.id))
    # 50 units, all included: the monthly minimum ¥500 is billed, no voucher share
    assert statement.quantity == 50 and statement.gross_fen == 500_00
    assert statement.voucher_fen == 0
    assert [row["kind"] for row in statement.computation] == ["included", "minimum", "total"]
    assert dbs.get(Invoice, statement.invoice_id).amount_fen == 500_00


def test_the_provider_lists_a_usage_plan_with_validation(client, app, dbs):
    provider, owner = provider_with_owner("lister@uv.cn")
    actor = Actor(owner.id, provider.id, None)
    with services(app, dbs):
        package = catalog.create_package(provider, catalog_fields(), actor)
    bad = [
        (replace(USAGE, usage_unit="apples"), "usage_unit"),
        (replace(USAGE, unit_price_fen=None), "unit_price"),
        (replace(USAGE, unit_price_fen=-1), "unit_price"),
        (replace(USAGE, included_quantity=-5), "included_quantity"),
        (replace(USAGE, minimum_fen=100_00, cap_fen=50_00), "cap"),
        (replace(USAGE, tiers="1 = 5"), "tiers"),
        (replace(USAGE, tiers="abc"), "tiers"),
        (replace(USAGE, tiers="500 = 1\n500 = 2"), "tiers"),
        (replace(USAGE, amount_fen=100), "amount"),
    ]
    for fields, field in bad:
        with services(app, dbs), pytest.raises(DomainError) as error:
            catalog.add_plan(package, fields, actor)
        assert error.value.field == field, fields
    client.login("lister@uv.cn")
    answer = client.form(
        f"/provider/packages/{package.id}/plans",
        {
            "kind": "usage",
            "name": "按调用量",
            "usage_unit": "report_calls",
            "unit_price": "0.50",
            "included_quantity": "1000",
            "minimum": "",
            "cap": "3000",
            "tiers": "10001 = 0.30",
        },
    )
    assert answer.status_code == 302, answer.text[:2000]
    dbs.expire_all()
    plan = package.latest.plans[0]
    assert plan.unit_price_fen == 50 and plan.cap_fen == 3000_00 and plan.minimum_fen is None
    assert [(t.from_quantity, t.unit_price_fen) for t in plan.tiers] == [(10001, 30)]


def catalog_fields():
    from tests.functional.catalog_helpers import FIELDS

    return FIELDS


def test_a_programme_that_does_not_allow_usage_plans_pays_nothing(client, app, dbs):
    p = usage_pilot(app, dbs, tag="un", plan_kinds=["subscription"])
    month, since = previous_month()
    line = subscribed(app, dbs, p, since)
    day = usage.month_start(month)
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        usage.report(line, usage.Report("a", "devices", 2000, day, day), provider)
        usage.bill_line(line.id, provider)
    statement = dbs.scalar(select(UsageStatement).where(UsageStatement.order_line_id == line.id))
    # 900 × ¥10 + 1000 × ¥8 = ¥17,000, under the ¥20,000 cap
    assert statement.gross_fen == 17_000_00 and statement.voucher_fen == 0
    assert dbs.get(Invoice, statement.invoice_id).amount_fen == 17_000_00


def test_other_organisations_do_not_see_the_usage_page(client, app, dbs):
    p = usage_pilot(app, dbs, tag="us")
    line = subscribed(app, dbs, p)
    other = OrganisationFactory()
    UserFactory(org=other, email="nosy@us.cn")
    client.login("nosy@us.cn")
    assert client.get(f"/usage/lines/{line.id}").status_code == 404


def test_officials_see_whether_subsidised_usage_subscriptions_are_used(client, app, dbs):
    from marketplace.oversight import usage_monitoring

    p = usage_pilot(app, dbs, tag="uo")
    last = usage.month_of(local_today().replace(day=1) - timedelta(days=1))
    first = usage_monitoring._previous(last, 3)
    since = datetime.combine(usage.month_start(first), time(12), LOCAL_ZONE)
    line = subscribed(app, dbs, p, since)
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        for n, quantity in enumerate((900, 800, 1000, 200)):  # fell away in the last month
            month = usage_monitoring._previous(last, 3 - n)
            day = usage.month_start(month)
            usage.report(line, usage.Report(f"m{n}", "devices", quantity, day, day), provider)
        assert usage.bill_line(line.id, provider) == 4
        assert ledger.check() == []  # four months, each within the rate on its own
    programme = dbs.scalar(select(Reservation.programme_id))
    client.login(p.official.email)
    page = client.get(f"/agency/programmes/{programme}/usage")
    assert page.status_code == 200
    assert "100%（1 个中 1 个）" in page.text and "使用量明显下滑" in page.text
    fading = page.text.split('id="fading"', 1)[1]
    assert p.enterprise.name in fading and "900" in fading and "200" in fading
    # another agency's official does not see it
    agency_with_official("other@uo.cn")
    client.get("/logout")
    client.login("other@uo.cn")
    assert client.get(f"/agency/programmes/{programme}/usage").status_code == 404


def test_a_usage_only_package_says_pay_by_use_instead_of_from_nothing(client, app, dbs):
    """A usage plan commits nothing up front: the catalogue's card and the package page say
    it is paid by use rather than "from ¥0.00"."""
    p = usage_pilot(app, dbs, tag="card")
    zh = {"Accept-Language": "zh-CN"}
    app.extensions["card_cache"].clear()
    card = client.get("/catalog", headers=zh).text
    assert "按用量计费，无需预付" in card and "¥0.00 起" not in card
    page = client.get(f"/packages/{p.package.id}", headers=zh).text
    assert "按用量计费，无需预付" in page and "¥0.00 起" not in page
