"""Invoices and payments, behind a small gateway interface.

``PAYMENT_BACKEND=manual`` (the default): the enterprise is shown the provider's bank
details and the invoice number to quote; the provider records the transfer when it arrives.
Every change of an invoice is a conditional UPDATE from the state the caller saw.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from marketplace import audit, jobs, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import LOCAL_ZONE, add_unique, atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.payments.gateways import gateway_for
from marketplace.payments.models import (
    Invoice,
    InvoiceKind,
    InvoiceSequence,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    ProviderBalance,
    Refund,
)
from marketplace.payments.recording import record_payment
from marketplace.security import Actor

MAX_FEN = 10**15  # far above any invoice; keeps typing mistakes out of BIGINT arithmetic

# --- invoices -----------------------------------------------------------------------------


def _next_number(provider_id: int) -> int:
    """The provider's next invoice number: the UPDATE locks its sequence row until this
    transaction ends, so numbers are handed out one at a time and a rollback returns its own."""
    for _attempt in range(2):
        taken = db.session.execute(
            update(InvoiceSequence)
            .where(InvoiceSequence.provider_id == provider_id)
            .values(last_number=InvoiceSequence.last_number + 1)
            .returning(InvoiceSequence.last_number)
            .execution_options(synchronize_session=False)
        ).scalar()
        if taken is not None:
            return int(taken)
        if add_unique(InvoiceSequence(provider_id=provider_id, last_number=1)):
            return 1
        # another transaction created the row first: take the next number
    raise DomainError(_l("Numbering is busy. Try again."))


def invoice_number(provider_id: int, sequence: int) -> str:
    return f"ZD{provider_id:05d}-{sequence:06d}"


@atomic
def bill(
    kind: InvoiceKind,
    order_line_id: int,
    provider_id: int,
    enterprise_id: int,
    gross_fen: int,
    voucher_fen: int,
    description: str,
    actor: Actor,
    period: int = 0,
) -> Invoice | None:
    """Issue an invoice for what the enterprise owes of ``gross_fen`` after vouchers (nothing
    when vouchers pay it all). Issued at once: finalised with the next number, a due date and
    the parties' details of this moment. Callers bill when the promise says: a co-payment when
    the enterprise accepts the delivery (验收), a success fee when the result is verified."""
    if not 0 <= voucher_fen <= gross_fen <= MAX_FEN:
        raise DomainError(_l("The amounts do not add up."))
    amount = gross_fen - voucher_fen
    if amount == 0:
        return None
    invoice = Invoice(
        kind=kind,
        status=InvoiceStatus.DRAFT,
        provider_id=provider_id,
        enterprise_id=enterprise_id,
        order_line_id=order_line_id,
        description=description,
        gross_fen=gross_fen,
        voucher_fen=voucher_fen,
        amount_fen=amount,
        paid_fen=0,
        period=period,
    )
    if not add_unique(invoice):
        raise DomainError(_l("This line has been invoiced already."))
    audit.record(actor, "invoice.created", "invoice", invoice.id, amount_fen=amount)
    finalise(invoice, actor)
    return invoice


def payment_terms() -> timedelta:
    return timedelta(days=int(current_app.config.get("INVOICE_PAYMENT_TERMS_DAYS", 30)))


@atomic
def finalise(invoice: Invoice, actor: Actor) -> None:
    """Number the invoice, date it and copy onto it who bills whom (names, 统一社会信用代码,
    the seller's bank account): from now on it is never edited, so later profile changes do
    not reach it."""
    sequence = _next_number(invoice.provider_id)
    seller = db.session.get(Organisation, invoice.provider_id)
    buyer = db.session.get(Organisation, invoice.enterprise_id)
    if seller is None or buyer is None:
        raise NotFound(_l("Not found."))
    now = utcnow()
    moved = db.session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == InvoiceStatus.DRAFT)
        .values(
            status=InvoiceStatus.FINALISED,
            sequence=sequence,
            number=invoice_number(invoice.provider_id, sequence),
            finalised_at=now,
            due_on=now.astimezone(LOCAL_ZONE).date() + payment_terms(),
            seller_name=seller.name,
            seller_credit_code=seller.credit_code,
            seller_bank_name=seller.bank_name,
            seller_bank_account=seller.bank_account,
            buyer_name=buyer.name,
            buyer_credit_code=buyer.credit_code,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This invoice has been issued already."))
    db.session.refresh(invoice)
    assert invoice.due_on is not None
    notifications.notify(
        invoice.enterprise_id,
        "invoice_issued",
        f"/invoices/{invoice.id}",
        number=invoice.number,
        provider=seller.name,
        amount=format_fen(invoice.amount_fen),
        description=invoice.description,
        by=invoice.due_on.isoformat(),
    )
    audit.record(actor, "invoice.finalised", "invoice", invoice.id, number=invoice.number)


def tell_parties(invoice: Invoice, kind: str, actor: Actor, **params: object) -> None:
    """Both parties of the invoice hear of ``kind``, except the one whose member acted."""
    for org_id in (invoice.enterprise_id, invoice.provider_id):
        if org_id != actor.org_id:
            notifications.notify(
                org_id,
                kind,
                f"/invoices/{invoice.id}",
                number=invoice.number or "",
                amount=format_fen(invoice.amount_fen),
                **params,
            )


@atomic
def void(invoice: Invoice, reason: str, actor: Actor) -> None:
    """Cancel an issued, unpaid invoice (a correction is a void plus a new invoice)."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    moved = db.session.execute(
        update(Invoice)
        .where(
            Invoice.id == invoice.id,
            Invoice.status.in_([InvoiceStatus.DRAFT, InvoiceStatus.FINALISED]),
            Invoice.paid_fen == 0,
        )
        .values(status=InvoiceStatus.VOID, void_reason=reason, voided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("Only an unpaid invoice can be voided."))
    db.session.refresh(invoice)
    if invoice.number is not None:  # a draft was never issued: no one knows it
        tell_parties(invoice, "invoice_voided", actor, reason=reason)
    audit.record(actor, "invoice.voided", "invoice", invoice.id, reason=reason)


@atomic
def record_transfer(
    invoice: Invoice, amount_fen: int, reference: str, received_on: datetime, actor: Actor
) -> Payment:
    """The provider records a bank transfer it received for this invoice."""
    reference = reference.strip()
    if not reference:
        raise DomainError(_l("Enter the bank transfer's reference."), field="reference")
    if amount_fen <= 0:
        raise DomainError(_l("Enter an amount above zero."), field="amount")
    if invoice.status is not InvoiceStatus.FINALISED:
        raise DomainError(_l("Only an invoice that is due can be paid."))
    if amount_fen > invoice.amount_fen - invoice.paid_fen:
        raise DomainError(
            _l("At most %(due)s is due.", due=format_fen(invoice.amount_fen - invoice.paid_fen)),
            field="amount",
        )
    payment = record_payment(
        invoice, amount_fen, PaymentMethod.BANK_TRANSFER, reference, received_on, actor
    )
    if payment is None:
        raise DomainError(_l("This invoice changed meanwhile. Reload the page and try again."))
    return payment


def invoices_for(org: Organisation) -> list[Invoice]:
    column = Invoice.enterprise_id if org.kind is OrgKind.ENTERPRISE else Invoice.provider_id
    stmt = (
        select(Invoice)
        .where(column == org.id, Invoice.status != InvoiceStatus.DRAFT)
        .options(selectinload(Invoice.payments))
        .order_by(Invoice.id.desc())
    )
    return list(db.session.scalars(stmt))


def invoice_for(org: Organisation, invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or org.id not in (invoice.provider_id, invoice.enterprise_id):
        raise NotFound(_l("Not found."))
    return invoice


@atomic
def reissue(
    void_invoice: Invoice, gross_fen: int, actor: Actor, voucher_fen: int | None = None
) -> Invoice:
    """A corrected invoice in place of a void one: same line, kind and period, the voucher
    share kept (never above the new amount) unless ``voucher_fen`` says what vouchers pay now
    (a claw-back lowers it)."""
    if void_invoice.status is not InvoiceStatus.VOID:
        raise DomainError(_l("Void the invoice first; a corrected one then replaces it."))
    if gross_fen <= 0:
        raise DomainError(_l("Enter an amount above zero."), field="amount")
    invoice = bill(
        void_invoice.kind,
        void_invoice.order_line_id,
        void_invoice.provider_id,
        void_invoice.enterprise_id,
        gross_fen,
        min(void_invoice.voucher_fen if voucher_fen is None else voucher_fen, gross_fen),
        void_invoice.description,
        actor,
        period=void_invoice.period,
    )
    if invoice is None:
        raise DomainError(_l("Vouchers pay all of it: there is nothing to invoice."))
    return invoice


def _shortfall_owed(order_line_id: int, backed_fen: int) -> int:
    """Voucher money the line's invoices deducted that vouchers no longer back (``backed_fen``
    is what they still pay) and no shortfall invoice has billed yet."""
    deducted = voucher_part_billed(order_line_id)
    already = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.gross_fen), 0)).where(
            Invoice.order_line_id == order_line_id,
            Invoice.kind == InvoiceKind.VOUCHER_SHORTFALL,
            Invoice.status != InvoiceStatus.VOID,
        )
    )
    return deducted - backed_fen - int(already or 0)


