"""``PAYMENT_BACKEND=stripe``: invoices paid through Stripe Checkout, confirmed by webhooks.

- The enterprise is sent to a Stripe-hosted Checkout Session (currency CNY); our pages load
  no Stripe script, so the strict Content-Security-Policy holds.
- Each attempt's idempotency key is committed before Stripe is called (on a connection of
  its own), so a retried request reuses it and Stripe answers with the same session.
- Webhooks are verified on the raw body (the library's own check, 5-minute tolerance),
  stored by event id once, and never trusted for state: the session or payment intent is
  re-read from Stripe, so events may arrive in any order or twice.
- Money collected for a provider's invoice is owed to that provider: it is added to its
  payout statement (``ProviderBalance``); the platform records payouts against it.
"""

from __future__ import annotations

from typing import Any

import stripe
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from marketplace import audit
from marketplace.db import add_unique, atomic, db, utcnow
from marketplace.errors import DomainError, TryAgainLater
from marketplace.payments.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    ProviderBalance,
    StripeCheckout,
    WebhookEvent,
)
from marketplace.payments.recording import record_payment
from marketplace.security import Actor

TOLERANCE_SECONDS = 300
SYSTEM = Actor(None, None, "stripe")


def client() -> stripe.StripeClient:
    """A client with short timeouts (the SDK's default read timeout is 80 s): a slow Stripe
    must not hold a web worker. A connection refused or timed out is retried twice."""
    config = current_app.config
    base = config.get("STRIPE_API_BASE") or None
    return stripe.StripeClient(
        config["STRIPE_SECRET_KEY"],
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
        http_client=stripe.RequestsClient(
            timeout=(config["STRIPE_CONNECT_TIMEOUT"], config["STRIPE_READ_TIMEOUT"])
        ),
    )


def start_checkout(invoice: Invoice, success_url: str, cancel_url: str, actor: Actor) -> str:
    """The URL of a Stripe Checkout Session for what is due on this invoice. Asking again the
    same day for the same amount gives the same session (the key is derived, not random), so
    a double click or a second tab cannot open a second way to pay."""
    if invoice.status is not InvoiceStatus.FINALISED or invoice.due_fen <= 0:
        raise DomainError(_l("Only an invoice that is due can be paid."))
    key = f"checkout-{invoice.id}-{invoice.paid_fen}-{invoice.due_fen}-{utcnow():%Y%m%d}"
    found = db.session.scalar(select(StripeCheckout).where(StripeCheckout.idempotency_key == key))
    if found is not None and found.url:
        return found.url
    if found is None:
        # Committed before the call, apart from the request's transaction (see the module doc).
        with db.separately() as conn:
            checkout_id = conn.execute(
                insert(StripeCheckout)
                .values(
                    invoice_id=invoice.id,
                    idempotency_key=key,
                    amount_fen=invoice.due_fen,
                    created_at=utcnow(),
                )
                .returning(StripeCheckout.id)
            ).scalar_one()
    else:
        checkout_id = found.id
    metadata = {"invoice_id": str(invoice.id), "checkout_id": str(checkout_id)}
    try:
        session = client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "client_reference_id": str(invoice.id),
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "cny",
                            "unit_amount": invoice.due_fen,
                            "product_data": {
                                "name": f"{invoice.number} {invoice.description}"[:200]
                            },
                        },
                    }
                ],
            },
            options={"idempotency_key": key},
        )
    except stripe.StripeError as exc:
        raise DomainError(_l("The payment service did not answer. Try again shortly.")) from exc
    db.session.execute(
        update(StripeCheckout)
        .where(StripeCheckout.id == checkout_id)
        .values(session_id=session.id, url=session.url)
    )
    audit.record(actor, "payment.stripe_started", "invoice", invoice.id, session=session.id)
    return str(session.url)


def verify(payload: bytes, signature: str | None) -> Any:
    """The event, if Stripe signed this exact body recently; ``ValueError`` otherwise."""
    secret = current_app.config["STRIPE_WEBHOOK_SECRET"]
    if not secret or not signature:
        raise ValueError("unsigned")
    try:
        return stripe.Webhook.construct_event(
            payload.decode("utf-8"), signature, secret, tolerance=TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc


HANDLED = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "payment_intent.succeeded",
}


