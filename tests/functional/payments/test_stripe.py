"""Paying invoices through Stripe Checkout, against a Stripe-compatible server on loopback,
with webhooks signed by the stripe library's own helper."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.payments import payouts
from marketplace.payments import services as payments
from marketplace.payments.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    ProviderBalance,
    StripeCheckout,
    WebhookEvent,
)
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import accept_delivery
from tests.functional.voucher_helpers import pilot
from tests.stripe_fake import FakeStripe

SECRET = "whsec_test_marketplace"
SYSTEM = Actor(None, None, None)


@pytest.fixture
def fake(app):
    saved = {
        k: app.config.get(k)
        for k in (
            "PAYMENT_BACKEND",
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_API_BASE",
        )
    }
    with FakeStripe() as server:
        app.config.update(
            PAYMENT_BACKEND="stripe",
            STRIPE_SECRET_KEY="sk_test_marketplace",
            STRIPE_WEBHOOK_SECRET=SECRET,
            STRIPE_API_BASE=server.url,
        )
        yield server
    app.config.update(saved)


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="str")


@pytest.fixture
def invoice(app, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])  # invoiced at 验收
    return dbs.scalar(select(Invoice))


@pytest.fixture
def legacy_invoice(app, dbs, p):
    """A line its provider accepted before invoices waited for 验收: it was invoiced then, and
    may still be cancelled."""
    with services(app, dbs):
        line = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor).lines[0]
        orders.transition(line, LineEvent.ACCEPT, "", SYSTEM, "provider")
        return payments.bill(
            InvoiceKind.CO_PAYMENT,
            line.id,
            line.provider_id,
            p.enterprise.id,
            line.committed_fen,
            0,
            line.title,
            SYSTEM,
        )


def webhook(client, payload, secret=SECRET, timestamp=None):
    return client.post(
        "/payments/stripe/webhook",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": FakeStripe.sign(payload, secret, timestamp)},
    )


def start(client, invoice):
    client.login("owner@str.cn")
    response = client.form(f"/invoices/{invoice.id}/pay")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def test_an_invoice_is_paid_through_checkout_and_the_webhook(client, dbs, fake, invoice, p):
    page = client.get(f"/invoices/{invoice.id}")  # anonymous: to the login page
    assert page.status_code == 302
    url = start(client, invoice)
    assert url.startswith(fake.url + "/pay/cs_test_")
    checkout = dbs.scalar(select(StripeCheckout))
    assert checkout.session_id == url.rsplit("/", 1)[1]
    assert fake.by_key == {checkout.idempotency_key: checkout.session_id}  # the stored key
    session = fake.pay(checkout.session_id)
    response = webhook(client, fake.event("checkout.session.completed", session))
    assert response.status_code == 200 and response.json["outcome"] == "applied"
    dbs.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_fen == 60_000_00
    # the intent's own event for the same payment changes nothing
    intent = fake.intents[session["payment_intent"]]
    again = webhook(client, fake.event("payment_intent.succeeded", intent))
    assert again.json["outcome"] == "already applied"
    assert dbs.scalar(select(func.count(Payment.id))) == 1
    balance = dbs.get(ProviderBalance, p.provider.id)
    assert balance.collected_fen == 60_000_00  # the platform owes it to the provider


def test_a_redelivered_event_is_acknowledged_and_ignored(client, dbs, fake, invoice):
    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    payload = fake.event("checkout.session.completed", fake.pay(checkout.session_id), "evt_1")
    assert webhook(client, payload).json["outcome"] == "applied"
    assert webhook(client, payload).json["outcome"] == "duplicate"
    assert dbs.scalar(select(func.count(WebhookEvent.event_id))) == 1
    assert dbs.scalar(select(func.count(Payment.id))) == 1


def test_events_out_of_order_read_the_state_from_stripe(client, dbs, fake, invoice):
    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    stale = dict(fake.sessions[checkout.session_id])  # the event says "unpaid"…
    early = webhook(client, fake.event("checkout.session.completed", stale))
    assert early.json["outcome"] == "not paid yet"
    fake.pay(checkout.session_id)  # …then the payment succeeds; a late event re-reads it
    late = webhook(client, fake.event("checkout.session.completed", stale))
    assert late.json["outcome"] == "applied"


@pytest.mark.parametrize(
    ("secret", "age"), [("whsec_wrong", 0), (SECRET, 301)], ids=["bad-signature", "too-old"]
)
def test_bad_signatures_and_old_timestamps_are_refused(client, dbs, fake, invoice, secret, age):
    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    payload = fake.event("checkout.session.completed", fake.pay(checkout.session_id))
    response = webhook(client, payload, secret=secret, timestamp=int(time.time()) - age)
    assert response.status_code == 400
    assert dbs.scalar(select(func.count(Payment.id))) == 0


def test_unknown_events_are_acknowledged(client, fake):
    response = webhook(
        client, fake.event("customer.created", {"id": "cus_1", "object": "customer"})
    )
    assert response.status_code == 200 and response.json["outcome"] == "ignored"


def test_the_webhook_needs_no_csrf_token_but_every_other_post_does(client, fake):
    assert client.post("/payments/stripe/webhook", data="{}").status_code == 400  # unsigned
    assert client.post("/invoices/1/pay").status_code == 400  # CSRF


def test_a_paid_invoice_cannot_start_another_payment(client, dbs, fake, invoice):
    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    webhook(client, fake.event("checkout.session.completed", fake.pay(checkout.session_id)))
    response = client.form(f"/invoices/{invoice.id}/pay", follow_redirects=True)
    assert response.status_code == 200
    assert dbs.scalar(select(func.count(StripeCheckout.id))) == 1


def test_payouts_never_exceed_what_was_collected(app, client, dbs, fake, invoice, p):
    """Money collected through Stripe is paid out in two steps (four eyes): proposed by one
    platform administrator, approved by another, then the transfer recorded."""
    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    webhook(client, fake.event("checkout.session.completed", fake.pay(checkout.session_id)))
    platform = OrganisationFactory(platform=True)
    admin, admin2 = (UserFactory(org=platform) for _ in range(2))
    proposer = Actor(admin.id, platform.id, None)
    with services(app, dbs), pytest.raises(Exception) as error:
        payouts.propose(p.provider.id, 60_000_01, "全部在线支付款", proposer)
    assert error.value.field == "amount"
    with services(app, dbs):
        payout = payouts.propose(p.provider.id, 60_000_00, "全部在线支付款", proposer)
        payouts.approve(payout, 60_000_00, "已核对", Actor(admin2.id, platform.id, None))
        payouts.mark_paid(payout, "PO-1", proposer)
    balance = dbs.get(ProviderBalance, p.provider.id)
    dbs.refresh(balance)
    assert balance.paid_out_fen == balance.collected_fen == 60_000_00
    assert balance.pending_fen == 0


def test_cancelling_an_accepted_line_refunds_what_was_paid_and_never_more(
    app, client, dbs, fake, legacy_invoice, p
):
    from marketplace.payments.models import Refund

    invoice = legacy_invoice

    start(client, invoice)
    checkout = dbs.scalar(select(StripeCheckout))
    webhook(client, fake.event("checkout.session.completed", fake.pay(checkout.session_id)))
    line_id = invoice.order_line_id
    from marketplace.orders.models import OrderLine

    line = dbs.get(OrderLine, line_id)
    with services(app, dbs):
        orders.transition(line, LineEvent.CANCEL, "项目延期，撤回订单", SYSTEM, "enterprise")
    dbs.refresh(invoice)
    assert invoice.status is InvoiceStatus.VOID
    refund = dbs.scalar(select(Refund))
    assert (refund.amount_fen, refund.status) == (60_000_00, "pending")  # sent after commit
    result = app.test_cli_runner().invoke(args=["send-refunds"])
    assert result.exit_code == 0 and "refunds sent: 1" in result.output, result.output
    dbs.refresh(refund)
    assert refund.status == "done" and refund.reference.startswith("re_test_")
    assert (
        fake.intents[fake.sessions[checkout.session_id]["payment_intent"]]["amount_refunded"]
        == 60_000_00
    )
    payment = dbs.scalar(select(Payment))
    with services(app, dbs), pytest.raises(Exception) as error:
        payments.refund(payment, 1, "再退", SYSTEM)
    assert "exceed" in str(error.value.message) or "超过" in str(error.value.message)
    balance = dbs.get(ProviderBalance, p.provider.id)
    dbs.refresh(balance)
    assert balance.collected_fen == 0  # nothing is owed to the provider any more


def test_money_for_an_invoice_no_longer_due_goes_straight_back(app, client, dbs, fake, invoice):
    start(client, invoice)
    again = client.form(f"/invoices/{invoice.id}/pay")  # a second click: the same session
    checkout = dbs.scalar(select(StripeCheckout))
    assert again.headers["Location"].endswith(checkout.session_id)
    assert dbs.scalar(select(func.count(StripeCheckout.id))) == 1
    with services(app, dbs):
        payments.void(invoice, "开错了", SYSTEM)
    session = fake.pay(checkout.session_id)  # paid anyway on the page still open
    result = webhook(client, fake.event("checkout.session.completed", session))
    assert result.json["outcome"] == "refunded"
    intent = fake.intents[session["payment_intent"]]
    assert intent["amount_refunded"] == intent["amount"]
    late = webhook(client, fake.event("payment_intent.succeeded", intent))
    assert late.json["outcome"] == "refunded"
    assert intent["amount_refunded"] == intent["amount"]  # the same refund, not a second
    assert dbs.scalar(select(func.count(Payment.id))) == 0
