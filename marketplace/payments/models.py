"""What enterprises owe (invoices, 账单) and what they paid (payments, 支付).

An invoice is a draft until it is finalised; finalising gives it the next number of its
provider's gap-free sequence (taken under a row lock). A finalised invoice is never edited:
it is paid, or voided and replaced. Payments are recorded by a gateway backend (``manual``
bank transfers; ``stripe`` in a later step) and never exceed what the invoice asks.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, four_eyes, notifications
from marketplace.accounts.models import Organisation, User
from marketplace.db import Base, created_at, intpk, local_today, str_enum


class Labelled(StrEnum):
    @property
    def label(self) -> str:
        return str(LABELS[type(self), self.value])


class InvoiceKind(Labelled):
    # the enterprise's part of a line, issued when it accepts the delivery (验收)
    CO_PAYMENT = "co_payment"
    SUCCESS_FEE = "success_fee"  # an outcome contract's fee, due when the target is met
    # Voucher money an invoice counted on that the programme no longer pays (its redeem-by
    # date passed before acceptance): the enterprise owes it after all.
    VOUCHER_SHORTFALL = "voucher_shortfall"
    # a month of a usage plan (period = the month as YYYYMM), rated from the reported usage
    USAGE = "usage"


class InvoiceStatus(Labelled):
    DRAFT = "draft"
    FINALISED = "finalised"
    PAID = "paid"
    VOID = "void"


class PaymentMethod(Labelled):
    BANK_TRANSFER = "bank_transfer"
    STRIPE = "stripe"


class PayoutStatus(Labelled):
    PROPOSED = "proposed"  # by one platform administrator; its amount is committed
    APPROVED = "approved"  # by another one, with a note
    PAID = "paid"  # the bank transfer's reference recorded
    CANCELLED = "cancelled"  # before paid, with a reason; the amount is free again


_LABELLED: list[tuple[Labelled, Any]] = [
    (InvoiceKind.CO_PAYMENT, _l("Co-payment")),
    (InvoiceKind.SUCCESS_FEE, _l("Success fee")),
    (InvoiceKind.VOUCHER_SHORTFALL, _l("Voucher share no longer covered")),
    (InvoiceKind.USAGE, _l("Usage of the month")),
    (InvoiceStatus.DRAFT, _l("Draft")),
    (InvoiceStatus.FINALISED, _l("Due")),
    (InvoiceStatus.PAID, _l("Paid")),
    (InvoiceStatus.VOID, _l("Void")),
    (PaymentMethod.BANK_TRANSFER, _l("Bank transfer")),
    (PaymentMethod.STRIPE, _l("Card or wallet (Stripe)")),
    (PayoutStatus.PROPOSED, _l("Awaiting approval")),
    (PayoutStatus.APPROVED, _l("Approved, transfer pending")),
    (PayoutStatus.PAID, _l("Paid")),
    (PayoutStatus.CANCELLED, _l("Cancelled")),
]
LABELS = {(type(member), member.value): label for member, label in _LABELLED}


class InvoiceSequence(Base):
    """The last invoice number a provider used; finalising takes the next under a row lock."""

    __tablename__ = "invoice_sequences"
    __table_args__ = (CheckConstraint("last_number >= 0", name="not_negative"),)

    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("provider_id", "sequence"),
        # one co-payment (or one per month of a monthly subscription), one success fee per
        # line; a void invoice does not count, so a corrected one can replace it
        Index(
            "uq_invoices_line_kind_period_live",
            "order_line_id",
            "kind",
            "period",
            unique=True,
            sqlite_where=text("status <> 'void'"),
            postgresql_where=text("status <> 'void'"),
        ),
        CheckConstraint("period >= 0", name="period_not_negative"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("paid_fen >= 0 AND paid_fen <= amount_fen", name="paid_within_amount"),
        CheckConstraint("(status = 'draft') = (sequence IS NULL)", name="numbered_once_finalised"),
        CheckConstraint("status <> 'paid' OR paid_fen = amount_fen", name="paid_in_full"),
        CheckConstraint(
            "status = 'draft' OR (due_on IS NOT NULL AND seller_name IS NOT NULL"
            " AND buyer_name IS NOT NULL)",
            name="issued_with_terms_and_parties",
        ),
        Index("ix_invoices_enterprise_id_status", "enterprise_id", "status"),
        Index("ix_invoices_provider_id_status", "provider_id", "status"),
    )

    id: Mapped[intpk]
    kind: Mapped[InvoiceKind] = mapped_column(str_enum(InvoiceKind))
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # The orders domain owns order lines; invoices refer to them by key only.
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    period: Mapped[int] = mapped_column(default=0, server_default="0")  # month, when billed so
    sequence: Mapped[int | None]
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text)
    # What the line or fee comes to, and what vouchers pay of it; the invoice asks the rest.
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    voucher_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    void_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
    finalised_at: Mapped[datetime | None]
    # Set when the invoice is issued: the issue date (in the pilots' days) plus the payment
    # terms (INVOICE_PAYMENT_TERMS_DAYS).
    due_on: Mapped[date | None]
    # Who bills whom, copied when the invoice is issued: an issued invoice never changes,
    # even when an organisation later changes its name or bank account.
    seller_name: Mapped[str | None] = mapped_column(String(200))
    seller_credit_code: Mapped[str | None] = mapped_column(String(18))
    seller_bank_name: Mapped[str | None] = mapped_column(String(100))
    seller_bank_account: Mapped[str | None] = mapped_column(String(40))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_credit_code: Mapped[str | None] = mapped_column(String(18))
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]

    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id], lazy="joined")
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id], lazy="joined")
    payments: Mapped[list[Payment]] = relationship(back_populates="invoice", order_by="Payment.id")

    @property
    def due_fen(self) -> int:
        return self.amount_fen - self.paid_fen if self.status is InvoiceStatus.FINALISED else 0

    @property
    def overdue(self) -> bool:
        """Still (partly) unpaid after its due date, in the pilots' days."""
        return (
            self.status is InvoiceStatus.FINALISED
            and self.due_on is not None
            and self.due_on < local_today()
        )