def bill_voucher_shortfall(
    order_line_id: int,
    provider_id: int,
    enterprise_id: int,
    backed_fen: int,
    actor: Actor,
    description: str | None = None,
) -> Invoice | None:
    """Invoices counted on voucher money that vouchers no longer back (released after the
    programme's redeem-by date, or clawed back): the enterprise owes the difference after all.
    Idempotent: what earlier shortfall invoices billed is not billed again."""
    owed = _shortfall_owed(order_line_id, backed_fen)
    if owed <= 0:
        return None
    count = db.session.scalar(
        select(func.count(Invoice.id)).where(
            Invoice.order_line_id == order_line_id, Invoice.kind == InvoiceKind.VOUCHER_SHORTFALL
        )
    )
    return bill(
        InvoiceKind.VOUCHER_SHORTFALL,
        order_line_id,
        provider_id,
        enterprise_id,
        owed,
        0,
        description
        or str(_l("Voucher share no longer covered (order line #%(id)d)", id=order_line_id)),
        actor,
        period=int(count or 0) + 1,
    )


@atomic
def bill_clawback(
    order_line_id: int,
    provider_id: int,
    enterprise_id: int,
    backed_fen: int,
    reason: str,
    actor: Actor,
) -> list[Invoice]:
    """Voucher money clawed back from a line: the enterprise owes it itself, once.

    Each of the line's issued, still unpaid co-payment invoices that deducted voucher money is
    voided and reissued without the part vouchers no longer back (same number sequence,
    gap-free); what is left (an invoice already paid or partly paid) is billed on a new
    voucher-shortfall invoice. ``backed_fen`` is what vouchers still pay of the line. Nothing
    is billed twice: the voucher shares deducted and the shortfalls billed are the guard.
    Returns the invoices issued."""
    issued: list[Invoice] = []
    owed = _shortfall_owed(order_line_id, backed_fen)
    if owed <= 0:
        return issued
    unpaid = (
        select(Invoice)
        .where(
            Invoice.order_line_id == order_line_id,
            Invoice.kind == InvoiceKind.CO_PAYMENT,
            Invoice.status == InvoiceStatus.FINALISED,
            Invoice.paid_fen == 0,
            Invoice.voucher_fen > 0,
        )
        .order_by(Invoice.period.desc(), Invoice.id.desc())
        .with_for_update(of=Invoice)
        .execution_options(populate_existing=True)
    )
    for invoice in db.session.scalars(unpaid).all():
        if owed <= 0:
            break
        take = min(owed, invoice.voucher_fen)
        void(invoice, reason, actor)
        issued.append(reissue(invoice, invoice.gross_fen, actor, invoice.voucher_fen - take))
        owed -= take
    if owed > 0:
        extra = bill_voucher_shortfall(
            order_line_id,
            provider_id,
            enterprise_id,
            backed_fen,
            actor,
            str(_l("Voucher share clawed back (order line #%(id)d)", id=order_line_id)),
        )
        if extra is not None:
            issued.append(extra)
    return issued


