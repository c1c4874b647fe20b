"""The payment gateway: one small interface with a backend chosen by ``PAYMENT_BACKEND``.

``manual`` (the default): the enterprise is shown the provider's bank details and the invoice
number to quote, and the provider records the transfer when it arrives. ``stripe``: Stripe
Checkout, confirmed by verified webhooks (``stripe_gateway``). Views talk to ``gateway()``
only; tests put a fake implementing the same interface in ``app.extensions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l

from marketplace.errors import DomainError
from marketplace.payments import stripe_gateway
from marketplace.payments.models import Invoice, Payment, PaymentMethod
from marketplace.security import Actor

EXTENSION = "payment_gateway"  # app.extensions key of a gateway object that replaces the setting


@dataclass(frozen=True)
class Instructions:
    """How the enterprise pays an invoice."""

    method: PaymentMethod
    payee: str
    bank_name: str | None
    bank_account: str | None
    reference: str


class Gateway(Protocol):
    name: str

    def instructions(self, invoice: Invoice) -> Instructions:
        """What the invoice page tells the enterprise about paying."""
        ...

    def checkout(self, invoice: Invoice, success_url: str, cancel_url: str, actor: Actor) -> str:
        """The address where the enterprise pays what is due online (``DomainError`` when
        this gateway has none, or the service did not answer)."""
        ...

    def verify(self, payload: bytes, signature: str | None) -> Any:
        """The event, if the payment service signed this exact body; ``ValueError`` if not."""
        ...

    def handle(self, event: Any) -> str:
        """Apply one verified event once; returns what happened."""
        ...

    def refund(self, payment: Payment, amount_fen: int, key: str) -> str:
        """Send back part of a payment through the service; returns its reference."""
        ...


class ManualGateway:
    """Bank transfer to the provider, quoting the invoice number; the provider records it."""

    name = "manual"

    def instructions(self, invoice: Invoice) -> Instructions:
        """The seller's account as it was when the invoice was issued (its copy on the invoice),
        not as the provider's profile says today."""
        return Instructions(
            method=PaymentMethod.BANK_TRANSFER,
            payee=invoice.seller_name or invoice.provider.name,
            bank_name=invoice.seller_bank_name,
            bank_account=invoice.seller_bank_account,
            reference=invoice.number or "",
        )

    def checkout(self, invoice: Invoice, success_url: str, cancel_url: str, actor: Actor) -> str:
        raise DomainError(_l("Pay this invoice by bank transfer, quoting its number."))

    def verify(self, payload: bytes, signature: str | None) -> Any:
        raise ValueError("bank transfers send no events")

    def handle(self, event: Any) -> str:
        raise ValueError("bank transfers send no events")

    def refund(self, payment: Payment, amount_fen: int, key: str) -> str:
        raise DomainError(
            _l("A bank transfer is returned by the provider, who records the return transfer.")
        )


class StripeGateway(ManualGateway):
    """Stripe Checkout: the enterprise pays online; a verified webhook records the payment."""

    name = "stripe"

    def instructions(self, invoice: Invoice) -> Instructions:
        return Instructions(
            method=PaymentMethod.STRIPE,
            payee=invoice.seller_name or invoice.provider.name,
            bank_name=None,
            bank_account=None,
            reference=invoice.number or "",
        )

    def checkout(self, invoice: Invoice, success_url: str, cancel_url: str, actor: Actor) -> str:
        return stripe_gateway.start_checkout(invoice, success_url, cancel_url, actor)

    def verify(self, payload: bytes, signature: str | None) -> Any:
        return stripe_gateway.verify(payload, signature)

    def handle(self, event: Any) -> str:
        return stripe_gateway.handle(event)

    def refund(self, payment: Payment, amount_fen: int, key: str) -> str:
        return stripe_gateway.refund(payment.reference, amount_fen, key)


BACKENDS: dict[str, type[ManualGateway]] = {"manual": ManualGateway, "stripe": StripeGateway}


def gateway() -> Gateway:
    """The gateway this installation takes payments through."""
    replaced = current_app.extensions.get(EXTENSION)
    if replaced is not None:
        return replaced
    backend = current_app.config.get("PAYMENT_BACKEND", "manual")
    if backend not in BACKENDS:
        raise RuntimeError(f"PAYMENT_BACKEND={backend!r}: choose 'manual' or 'stripe'")
    return BACKENDS[backend]()


def gateway_for(method: PaymentMethod) -> Gateway:
    """The gateway a payment was taken through (a refund goes back the same way, even after
    the installation changed its backend)."""
    if current_app.extensions.get(EXTENSION) is not None:
        return gateway()
    return StripeGateway() if method is PaymentMethod.STRIPE else ManualGateway()
