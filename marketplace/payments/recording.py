"""Recording money received for an invoice: the one place that moves an invoice towards paid,
whether a provider records a bank transfer or a payment service confirms an online payment."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, update

from marketplace import audit, notifications
from marketplace.db import add_unique, atomic, db, utcnow
from marketplace.errors import DomainError
from marketplace.money import format_fen
from marketplace.payments.models import Invoice, InvoiceStatus, Payment, PaymentMethod
from marketplace.security import Actor


@atomic
def record_payment(
    invoice: Invoice,
    amount_fen: int,
    method: PaymentMethod,
    reference: str,
    received_on: datetime,
    actor: Actor,
) -> Payment | None:
    """Count ``amount_fen`` towards a finalised invoice and store the payment.

    One conditional UPDATE from "finalised, with at least this much still due": ``None`` when
    the invoice is no longer open for it (voided, or paid meanwhile by other means), and the
    caller decides what that means (refuse the form, or send the money back). A second
    payment with the same method and reference is refused by the database."""
    paid = Invoice.paid_fen + amount_fen
    moved = db.session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice.id,
            Invoice.status == InvoiceStatus.FINALISED,
            paid <= Invoice.amount_fen,
        )
        .values(
            paid_fen=paid,
            status=case(
                (paid == Invoice.amount_fen, InvoiceStatus.PAID.value), else_=Invoice.status
            ),
            paid_at=case((paid == Invoice.amount_fen, utcnow()), else_=Invoice.paid_at),
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    payment = Payment(
        invoice_id=invoice.id,
        method=method,
        amount_fen=amount_fen,
        reference=reference[:100],
        received_on=received_on,
        recorded_by_id=actor.user_id,
    )
    if not add_unique(payment):
        raise DomainError(
            _l("A transfer with this reference is already recorded."), field="reference"
        )
    db.session.refresh(invoice)
    audit.record(
        actor,
        "payment.recorded",
        "invoice",
        invoice.id,
        amount_fen=amount_fen,
        method=method.value,
    )
    if invoice.status is InvoiceStatus.PAID:
        for org_id in (invoice.provider_id, invoice.enterprise_id):
            if org_id != actor.org_id:  # the provider recording a transfer knows it
                notifications.notify(
                    org_id,
                    "invoice_paid",
                    f"/invoices/{invoice.id}",
                    number=invoice.number,
                    amount=format_fen(invoice.amount_fen),
                )
        audit.record(actor, "invoice.paid", "invoice", invoice.id, number=invoice.number)
    return payment