def periods_billed(order_line_id: int) -> set[int]:
    stmt = select(Invoice.period).where(
        Invoice.order_line_id == order_line_id,
        Invoice.kind == InvoiceKind.CO_PAYMENT,
        Invoice.period > 0,
    )
    return set(db.session.scalars(stmt))


def co_payment_billed(order_line_id: int) -> bool:
    """Whether the line's co-payment (billed whole, not by month) has a live invoice."""
    stmt = select(func.count(Invoice.id)).where(
        Invoice.order_line_id == order_line_id,
        Invoice.kind == InvoiceKind.CO_PAYMENT,
        Invoice.period == 0,
        Invoice.status != InvoiceStatus.VOID,
    )
    return bool(db.session.scalar(stmt))


def voucher_part_billed(order_line_id: int) -> int:
    """What vouchers paid of a line's co-payment invoices so far (void ones excluded)."""
    stmt = select(func.coalesce(func.sum(Invoice.voucher_fen), 0)).where(
        Invoice.order_line_id == order_line_id,
        Invoice.kind == InvoiceKind.CO_PAYMENT,
        Invoice.status != InvoiceStatus.VOID,
    )
    return int(db.session.scalar(stmt) or 0)


def invoices_of_lines(line_ids: list[int]) -> dict[int, list[Invoice]]:
    found: dict[int, list[Invoice]] = {}
    if not line_ids:
        return found
    stmt = select(Invoice).where(Invoice.order_line_id.in_(line_ids)).order_by(Invoice.id)
    for invoice in db.session.scalars(stmt):
        found.setdefault(invoice.order_line_id, []).append(invoice)
    return found


