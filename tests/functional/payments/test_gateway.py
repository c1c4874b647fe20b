"""Views reach the payment service through ``gateway()`` only: a fake implementing the same
interface takes the place of Stripe, and no view names a backend."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.orders import services as orders
from marketplace.payments import gateways
from marketplace.payments.models import Invoice, InvoiceStatus, Payment
from tests.fake_gateway import SIGNATURE, FakeGateway
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import accept_delivery
from tests.functional.voucher_helpers import pilot

PACKAGE = Path(__file__).resolve().parents[3] / "marketplace"


@pytest.fixture
def fake(app, monkeypatch):
    gateway = FakeGateway()
    monkeypatch.setitem(app.extensions, gateways.EXTENSION, gateway)
    return gateway


@pytest.fixture
def invoice(app, dbs):
    p = pilot(app, dbs, tag="gw")
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accept_delivery(order.lines[0])  # invoiced at 验收
    return dbs.scalar(select(Invoice))


def _event(invoice, reference="fake-1", amount=None):
    return json.dumps(
        {"invoice_id": invoice.id, "reference": reference, "amount_fen": amount or invoice.due_fen}
    )


def test_paying_online_and_the_webhook_go_through_the_gateway(client, dbs, fake, invoice):
    client.login("owner@gw.cn")
    assert "pay.example" not in client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    response = client.form(f"/invoices/{invoice.id}/pay")
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://pay.example/{invoice.id}"
    assert fake.calls == [("checkout", invoice.id)]

    unsigned = client.post(
        "/payments/stripe/webhook", data=_event(invoice), content_type="application/json"
    )
    assert unsigned.status_code == 400
    assert dbs.scalar(select(func.count(Payment.id))) == 0

    signed = {"Stripe-Signature": SIGNATURE}
    first = client.post(
        "/payments/stripe/webhook",
        data=_event(invoice),
        headers=signed,
        content_type="application/json",
    )
    assert first.get_json()["outcome"] == "applied"
    again = client.post(
        "/payments/stripe/webhook",
        data=_event(invoice),
        headers=signed,
        content_type="application/json",
    )
    assert again.get_json()["outcome"] == "not applied"  # paid already: counted once
    dbs.refresh(invoice)
    assert invoice.status is InvoiceStatus.PAID
    assert dbs.scalar(select(func.count(Payment.id))) == 1


def test_the_manual_gateway_has_no_online_payment(client, dbs, invoice):
    client.login("owner@gw.cn")
    response = client.form(f"/invoices/{invoice.id}/pay")
    assert response.status_code == 302
    page = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "银行转账" in page or "bank transfer" in page.lower()
    webhook = client.post(
        "/payments/stripe/webhook", data=_event(invoice), content_type="application/json"
    )
    assert webhook.status_code == 400
    dbs.refresh(invoice)
    assert invoice.status is InvoiceStatus.FINALISED


def test_no_view_names_a_payment_backend():
    """Views import the gateway interface, never a backend module or a backend's name."""
    for path in PACKAGE.rglob("*views.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = {a.name for a in node.names}
                assert "stripe_gateway" not in names, path
                assert not (node.module or "").endswith("stripe_gateway"), path
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in {"stripe", "manual"}, (path, node.lineno)