@atomic
def handle(event: Any) -> str:
    """Apply one verified event once. Returns what happened, for the log and the tests."""
    if not add_unique(WebhookEvent(event_id=event.id, type=event.type)):
        return "duplicate"
    if event.type not in HANDLED:
        return "ignored"
    obj = event.data.object
    stripe_client = client()
    if event.type.startswith("checkout.session"):
        session = stripe_client.v1.checkout.sessions.retrieve(obj.id)  # the state now
        if session.payment_status != "paid":
            return "not paid yet"
        reference = str(session.payment_intent or session.id)
        amount, metadata = int(session.amount_total or 0), _plain(session.metadata)
    else:
        intent = stripe_client.v1.payment_intents.retrieve(obj.id)
        if intent.status != "succeeded":
            return "not paid yet"
        reference, amount, metadata = (
            str(intent.id),
            int(intent.amount),
            _plain(intent.metadata),
        )
    raw_id = str(metadata.get("invoice_id") or "")
    invoice_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 10 else 0
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        return "unknown invoice"
    return _apply(invoice, amount, reference)


def _plain(metadata: Any) -> dict[str, str]:
    plain = metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata or {})
    return {str(k): str(v) for k, v in plain.items()}


def _applied(reference: str) -> bool:
    return bool(
        db.session.scalar(
            select(Payment.id).where(
                Payment.method == PaymentMethod.STRIPE, Payment.reference == reference
            )
        )
    )


def _apply(invoice: Invoice, amount_fen: int, reference: str) -> str:
    """Record a Stripe payment on its invoice, or send the money back when the invoice can no
    longer take it. No call to Stripe is made while the invoice row is locked."""
    if _applied(reference):
        return "already applied"  # the other event of the same payment
    db.session.refresh(invoice)
    if invoice.status is not InvoiceStatus.FINALISED or invoice.due_fen < amount_fen:
        # Void or paid: states an invoice never leaves, so deciding needs no lock.
        return _give_back(invoice, amount_fen, reference)
    # The invoice row is locked: two events of one payment queue here, and the second finds
    # the payment the first recorded.
    db.session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    db.session.refresh(invoice)
    if _applied(reference):
        return "already applied"
    payment = record_payment(invoice, amount_fen, PaymentMethod.STRIPE, reference, utcnow(), SYSTEM)
    if payment is None:
        # Paid by other means between the look above and the lock. Rather than call Stripe
        # holding the lock, let Stripe send the event again: then the look above finds the
        # invoice paid and gives the money back with no lock held.
        raise TryAgainLater(f"invoice {invoice.id} changed while payment {reference} arrived")
    _owe_provider(invoice.provider_id, amount_fen)
    return "applied"


def _give_back(invoice: Invoice, amount_fen: int, reference: str) -> str:
    """The money goes straight back. The key is derived from the payment, so Stripe's retry
    of this event refunds nothing twice."""
    refunded = refund(reference, amount_fen, f"unapplied-{reference}")
    audit.record(
        SYSTEM,
        "payment.unapplied",
        "invoice",
        invoice.id,
        reference=reference,
        amount_fen=amount_fen,
        refund=refunded,
    )
    return "refunded"


def _owe_provider(provider_id: int, amount_fen: int) -> None:
    grown = db.session.execute(
        update(ProviderBalance)
        .where(ProviderBalance.provider_id == provider_id)
        .values(collected_fen=ProviderBalance.collected_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    if grown.rowcount == 1:  # type: ignore[attr-defined]
        return
    balance = ProviderBalance(provider_id=provider_id, collected_fen=amount_fen, paid_out_fen=0)
    if not add_unique(balance):  # created meanwhile by another payment
        _owe_provider(provider_id, amount_fen)


def refund(payment_intent: str, amount_fen: int, key: str) -> str:
    """Refund part of a Stripe payment; Stripe itself refuses more than was captured."""
    try:
        made = client().v1.refunds.create(
            params={"payment_intent": payment_intent, "amount": amount_fen},
            options={"idempotency_key": key},
        )
    except stripe.StripeError as exc:
        raise DomainError(_l("The payment service did not answer. Try again shortly.")) from exc
    return str(made.id)
