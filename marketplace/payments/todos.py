"""What waits in payments: the enterprise's invoices to pay (by their due date, the overdue
first), the platform's payouts waiting for a second administrator or for their transfer;
and the reminders before an invoice is due and the day after it fell overdue."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, select

from marketplace import notifications, todos
from marketplace.accounts.models import Organisation, User
from marketplace.db import db, local_today
from marketplace.money import format_fen
from marketplace.payments.models import Invoice, InvoiceStatus, Payout, PayoutStatus
from marketplace.todos import Todo

INVOICE_DUE = "invoice_due"
INVOICE_OVERDUE = "invoice_overdue"
notifications.register_kinds(
    {
        INVOICE_DUE: _l(
            "Invoice %(number)s from %(provider)s (%(amount)s) is due on %(by)s: pay it by then."
        ),
        INVOICE_OVERDUE: _l(
            "Invoice %(number)s from %(provider)s (%(amount)s) was due on %(by)s and is"
            " overdue: pay it now."
        ),
    },
    deadline=[INVOICE_DUE, INVOICE_OVERDUE],
    group="money",
)


def _unpaid() -> list[ColumnElement[bool]]:
    return [Invoice.status == InvoiceStatus.FINALISED, Invoice.due_on.is_not(None)]


def for_enterprise(enterprise: Organisation) -> list[Todo]:
    stmt = select(Invoice).where(Invoice.enterprise_id == enterprise.id, *_unpaid())
    return [
        Todo(
            "invoice_overdue" if invoice.overdue else "invoice_due",
            _l("Pay the overdue invoice") if invoice.overdue else _l("Pay the invoice"),
            f"{invoice.number} · {invoice.provider.name} · {format_fen(invoice.due_fen)}",
            f"/invoices/{invoice.id}",
            invoice.finalised_at or invoice.created_at,
            invoice.due_on,
        )
        for invoice in db.session.scalars(stmt)
    ]


def for_platform(admin: User) -> list[Todo]:
    """Payouts another administrator proposed (four eyes: not the admin's own), and approved
    payouts whose bank transfer is still to be recorded."""
    stmt = select(Payout).where(Payout.status.in_((PayoutStatus.PROPOSED, PayoutStatus.APPROVED)))
    found = []
    for payout in db.session.scalars(stmt):
        if payout.status is PayoutStatus.PROPOSED:
            if payout.proposed_by_id == admin.id:
                continue
            kind, action = "payout_proposed", _l("Approve or cancel the payout")
        else:
            kind, action = "payout_approved", _l("Record the payout's bank transfer")
        found.append(
            Todo(
                kind,
                action,
                f"{payout.provider.name} · {format_fen(payout.amount_fen)}",
                "/platform/payouts",
                payout.approved_at or payout.created_at,
            )
        )
    return found


# --- reminders: due in a few days, and overdue ----------------------------------------------


def due_for_reminder(days_before: int, today: date | None = None) -> list[int]:
    """Unpaid invoices due within ``days_before`` days or already overdue that were not
    reminded of that yet (job items)."""
    today = today or local_today()
    soon = select(Invoice.id).where(
        *_unpaid(),
        Invoice.due_on >= today,
        Invoice.due_on <= today + timedelta(days=days_before),
        todos.not_reminded(INVOICE_DUE, Invoice.id, Invoice.due_on),
    )
    late = select(Invoice.id).where(
        *_unpaid(),
        Invoice.due_on < today,
        todos.not_reminded(INVOICE_OVERDUE, Invoice.id, Invoice.due_on),
    )
    return sorted(set(db.session.scalars(soon)) | set(db.session.scalars(late)))


def remind(invoice_id: int, days_before: int, today: date | None = None) -> bool:
    """Remind the enterprise of one invoice: due soon, or (from the day after its due date)
    overdue; each once per due date."""
    today = today or local_today()
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or invoice.status is not InvoiceStatus.FINALISED or invoice.due_on is None:
        return False
    if invoice.due_on < today:
        kind = INVOICE_OVERDUE
    elif invoice.due_on <= today + timedelta(days=days_before):
        kind = INVOICE_DUE
    else:
        return False
    return todos.remind_once(
        kind,
        invoice.id,
        invoice.enterprise_id,
        invoice.due_on,
        f"/invoices/{invoice.id}",
        number=invoice.number,
        provider=invoice.provider.name,
        amount=format_fen(invoice.due_fen),
    )
