"""A payment gateway for tests: the same interface as the manual and Stripe backends
(``marketplace.payments.gateways.Gateway``), recording what it was asked and paying invoices
through the app's one payment-recording function."""

from __future__ import annotations

import json
from typing import Any

from marketplace.db import db, utcnow
from marketplace.payments.gateways import Instructions
from marketplace.payments.models import Invoice, Payment, PaymentMethod
from marketplace.payments.recording import record_payment
from marketplace.security import Actor

SIGNATURE = "fake-signed"
SYSTEM = Actor(None, None, "fake-gateway")


class FakeGateway:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def instructions(self, invoice: Invoice) -> Instructions:
        return Instructions(PaymentMethod.STRIPE, invoice.provider.name, None, None, "")

    def checkout(self, invoice: Invoice, success_url: str, cancel_url: str, actor: Actor) -> str:
        self.calls.append(("checkout", invoice.id))
        return f"https://pay.example/{invoice.id}"

    def verify(self, payload: bytes, signature: str | None) -> Any:
        if signature != SIGNATURE:
            raise ValueError("unsigned")
        return json.loads(payload)

    def handle(self, event: Any) -> str:
        self.calls.append(("handle", event["reference"]))
        invoice = db.session.get(Invoice, event["invoice_id"])
        assert invoice is not None
        payment = record_payment(
            invoice, event["amount_fen"], PaymentMethod.STRIPE, event["reference"], utcnow(), SYSTEM
        )
        return "applied" if payment else "not applied"

    def refund(self, payment: Payment, amount_fen: int, key: str) -> str:
        self.calls.append(("refund", (payment.id, amount_fen, key)))
        return f"re_{key}"