class Payment(Base):
    """Money received against an invoice: a bank transfer the provider recorded, or a Stripe
    payment confirmed by its webhook."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_within_payment"
        ),
        UniqueConstraint("method", "reference"),  # the same transfer is recorded once
    )

    id: Mapped[intpk]
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(100))
    received_on: Mapped[datetime]
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]

    invoice: Mapped[Invoice] = relationship(back_populates="payments")
    refunds: Mapped[list[Refund]] = relationship(order_by="Refund.id")


class Refund(Base):
    """Money going back to the enterprise: through Stripe at once, or a bank transfer the
    provider still owes (``pending``) until it records the transfer."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[intpk]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # pending | done
    reference: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created_at]
    done_at: Mapped[datetime | None]

    payment: Mapped[Payment] = relationship(back_populates="refunds")


class StripeCheckout(Base):
    """One attempt to pay an invoice through a Stripe Checkout Session. Its idempotency key
    is committed before Stripe is called, so a retried request reuses it."""

    __tablename__ = "stripe_checkouts"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[intpk]
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]


class WebhookEvent(Base):
    """Every Stripe event id handled, once: a redelivered event is acknowledged and ignored."""

    __tablename__ = "stripe_webhook_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[created_at]


class ProviderBalance(Base):
    """What the platform collected through Stripe for a provider, what payout proposals not
    yet paid commit of it, and what it paid out; the payout statement (the platform owes
    ``collected − paid out``, of which ``pending`` is already proposed or approved)."""

    __tablename__ = "provider_balances"
    __table_args__ = (
        CheckConstraint("collected_fen >= 0", name="collected_not_negative"),
        CheckConstraint(
            "paid_out_fen >= 0 AND paid_out_fen <= collected_fen", name="paid_out_within_collected"
        ),
        CheckConstraint("pending_fen >= 0", name="pending_not_negative"),
        # Two proposals together never commit more than the platform owes.
        CheckConstraint(
            "paid_out_fen + pending_fen <= collected_fen", name="committed_within_collected"
        ),
    )

    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    collected_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_out_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    @property
    def owed_fen(self) -> int:
        return self.collected_fen - self.paid_out_fen

    @property
    def free_fen(self) -> int:
        """What a new proposal may still commit."""
        return self.collected_fen - self.paid_out_fen - self.pending_fen


class Payout(Base):
    """The platform's bank transfer to a provider of money collected through Stripe.

    Four eyes (issue 16): one platform administrator proposes it (amount and note), another
    approves it with a note, then any of them records the transfer's reference; until paid it
    may be cancelled with a reason. Payouts recorded before four eyes are paid payouts
    proposed by their recorder, without an approver (the audit trail names them)."""

    __tablename__ = "provider_payouts"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status <> 'paid' OR reference IS NOT NULL", name="paid_has_reference"),
        *four_eyes.checks("proposed_by_id"),
        CheckConstraint(
            "cancelled_by_id IS NULL OR cancel_reason IS NOT NULL", name="cancel_has_reason"
        ),
    )

    id: Mapped[intpk]
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[PayoutStatus] = mapped_column(str_enum(PayoutStatus))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(100), unique=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposal_note: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approval_note: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    provider: Mapped[Organisation] = relationship(lazy="joined")
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    paid_by: Mapped[User | None] = relationship(foreign_keys=[paid_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])


audit.register_labels(
    {
        "invoice.created": _l("Invoice drawn up"),
        "invoice.finalised": _l("Invoice issued"),
        "invoice.voided": _l("Invoice voided"),
        "invoice.paid": _l("Invoice paid"),
        "payment.recorded": _l("Payment recorded"),
        "payment.stripe_started": _l("Online payment started"),
        "payment.unapplied": _l("Online payment refunded: the invoice was no longer due"),
        "payout.recorded": _l("Payout to the provider recorded"),
        "payout.proposed": _l("Payout to the provider proposed"),
        "payout.approved": _l("Payout to the provider approved"),
        "payout.paid": _l("Payout to the provider paid"),
        "payout.cancelled": _l("Payout to the provider cancelled"),
        "refund.made": _l("Refund made"),
        "refund.recorded": _l("Refund transfer recorded"),
    }
)

# What the parties are told of an invoice (the party that acted is not told its own act).
notifications.register_kinds(
    {
        "invoice_issued": _l(
            "Invoice %(number)s from %(provider)s: %(amount)s for %(description)s. Pay it by"
            " %(by)s."
        ),
        "invoice_voided": _l("Invoice %(number)s (%(amount)s) was voided: %(reason)s"),
        "invoice_paid": _l("Invoice %(number)s (%(amount)s) is paid in full."),
    },
    deadline=["invoice_issued"],
    group="money",
)