# --- refunds --------------------------------------------------------------------------------


@atomic
def cancel_line(order_line_id: int, reason: str, actor: Actor) -> int:
    """An accepted line was cancelled: its invoices are voided and what was paid on them is
    refunded, never more. Returns the amount to refund. The invoices are locked first, so a
    payment arriving at the same moment is either refunded here or waits and finds them void."""
    refunded = 0
    stmt = (
        select(Invoice)
        .where(
            Invoice.order_line_id == order_line_id,
            Invoice.status.in_([InvoiceStatus.FINALISED, InvoiceStatus.PAID]),
        )
        .with_for_update(of=Invoice)  # the invoices only, not the joined organisations
        .execution_options(populate_existing=True)
    )
    for invoice in db.session.scalars(stmt).all():
        db.session.refresh(invoice, ["payments"])
        for payment in invoice.payments:
            left = payment.amount_fen - payment.refunded_fen
            if left > 0:
                refunded += refund(payment, left, reason, actor)
        moved = db.session.execute(
            update(Invoice)
            .where(Invoice.id == invoice.id, Invoice.paid_fen == invoice.paid_fen)
            .values(
                status=InvoiceStatus.VOID, void_reason=reason or "cancelled", voided_at=utcnow()
            )
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise DomainError(_l("This invoice changed meanwhile. Reload the page and try again."))
        db.session.refresh(invoice)
        tell_parties(invoice, "invoice_voided", actor, reason=reason)
        audit.record(actor, "invoice.voided", "invoice", invoice.id, reason=reason)
    return refunded


@atomic
def refund(payment: Payment, amount_fen: int, reason: str, actor: Actor) -> int:
    """Give back part of a payment, never more than was paid (the database holds it too).
    A Stripe refund is queued with its idempotency key and sent by ``send_refunds`` once this
    transaction has committed; a bank transfer is owed back by the provider until it records
    the return transfer."""
    before = payment.refunded_fen
    moved = db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.refunded_fen + amount_fen <= Payment.amount_fen)
        .values(refunded_fen=Payment.refunded_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    if amount_fen <= 0 or moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("A refund cannot exceed what was paid."))
    if payment.method is PaymentMethod.STRIPE:
        _owe_provider_less(payment.invoice.provider_id, amount_fen)
    row = Refund(
        payment_id=payment.id,
        amount_fen=amount_fen,
        status="pending",
        idempotency_key=f"refund-{payment.id}-{before}-{amount_fen}",
        reason=reason[:1000],
    )
    db.session.add(row)
    db.session.flush()
    if payment.method is PaymentMethod.STRIPE:
        # sent by the queue once this commits (and by the refunds job if the broker is down)
        jobs.send_after_commit("marketplace.item.stripe_refunds", row.id)
    db.session.refresh(payment)
    audit.record(
        actor,
        "refund.made",
        "invoice",
        payment.invoice_id,
        amount_fen=amount_fen,
        method=payment.method.value,
    )
    return amount_fen


