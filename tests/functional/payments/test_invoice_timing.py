"""Invoices when the promise says: the co-payment is invoiced when the enterprise accepts the
delivered line (验收), by its word, by settling a dispute or after its silence; never when the
provider accepts the order, nor while the line is disputed. Monthly subscriptions count from
acceptance. An issued invoice is due after the payment terms."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from marketplace.db import LOCAL_ZONE, local_today, utcnow
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, OrderLine
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceKind
from marketplace.vouchers import spending
from tests.functional.catalog_helpers import SUBSCRIPTION, published_package, services
from tests.functional.order_helpers import SYSTEM, deliver
from tests.functional.voucher_helpers import pilot


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="inv")


def invoices(dbs) -> list[Invoice]:
    dbs.expire_all()
    return list(dbs.scalars(select(Invoice).order_by(Invoice.id)))


def ordered(app, dbs, p):
    with services(app, dbs):
        return orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor).lines[0]


def test_no_invoice_when_the_provider_accepts_and_delivers(app, dbs, p):
    line = ordered(app, dbs, p)
    for event in (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER):
        with services(app, dbs):
            orders.transition(line, event, "", SYSTEM, "provider")
        assert invoices(dbs) == [], event


def test_the_enterprise_accepting_the_delivery_is_invoiced(app, client, dbs, p):
    programme = p.programme()  # vouchers pay ¥20,000 of ¥60,000
    p.issue_to(programme)
    line = ordered(app, dbs, p)
    with services(app, dbs):
        deliver(line)
    client.login("owner@inv.cn")
    client.form(f"/order-lines/{line.id}/events/accept_delivery")
    [invoice] = invoices(dbs)
    with services(app, dbs):
        funding = spending.line_funding(line.id)
    # the deduction is what the vouchers spent at acceptance
    assert funding.redeemed_fen == invoice.voucher_fen == 20_000_00 and funding.reserved_fen == 0
    assert (invoice.kind, invoice.gross_fen, invoice.amount_fen, invoice.period) == (
        InvoiceKind.CO_PAYMENT,
        60_000_00,
        40_000_00,
        0,
    )
    page = client.text(f"/orders/{line.order.number}")
    assert invoice.number in page and "付款期限" in page


def test_automatic_acceptance_after_silence_is_invoiced(app, dbs, p):
    line = ordered(app, dbs, p)
    with services(app, dbs):
        deliver(line)
    dbs.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id)
        .values(delivered_at=utcnow() - timedelta(days=15))
    )
    dbs.commit()
    result = app.test_cli_runner().invoke(args=["auto-accept"])
    assert "accepted automatically: 1 line(s)" in result.output, result.output
    [invoice] = invoices(dbs)
    assert invoice.order_line_id == line.id and invoice.amount_fen == 60_000_00


@pytest.mark.parametrize("ending", ["settle", "redeliver"])
def test_a_disputed_line_is_invoiced_only_once_the_dispute_ends_in_acceptance(
    app, client, dbs, p, ending
):
    line = ordered(app, dbs, p)
    with services(app, dbs):
        deliver(line)
        orders.transition(line, LineEvent.DISPUTE, "数据不一致", SYSTEM, "enterprise")
    assert invoices(dbs) == []
    client.login("owner@inv.cn")
    assert "异议期间不开具账单" in client.text(f"/orders/{line.order.number}")
    # a disputed line is never accepted automatically, however long it waits
    dbs.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id)
        .values(delivered_at=utcnow() - timedelta(days=60))
    )
    dbs.commit()
    app.test_cli_runner().invoke(args=["auto-accept"])
    assert invoices(dbs) == []
    with services(app, dbs):
        if ending == "settle":
            orders.transition(line, LineEvent.SETTLE, "", SYSTEM, "enterprise")
        else:
            orders.transition(line, LineEvent.REDELIVER, "", SYSTEM, "provider")
            assert invoices(dbs) == []  # delivered again: waiting for 验收 once more
            orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    assert line.status is LineStatus.COMPLETED
    assert [i.amount_fen for i in invoices(dbs)] == [60_000_00]


def test_monthly_subscriptions_count_their_months_from_acceptance(app, dbs, p):
    plan = replace(SUBSCRIPTION, billed_monthly=True, term_months=3)
    package = published_package(
        app, dbs, p.provider, p.provider_owner, title="按月订阅版", plans=(plan,)
    )
    with services(app, dbs):
        b = bundles.create(p.enterprise, "按月方案", p.enterprise_actor)
        bundles.add(b, package.id, None, p.enterprise_actor)
        line = orders.checkout(p.enterprise, b, p.enterprise_actor).lines[0]
        deliver(line)
        # long after the provider accepted: nothing is billed before the go-live (验收)
        assert orders.bill_due_periods(SYSTEM, today=local_today() + timedelta(days=90)) == 0
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    assert [i.period for i in invoices(dbs)] == [1]
    accepted = line.accepted_at.astimezone(LOCAL_ZONE).date()
    with services(app, dbs):
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=29)) == 0
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=30)) == 1
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=59)) == 0
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=60)) == 1
        assert orders.bill_due_periods(SYSTEM, today=accepted + timedelta(days=400)) == 0
    assert [i.period for i in invoices(dbs)] == [1, 2, 3]


def test_the_due_date_is_the_issue_date_plus_the_payment_terms(app, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "INVOICE_PAYMENT_TERMS_DAYS", 45)
    line = ordered(app, dbs, p)
    with services(app, dbs):
        deliver(line)
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    [invoice] = invoices(dbs)
    issued = invoice.finalised_at.astimezone(LOCAL_ZONE).date()
    assert issued == local_today() and invoice.due_on == issued + timedelta(days=45)
    assert not invoice.overdue
    invoice.due_on = local_today() - timedelta(days=1)
    assert invoice.overdue
    dbs.rollback()


def test_an_issued_invoice_carries_its_parties_and_due_date_in_the_database(app, dbs, p):
    line = ordered(app, dbs, p)
    with services(app, dbs):
        deliver(line)
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    [invoice] = invoices(dbs)
    assert (invoice.seller_name, invoice.seller_credit_code) == (
        p.provider.name,
        p.provider.credit_code,
    )
    assert (invoice.buyer_name, invoice.buyer_credit_code) == (
        p.enterprise.name,
        p.enterprise.credit_code,
    )
    for column in ("due_on", "seller_name", "buyer_name"):
        with pytest.raises(IntegrityError), dbs.begin_nested():
            dbs.execute(text(f"UPDATE invoices SET {column} = NULL"))


def test_a_line_invoiced_by_the_former_rule_is_not_invoiced_again(app, dbs, p):
    """Lines accepted by their provider before this rule were invoiced then; their 验收 adds
    no second invoice."""
    line = ordered(app, dbs, p)
    with services(app, dbs):
        orders.transition(line, LineEvent.ACCEPT, "", SYSTEM, "provider")
        payments.bill(
            InvoiceKind.CO_PAYMENT,
            line.id,
            line.provider_id,
            p.enterprise.id,
            line.committed_fen,
            0,
            line.title,
            SYSTEM,
        )
        orders.transition(line, LineEvent.START, "", SYSTEM, "provider")
        orders.transition(line, LineEvent.DELIVER, "", SYSTEM, "provider")
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    assert dbs.scalar(select(func.count(Invoice.id))) == 1