def pending_stripe_refunds() -> list[Refund]:
    stmt = (
        select(Refund)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.status == "pending", Payment.method == PaymentMethod.STRIPE)
        .order_by(Refund.id)
    )
    return list(db.session.scalars(stmt))


def send_refund(row: Refund) -> None:
    """Send one queued Stripe refund (its transaction has committed) with the key stored
    with it; a refund Stripe already made answers the same, so a retry is harmless."""
    reference = gateway_for(row.payment.method).refund(
        row.payment, row.amount_fen, row.idempotency_key
    )
    db.session.execute(
        update(Refund)
        .where(Refund.id == row.id, Refund.status == "pending")
        .values(status="done", reference=reference, done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(row)


def _owe_provider_less(provider_id: int, amount_fen: int) -> None:
    """A Stripe refund: the platform owes the provider less. Never below what it already
    paid out, nor below what payout proposals not yet paid commit (CHECK
    committed_within_collected)."""
    moved = db.session.execute(
        update(ProviderBalance)
        .where(
            ProviderBalance.provider_id == provider_id,
            ProviderBalance.collected_fen - amount_fen
            >= ProviderBalance.paid_out_fen + ProviderBalance.pending_fen,
        )
        .values(collected_fen=ProviderBalance.collected_fen - amount_fen)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        return
    balance = db.session.get(ProviderBalance, provider_id, populate_existing=True)
    if balance is not None and balance.collected_fen - amount_fen >= balance.paid_out_fen:
        raise DomainError(
            _l(
                "A payout to the provider proposed or approved includes this money; cancel that "
                "payout on the platform first, then refund."
            )
        )
    raise DomainError(
        _l("This money was already paid out to the provider; settle with the platform first.")
    )


@atomic
def record_refund(refund_row: Refund, reference: str, actor: Actor) -> None:
    """The provider returned a bank transfer's money to the enterprise."""
    if not reference.strip():
        raise DomainError(_l("Enter the bank transfer's reference."), field="reference")
    moved = db.session.execute(
        update(Refund)
        .where(Refund.id == refund_row.id, Refund.status == "pending")
        .values(status="done", reference=reference.strip()[:100], done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This refund has been recorded already."))
    db.session.refresh(refund_row)
    audit.record(actor, "refund.recorded", "invoice", refund_row.payment.invoice_id)


def platform_totals() -> dict[str, int]:
    """Money billed on the platform (the overview): invoiced (finalised or paid invoices),
    received on them, still outstanding, and what vouchers paid of the invoiced lines."""
    billed = Invoice.status.in_((InvoiceStatus.FINALISED, InvoiceStatus.PAID))
    invoiced, paid, vouchers = db.session.execute(
        select(
            func.coalesce(func.sum(Invoice.amount_fen), 0),
            func.coalesce(func.sum(Invoice.paid_fen), 0),
            func.coalesce(func.sum(Invoice.voucher_fen), 0),
        ).where(billed)
    ).one()
    return {
        "invoiced": int(invoiced),
        "paid": int(paid),
        "outstanding": int(invoiced) - int(paid),
        "voucher_part": int(vouchers),
    }
