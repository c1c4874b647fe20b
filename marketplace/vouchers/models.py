"""Transformation vouchers (转型券): programmes, vouchers, their ledger, settlements, risk flags.

Public money, so the database holds the rules as well as the code:

- a programme's ``issued_fen`` never exceeds its budget (CHECK), and moves only by
  conditional UPDATEs;
- a voucher's balance columns never go negative and never add up to more than its face value
  (CHECK); every change is a conditional UPDATE plus an append-only ``VoucherEntry``;
- an enterprise holds at most ``cap // face`` vouchers of one programme: ``seq`` is unique per
  (programme, enterprise) and ``seq × face ≤ cap`` (CHECK);
- the ledger refuses UPDATE and DELETE (triggers in the migration).

A voucher's available balance is what is left of its face value after what is reserved,
redeemed, expired, clawed back and revoked.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, four_eyes, notifications
from marketplace.accounts.models import Organisation, User
from marketplace.db import Base, created_at, intpk, local_today, str_enum
from marketplace.money import part_of, share_of
from marketplace.statemachine import StateMachine, Transition


class Labelled(StrEnum):
    @property
    def label(self) -> str:
        # keyed by class too: equal values of different enums ("open") have their own labels
        return str(LABELS[type(self), self.value])


class ProgrammeStatus(Labelled):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class ProgrammeMode(Labelled):
    OPEN = "open"  # any provider admitted to the agency's pool
    INTEGRATOR = "integrator"  # only curated bundles of appointed integrators
    # an appointed integrator's curated bundle, in which the enterprise may swap a module for
    # an admitted specialist's package; the integration fee is pro-rated (``prorated_fee``)
    HYBRID = "hybrid"


class VoucherStatus(Labelled):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class EntryKind(Labelled):
    ISSUE = "issue"
    RESERVE = "reserve"
    RELEASE = "release"
    REDEEM = "redeem"
    SETTLE = "settle"
    EXPIRE = "expire"
    REVOKE = "revoke"
    CLAWBACK = "clawback"


class ReservationStatus(Labelled):
    RESERVED = "reserved"
    RELEASED = "released"
    REDEEMED = "redeemed"
    CLAWED_BACK = "clawed_back"


class CapPolicy(Labelled):
    """What a programme does with an order that would take one provider above its share cap."""

    REFUSE = "refuse"
    HOLD = "hold"  # reserve, but hold for an official's decision


class CapHoldStatus(Labelled):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class ApplicationStatus(Labelled):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class SettlementStatus(Labelled):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"
    CANCELLED = "cancelled"


class RunStatus(Labelled):
    """An issuing run: issued at once, or (a batch above the programme's threshold) proposed
    and waiting for a second official, then issued on approval or cancelled."""

    ISSUED = "issued"
    PROPOSED = "proposed"
    CANCELLED = "cancelled"


class RiskReason(Labelled):
    SHARED_PHONE = "shared_phone"
    SHARED_ADDRESS = "shared_address"
    SHARED_LEGAL_REPRESENTATIVE = "shared_legal_representative"
    SHARED_BANK_ACCOUNT = "shared_bank_account"
    FAST_DELIVERY = "fast_delivery"
    REPEATED_AMOUNTS = "repeated_amounts"


class FlagStatus(Labelled):
    OPEN = "open"
    CLEARED = "cleared"
    UPHELD = "upheld"


class RecoveryStatus(Labelled):
    OPEN = "open"
    RECOVERED = "recovered"


_LABELLED: list[tuple[Labelled, Any]] = [
    (ProgrammeStatus.DRAFT, _l("Draft")),
    (ProgrammeStatus.OPEN, _l("Open for vouchers")),
    (ProgrammeStatus.CLOSED, _l("Closed")),
    (ProgrammeMode.OPEN, _l("Open mode")),
    (ProgrammeMode.INTEGRATOR, _l("Integrator mode")),
    (CapPolicy.REFUSE, _l("Refuse the order")),
    (CapPolicy.HOLD, _l("Hold it for an official's decision")),
    (CapHoldStatus.PENDING, _l("Waiting for a decision")),
    (CapHoldStatus.APPROVED, _l("Approved")),
    (CapHoldStatus.DECLINED, _l("Declined")),
    (ProgrammeMode.HYBRID, _l("Hybrid mode")),
    (VoucherStatus.ACTIVE, _l("Active")),
    (VoucherStatus.EXPIRED, _l("Expired")),
    (VoucherStatus.REVOKED, _l("Revoked")),
    (EntryKind.ISSUE, _l("Issued")),
    (EntryKind.RESERVE, _l("Reserved")),
    (EntryKind.RELEASE, _l("Released")),
    (EntryKind.REDEEM, _l("Redeemed")),
    (EntryKind.SETTLE, _l("Settled to the provider")),
    (EntryKind.EXPIRE, _l("Expired")),
    (EntryKind.REVOKE, _l("Revoked")),
    (EntryKind.CLAWBACK, _l("Clawed back")),
    (ReservationStatus.RESERVED, _l("Reserved")),
    (ReservationStatus.RELEASED, _l("Released")),
    (ReservationStatus.REDEEMED, _l("Redeemed")),
    (ReservationStatus.CLAWED_BACK, _l("Clawed back")),
    (ApplicationStatus.PENDING, _l("Waiting for a decision")),
    (ApplicationStatus.APPROVED, _l("Approved")),
    (ApplicationStatus.REJECTED, _l("Rejected")),
    (SettlementStatus.DRAFT, _l("Draft")),
    (SettlementStatus.APPROVED, _l("Approved")),
    (SettlementStatus.PAID, _l("Paid")),
    (SettlementStatus.CANCELLED, _l("Cancelled")),
    (RunStatus.ISSUED, _l("Issued")),
    (RunStatus.PROPOSED, _l("Waiting for approval")),
    (RunStatus.CANCELLED, _l("Cancelled")),
    (RiskReason.SHARED_PHONE, _l("Enterprise and provider share a contact phone")),
    (RiskReason.SHARED_ADDRESS, _l("Enterprise and provider share a registered address")),
    (
        RiskReason.SHARED_LEGAL_REPRESENTATIVE,
        _l("Enterprise and provider share a legal representative"),
    ),
    (RiskReason.SHARED_BANK_ACCOUNT, _l("Enterprise and provider share a bank account")),
    (RiskReason.FAST_DELIVERY, _l("Delivered implausibly fast for the package's go-live time")),
    (RiskReason.REPEATED_AMOUNTS, _l("Many identical amounts from one provider in a short time")),
    (FlagStatus.OPEN, _l("Held for review")),
    (FlagStatus.CLEARED, _l("Cleared")),
    (FlagStatus.UPHELD, _l("Upheld: clawed back")),
    (RecoveryStatus.OPEN, _l("To be repaid by the provider")),
    (RecoveryStatus.RECOVERED, _l("Repaid")),
]
LABELS = {(type(member), member.value): label for member, label in _LABELLED}

MAX_BUDGET_FEN = 10_000_000_000_00  # ¥10 billion: far above any city programme

# A batch whose total is above this needs a second official's approval (four eyes), unless
# the programme sets its own threshold: ¥200,000, ten vouchers of ¥20,000.
DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN = 200_000_00

# Hybrid mode: the integration fee of a bundle in which the enterprise swapped modules keeps
# at least this share of the curated bundle's fee unless the programme sets its own.
DEFAULT_HYBRID_FEE_FLOOR_BP = 5000
# The longest cooling-off a programme may set (a quarter): longer would hold providers' money
# for no reason the pilots give.
MAX_COOLING_OFF_DAYS = 90


def prorated_fee(fee_fen: int, kept_fen: int, whole_fen: int, floor_bp: int) -> int:
    """The integration fee of a curated bundle of list value ``whole_fen`` of which modules
    worth ``kept_fen`` are kept with the integrator (the others swapped for specialists):

        fee × kept ÷ whole, but at least fee × floor ÷ 10,000,

    each rounded down to the fen (the house rule: public money never rounds up). Nothing
    swapped: the whole fee."""
    if whole_fen <= 0 or kept_fen >= whole_fen:
        return fee_fen
    return max(part_of(fee_fen, max(kept_fen, 0), whole_fen), share_of(fee_fen, floor_bp))


class VoucherProgramme(Base):
    """An agency's voucher budget with its rules. The rules freeze at the first voucher."""

    __tablename__ = "voucher_programmes"
    __table_args__ = (
        CheckConstraint(f"budget_fen > 0 AND budget_fen <= {MAX_BUDGET_FEN}", name="budget_range"),
        CheckConstraint("face_value_fen > 0 AND face_value_fen <= budget_fen", name="face_value"),
        CheckConstraint("cap_fen >= face_value_fen", name="cap_at_least_face_value"),
        CheckConstraint("rate_bp BETWEEN 1 AND 10000", name="rate_range"),
        CheckConstraint(
            "issued_fen >= 0 AND issued_fen <= budget_fen", name="issued_within_budget"
        ),
        CheckConstraint("issue_from <= redeem_by", name="dates_in_order"),
        CheckConstraint(
            "concentration_threshold_bp BETWEEN 1 AND 10000", name="concentration_threshold"
        ),
        CheckConstraint(
            "min_revenue_fen IS NULL OR max_revenue_fen IS NULL"
            " OR min_revenue_fen <= max_revenue_fen",
            name="revenue_range",
        ),
        CheckConstraint(
            f"batch_approval_threshold_fen BETWEEN 0 AND {MAX_BUDGET_FEN}",
            name="batch_approval_threshold",
        ),
        # Caps that hold (issue 22): NULL is no cap.
        CheckConstraint(
            "provider_cap_bp IS NULL OR (provider_cap_bp > 0 AND provider_cap_bp <= 10000)",
            name="provider_cap_range",
        ),
        CheckConstraint(
            "integration_fee_cap_bp IS NULL"
            " OR (integration_fee_cap_bp > 0 AND integration_fee_cap_bp <= 10000)",
            name="integration_fee_cap_range",
        ),
        CheckConstraint("cap_from_fen >= 0", name="cap_from_not_negative"),
        CheckConstraint("hybrid_fee_floor_bp BETWEEN 0 AND 10000", name="hybrid_fee_floor"),
        CheckConstraint(
            f"cooling_off_days BETWEEN 0 AND {MAX_COOLING_OFF_DAYS}", name="cooling_off_days_range"
        ),
        UniqueConstraint("agency_id", "name"),
    )

    id: Mapped[intpk]
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[ProgrammeStatus] = mapped_column(str_enum(ProgrammeStatus))
    mode: Mapped[ProgrammeMode] = mapped_column(str_enum(ProgrammeMode))
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    face_value_fen: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int]
    cap_fen: Mapped[int] = mapped_column(BigInteger)
    # Eligibility; an empty list means "any".
    industry_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    size_tiers: Mapped[list[str]] = mapped_column(JSON, default=list)
    region_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_revenue_fen: Mapped[int | None] = mapped_column(BigInteger)
    max_revenue_fen: Mapped[int | None] = mapped_column(BigInteger)
    diagnosis_required: Mapped[bool] = mapped_column(default=False)
    # What vouchers pay for; an empty list means "any".
    category_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    plan_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    covers_success_fees: Mapped[bool] = mapped_column(default=False)
    issue_from: Mapped[date]
    redeem_by: Mapped[date]
    issued_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Market concentration (防垄断): alert when one provider holds more than this share.
    concentration_threshold_bp: Mapped[int] = mapped_column(default=3000, server_default="3000")
    # Four eyes on large batches: a batch or list above this total is proposed by one official
    # and issued only when another official of the agency approves it.
    batch_approval_threshold_fen: Mapped[int] = mapped_column(
        BigInteger,
        default=DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN,
        server_default=str(DEFAULT_BATCH_APPROVAL_THRESHOLD_FEN),
    )
    # Caps (issue 22), which an official may change at any time; they apply to new orders.
    # One provider's share of the voucher money reserved and spent, this order included
    # (counting what it delivered and what it routed as an integrator), once that money
    # reaches ``cap_from_fen`` (the first orders of a programme are always 100 %).
    provider_cap_bp: Mapped[int | None]
    # The integration fee's share of a curated bundle (fee / (modules + fee)).
    integration_fee_cap_bp: Mapped[int | None]
    cap_policy: Mapped[CapPolicy] = mapped_column(
        str_enum(CapPolicy), default=CapPolicy.REFUSE, server_default=CapPolicy.REFUSE.value
    )
    cap_from_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Hybrid mode's pro-rating rule (``prorated_fee``): the least share of the integration fee
    # an integrator keeps however many modules the enterprise swaps.
    hybrid_fee_floor_bp: Mapped[int] = mapped_column(
        default=DEFAULT_HYBRID_FEE_FLOOR_BP, server_default=str(DEFAULT_HYBRID_FEE_FLOOR_BP)
    )
    # Cooling-off (issue 23): vouchers paying a line are redeemed only this many days after
    # its delivery started; meanwhile the enterprise may cancel it and the voucher money
    # returns whole. 0: no cooling-off.
    cooling_off_days: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    # Package admission (issue 22): the criteria a package version is admitted against
    # before the programme's vouchers pay for it, published on the programme's pages, and the
    # assessor organisation the agency delegates the decisions to (its officials decide too).
    admission_criteria: Mapped[str] = mapped_column(Text, default="", server_default="")
    admission_assessor_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))

    agency: Mapped[Organisation] = relationship(lazy="joined", foreign_keys=[agency_id])
    admission_assessor: Mapped[Organisation | None] = relationship(
        foreign_keys=[admission_assessor_id]
    )
    appointments: Mapped[list[Appointment]] = relationship(
        back_populates="programme", order_by="Appointment.id"
    )

    @property
    def integrators(self) -> list[Organisation]:
        """The integrators appointed now: appointments not ended whose term runs today."""
        today = local_today()
        current = [a.integrator for a in self.appointments if a.current(today)]
        return sorted({o.id: o for o in current}.values(), key=lambda o: o.name)

    @property
    def swaps_allowed(self) -> bool:
        return self.mode is ProgrammeMode.HYBRID

    @property
    def hybrid_fee_floor_percent(self) -> str:
        return f"{self.hybrid_fee_floor_bp / 100:g}"

    @property
    def remaining_fen(self) -> int:
        return self.budget_fen - self.issued_fen

    @property
    def rate_percent(self) -> str:
        return f"{self.rate_bp / 100:g}"

    @property
    def per_enterprise(self) -> int:
        """How many vouchers one enterprise may hold."""
        return self.cap_fen // self.face_value_fen

    def needs_approval(self, total_fen: int) -> bool:
        """Whether a batch of this total needs a second official's approval."""
        return total_fen > self.batch_approval_threshold_fen


class Appointment(Base):
    """An integrator's appointment to a programme and how it was chosen (集成服务商遴选): the
    call, its criteria, the applicants with their scores, the reason, the term and the cap on
    its integration fee. Ended early by an official, or by its term: either way it stops
    counting as appointed."""

    __tablename__ = "programme_appointments"
    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
        CheckConstraint("term_start <= term_end", name="term_in_order"),
        CheckConstraint(
            "integration_fee_cap_bp BETWEEN 0 AND 10000", name="integration_fee_cap_range"
        ),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="ended_with_a_reason"),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("voucher_programmes.id", ondelete="CASCADE"), index=True
    )
    integrator_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    call_reference: Mapped[str] = mapped_column(String(60), default="")
    call_title: Mapped[str] = mapped_column(String(200), default="")
    criteria: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text)
    term_start: Mapped[date]
    term_end: Mapped[date]
    integration_fee_cap_bp: Mapped[int]
    appointed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)

    programme: Mapped[VoucherProgramme] = relationship(back_populates="appointments")
    integrator: Mapped[Organisation] = relationship(lazy="joined")
    applicants: Mapped[list[Applicant]] = relationship(
        back_populates="appointment",
        order_by="(Applicant.score.desc(), Applicant.id)",
        cascade="all, delete-orphan",
    )

    def current(self, today: date) -> bool:
        return self.ended_at is None and self.term_start <= today <= self.term_end

    @property
    def integration_fee_cap_percent(self) -> str:
        return f"{self.integration_fee_cap_bp / 100:g}"


class Applicant(Base):
    """A provider that answered an appointment's call, with the score the selection gave it."""

    __tablename__ = "appointment_applicants"
    __table_args__ = (
        UniqueConstraint("appointment_id", "provider_id"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
    )

    id: Mapped[intpk]
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("programme_appointments.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    score: Mapped[int]

    appointment: Mapped[Appointment] = relationship(back_populates="applicants")
    provider: Mapped[Organisation] = relationship(lazy="joined")


class IssueRun(Base):
    """One issuing action (a batch, a CSV import, a single voucher or an approval), keyed by
    the form's one-time key so a repeated submission answers with the first result.

    A batch or list above the programme's threshold is stored as a proposal instead: its
    exact holders in ``RunItem``, no voucher and no budget taken, until another official of
    the agency approves it (four eyes; then it is issued) or someone cancels it. ``count``
    and ``total_fen`` are what the run issued, or would issue once approved."""

    __tablename__ = "voucher_issue_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('batch', 'csv', 'single')", name="kind_known"),
        # Four eyes (issue 16): one official proposes a large batch, another approves it.
        *four_eyes.checks("proposed_by_id"),
        CheckConstraint(
            "status <> 'proposed' OR (proposed_by_id IS NOT NULL AND kind <> 'single')",
            name="proposal_has_proposer",
        ),
        CheckConstraint(
            "status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_has_reason"
        ),
        CheckConstraint(
            "proposed_by_id IS NULL OR status <> 'issued' OR approved_by_id IS NOT NULL",
            name="proposal_issued_when_approved",
        ),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus), default=RunStatus.ISSUED, server_default=RunStatus.ISSUED.value
    )
    count: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    # A proposal's proposer (the run's creator) and their note for the approving official.
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposal_note: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approval_note: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]

    programme: Mapped[VoucherProgramme] = relationship()
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    @property
    def is_proposal(self) -> bool:
        return self.proposed_by_id is not None


class RunItem(Base):
    """One holder of a proposed batch: exactly these enterprises get a voucher on approval."""

    __tablename__ = "voucher_run_items"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    run_id: Mapped[int] = mapped_column(
        ForeignKey("voucher_issue_runs.id", ondelete="CASCADE"), primary_key=True
    )
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(default=1)

    enterprise: Mapped[Organisation] = relationship()


class StagedImport(Base):
    """A CSV list uploaded for a dry run (issue 20): the file itself, its SHA-256 and the
    row-by-row report the dry run made, with nothing issued. Confirming issues from these
    stored bytes, and only when they still give exactly the report's holders, so the import
    cannot differ from the preview. ``run_id`` is set once confirmed (at most once)."""

    __tablename__ = "voucher_staged_imports"
    __table_args__ = (
        CheckConstraint("count >= 0 AND total_fen >= 0", name="figures_not_negative"),
        CheckConstraint("length(digest) = 64", name="digest_is_sha256"),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(200), default="")
    digest: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(default=0)  # rows that would get a voucher
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[created_at]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_issue_runs.id"), unique=True)

    programme: Mapped[VoucherProgramme] = relationship()
    run: Mapped[IssueRun | None] = relationship()


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("programme_id", "enterprise_id", "seq"),
        CheckConstraint("seq >= 1 AND seq * face_value_fen <= cap_fen", name="within_cap"),
        CheckConstraint(
            "face_value_fen > 0 AND reserved_fen >= 0 AND redeemed_fen >= 0 AND settled_fen >= 0"
            " AND expired_fen >= 0 AND clawed_back_fen >= 0 AND revoked_fen >= 0",
            name="amounts_not_negative",
        ),
        CheckConstraint(
            "reserved_fen + redeemed_fen + expired_fen + clawed_back_fen + revoked_fen"
            " <= face_value_fen",
            name="within_face_value",
        ),
        CheckConstraint("settled_fen <= redeemed_fen", name="settled_within_redeemed"),
        CheckConstraint(
            "status <> 'revoked' OR (reserved_fen = 0 AND redeemed_fen = 0)",
            name="revoked_unused",
        ),
        CheckConstraint("status <> 'expired' OR reserved_fen = 0", name="expired_unreserved"),
        Index("ix_vouchers_enterprise_id_status", "enterprise_id", "status"),
    )

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(24), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_issue_runs.id"), index=True)
    seq: Mapped[int] = mapped_column(default=1)
    # Copied from the programme (frozen by then) so the CHECKs above can see them.
    face_value_fen: Mapped[int] = mapped_column(BigInteger)
    cap_fen: Mapped[int] = mapped_column(BigInteger)
    reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    redeemed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    expired_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    clawed_back_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[VoucherStatus] = mapped_column(str_enum(VoucherStatus))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[created_at]

    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    enterprise: Mapped[Organisation] = relationship()

    @property
    def available_fen(self) -> int:
        if self.status is not VoucherStatus.ACTIVE:
            return 0
        return (
            self.face_value_fen
            - self.reserved_fen
            - self.redeemed_fen
            - self.expired_fen
            - self.clawed_back_fen
            - self.revoked_fen
        )

    @property
    def in_use(self) -> bool:
        return self.reserved_fen > 0 or self.redeemed_fen > 0


# What is left to spend of a voucher, as SQL (``Voucher.available_fen`` for a loaded one).
AVAILABLE = (
    Voucher.face_value_fen
    - Voucher.reserved_fen
    - Voucher.redeemed_fen
    - Voucher.expired_fen
    - Voucher.clawed_back_fen
    - Voucher.revoked_fen
)


class VoucherApplication(Base):
    """An enterprise's request for a voucher, decided by an official."""

    __tablename__ = "voucher_applications"
    __table_args__ = (
        Index(
            "uq_voucher_applications_pending",
            "programme_id",
            "enterprise_id",
            unique=True,
            sqlite_where=Column("status") == "pending",
            postgresql_where=Column("status") == "pending",
        ),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(str_enum(ApplicationStatus))
    note: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    enterprise: Mapped[Organisation] = relationship(lazy="joined")


class Settlement(Base):
    """A payout batch (结算单) of redeemed voucher money to one provider under one programme."""

    __tablename__ = "voucher_settlements"
    __table_args__ = (
        CheckConstraint("total_fen > 0", name="total_positive"),
        CheckConstraint(
            "status <> 'paid' OR transfer_reference IS NOT NULL", name="paid_has_reference"
        ),
        # Four eyes (issue 16): one official proposes (draws up), another approves.
        *four_eyes.checks("created_by_id"),
        CheckConstraint(
            "cancelled_by_id IS NULL OR cancel_reason IS NOT NULL", name="cancel_has_reason"
        ),
        Index("ix_voucher_settlements_provider_id_status", "provider_id", "status"),
    )

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(24), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[SettlementStatus] = mapped_column(str_enum(SettlementStatus))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    transfer_reference: Mapped[str | None] = mapped_column(String(60))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # the proposer
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approval_note: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    provider: Mapped[Organisation] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    paid_by: Mapped[User | None] = relationship(foreign_keys=[paid_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    reservations: Mapped[list[Reservation]] = relationship(
        back_populates="settlement", order_by="Reservation.id"
    )


class Reservation(Base):
    """The part of one voucher set aside for one order line: reserved at checkout, then
    released (rejection, cancellation, expiry), or redeemed at acceptance (验收) and later
    settled to the provider or clawed back."""

    __tablename__ = "voucher_reservations"
    __table_args__ = (
        # one reservation per voucher, line and kind; a usage line has one per billed month
        UniqueConstraint("order_line_id", "voucher_id", "for_success_fee", "period"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("line_amount_fen >= amount_fen", name="within_line_amount"),
        CheckConstraint("trimmed_fen >= 0", name="trimmed_not_negative"),
        CheckConstraint(
            "settlement_id IS NULL OR status = 'redeemed'", name="settles_only_redeemed"
        ),
        Index("ix_voucher_reservations_provider_id_status", "provider_id", "status"),
    )

    id: Mapped[intpk]
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    # The orders domain owns order lines; this table refers to them by key only.
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    line_amount_fen: Mapped[int] = mapped_column(BigInteger)
    # Given back while still reserved because the line's amount was reduced (a dispute
    # decided at a reduced amount): reserved at first = amount_fen + trimmed_fen.
    trimmed_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    is_integration: Mapped[bool] = mapped_column(default=False)
    # A pay-for-results line's success fee is paid apart from its base fee, when met.
    for_success_fee: Mapped[bool] = mapped_column(default=False, server_default="false")
    # The month (YYYYMM) of a usage line's invoice this pays towards; 0 for everything else.
    period: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[ReservationStatus] = mapped_column(str_enum(ReservationStatus))
    held: Mapped[bool] = mapped_column(default=False)
    # The cap hold the reservation waits on (issue 22). The integrator that routed the line
    # is the line's own fact (``OrderLine.integrator_id``), not repeated here.
    cap_hold_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_cap_holds.id"), index=True)
    settlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("voucher_settlements.id"), index=True
    )
    created_at: Mapped[created_at]
    redeemed_at: Mapped[datetime | None]
    # Cooling-off (issue 23): set when the line's delivery starts under a programme with
    # cooling-off days; until then the money stays reserved and the enterprise may cancel.
    # An acceptance (验收) before that moment is noted in ``accepted_at``; the
    # ``cooling_off_redemption`` job spends the money once the period is over.
    cooling_off_until: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]

    voucher: Mapped[Voucher] = relationship(lazy="joined")
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    settlement: Mapped[Settlement | None] = relationship(back_populates="reservations")
    flags: Mapped[list[RiskFlag]] = relationship(back_populates="reservation")


class CapHold(Base):
    """An order line whose voucher money would take a provider above the programme's share
    cap, under a programme that holds such orders for an official (issue 22). The money is
    reserved meanwhile (so it counts towards the shares of later orders); approved, it is
    spent as usual; declined, it goes back to the voucher and the enterprise pays itself."""

    __tablename__ = "voucher_cap_holds"
    __table_args__ = (
        UniqueConstraint("programme_id", "order_line_id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("share_bp BETWEEN 0 AND 10000", name="share_range"),
        CheckConstraint("cap_bp BETWEEN 1 AND 10000", name="cap_range"),
        CheckConstraint(
            "status = 'pending' OR (decided_by_id IS NOT NULL AND decided_at IS NOT NULL"
            " AND length(reason) > 0)",
            name="decided_has_reason",
        ),
        Index("ix_voucher_cap_holds_programme_id_status", "programme_id", "status"),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    order_number: Mapped[str] = mapped_column(String(24))  # told by the orders domain
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))  # over the cap
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # the voucher money held
    share_bp: Mapped[int]  # the provider's share with this order
    cap_bp: Mapped[int]  # the cap when ordered
    status: Mapped[CapHoldStatus] = mapped_column(str_enum(CapHoldStatus))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    # accepted (验收) while the hold waited: the approval spends the money then
    line_accepted_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id], lazy="joined")
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id], lazy="joined")


class VoucherEntry(Base):
    """Append-only ledger row (转型券流水). The database refuses UPDATE and DELETE."""

    __tablename__ = "voucher_entries"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_voucher_entries_voucher_id_kind", "voucher_id", "kind"),
    )

    id: Mapped[intpk]
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"))
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("voucher_reservations.id"), index=True
    )
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_settlements.id"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[created_at]

    @property
    def shown_note(self) -> str:
        """The note in the reader's language when the system wrote it (an official's own
        words are shown as typed)."""
        return str(SYSTEM_NOTES.get(self.note, self.note))


# Notes the system writes on ledger rows, stored in English and shown translated.
EXPIRED_NOTE = "redeem-by date passed"
SYSTEM_NOTES = {
    EXPIRED_NOTE: _l("The redeem-by date has passed"),
    # the order line events that release a reservation (orders passes the event's value)
    "reject": _l("The provider declined the order line"),
    "cancel": _l("The order line was cancelled"),
    "rule_cancel": _l("The order line was cancelled by the ruling on its dispute"),
}

FAST_DELIVERY_DETAIL = re.compile(r"^(\d+) h / (\d+) d$")


class RiskFlag(Base):
    """A reason to hold a redemption for review before it may be settled."""

    __tablename__ = "voucher_risk_flags"
    __table_args__ = (UniqueConstraint("reservation_id", "reason"),)

    id: Mapped[intpk]
    reservation_id: Mapped[int] = mapped_column(ForeignKey("voucher_reservations.id"))
    reason: Mapped[RiskReason] = mapped_column(str_enum(RiskReason, length=40))
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[FlagStatus] = mapped_column(str_enum(FlagStatus), index=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    reservation: Mapped[Reservation] = relationship(back_populates="flags", lazy="joined")

    @property
    def shown_detail(self) -> str:
        """The detail in the reader's language: a fast delivery's "hours / days" (stored
        as ``"30 h / 14 d"``) is written out; other details are data (a phone number, an
        address, an amount)."""
        fast = FAST_DELIVERY_DETAIL.match(self.detail)
        if fast is None:
            return self.detail
        hours, days = (int(n) for n in fast.groups())
        return str(
            _l(
                "delivered in %(hours)d hours; the package promises %(days)d days",
                hours=hours,
                days=days,
            )
        )


# --- claw-backs: four eyes (issue 16) ------------------------------------------------------


class ClawBackStatus(Labelled):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


LABELS.update(
    {
        (ClawBackStatus, ClawBackStatus.PROPOSED.value): _l(
            "Waiting for another official's approval"
        ),
        (ClawBackStatus, ClawBackStatus.APPROVED.value): _l("Approved: clawed back"),
        (ClawBackStatus, ClawBackStatus.REJECTED.value): _l("Rejected: not clawed back"),
        (ClawBackStatus, ClawBackStatus.WITHDRAWN.value): _l("Withdrawn by the proposer"),
    }
)


class ClawBack(Base):
    """A claw-back (追回) of one redemption, proposed by one official of the programme's agency
    with the reason the parties will see and approved by another (four eyes, held by the
    database too: ``four_eyes.checks``). Only the approval moves money (``risk.claw_back``);
    until then the redemption stays held and its flags open. Rejected by another official or
    withdrawn by its proposer, each with a note, the flags await a new decision.

    At most one claw-back of a redemption is live (proposed) or done (approved): a partial
    UNIQUE index, so two officials proposing at once store one."""

    __tablename__ = "voucher_clawbacks"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        *four_eyes.checks("proposed_by_id"),
        CheckConstraint(
            "status <> 'approved' OR (approved_by_id IS NOT NULL AND approved_at IS NOT NULL)",
            name="approved_has_approver",
        ),
        CheckConstraint(
            "status NOT IN ('rejected', 'withdrawn')"
            " OR (decided_by_id IS NOT NULL AND decision_note IS NOT NULL"
            " AND decided_at IS NOT NULL)",
            name="decided_has_note",
        ),
        Index(
            "uq_voucher_clawbacks_reservation_live",
            "reservation_id",
            unique=True,
            sqlite_where=text("status IN ('proposed', 'approved')"),
            postgresql_where=text("status IN ('proposed', 'approved')"),
        ),
    )

    id: Mapped[intpk]
    reservation_id: Mapped[int] = mapped_column(ForeignKey("voucher_reservations.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # the redemption's, when proposed
    status: Mapped[ClawBackStatus] = mapped_column(str_enum(ClawBackStatus), index=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)  # the proposer's note: what the parties read
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approval_note: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None]
    # rejected by another official, or withdrawn by the proposer
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    reservation: Mapped[Reservation] = relationship(lazy="joined")
    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


audit.register_labels(
    {
        "clawback.proposed": _l("Claw-back proposed"),
        "clawback.approved": _l("Claw-back approved: voucher money clawed back"),
        "clawback.rejected": _l("Claw-back rejected"),
        "clawback.withdrawn": _l("Claw-back withdrawn"),
    }
)


class RecoveryClaim(Base):
    """Voucher money clawed back after the agency had settled and paid it to the provider: the
    agency asks the provider to repay it (never a negative payout). The redemption stays
    settled in the ledger, which records what did happen; this claim records what is owed
    back, until the agency records the provider's repayment."""

    __tablename__ = "voucher_recovery_claims"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "status <> 'recovered' OR (reference IS NOT NULL AND recovered_at IS NOT NULL)",
            name="recovered_has_reference",
        ),
        Index("ix_voucher_recovery_claims_provider_id_status", "provider_id", "status"),
    )

    id: Mapped[intpk]
    # one claim per redemption: upholding again finds it and stores nothing
    reservation_id: Mapped[int] = mapped_column(ForeignKey("voucher_reservations.id"), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    settlement_id: Mapped[int] = mapped_column(ForeignKey("voucher_settlements.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[RecoveryStatus] = mapped_column(str_enum(RecoveryStatus))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    reference: Mapped[str | None] = mapped_column(String(60))  # the repayment's bank reference
    recovered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recovered_at: Mapped[datetime | None]

    provider: Mapped[Organisation] = relationship(lazy="joined")
    settlement: Mapped[Settlement] = relationship()
    reservation: Mapped[Reservation] = relationship()


audit.register_labels(
    {
        "programme.created": _l("Voucher programme created"),
        "programme.edited": _l("Voucher programme edited"),
        "programme.opened": _l("Voucher programme opened"),
        "programme.closed": _l("Voucher programme closed"),
        "programme.validity_extended": _l("Voucher validity extended"),
        "programme.budget_changed": _l("Voucher budget changed"),
        "vouchers.issued": _l("Vouchers issued"),
        "vouchers.import_previewed": _l("Voucher list checked in a dry run"),
        "vouchers.batch_proposed": _l("Voucher batch proposed for approval"),
        "vouchers.batch_approved": _l("Voucher batch approved and issued"),
        "vouchers.batch_cancelled": _l("Proposed voucher batch cancelled"),
        "voucher.revoked": _l("Voucher revoked"),
        "voucher.applied": _l("Voucher applied for"),
        "voucher.application_approved": _l("Voucher application approved"),
        "voucher.application_rejected": _l("Voucher application rejected"),
        "vouchers.reserved": _l("Voucher amounts reserved"),
        "programme.caps_changed": _l("Voucher programme caps changed"),
        "cap_hold.held": _l("Order held: above the programme's share cap"),
        "cap_hold.approved": _l("Order above the share cap approved"),
        "cap_hold.declined": _l("Order above the share cap declined"),
        "vouchers.released": _l("Voucher amounts released"),
        "vouchers.redeemed": _l("Voucher amounts redeemed"),
        "vouchers.expired": _l("Vouchers expired"),
        "settlement.created": _l("Settlement drawn up"),
        "settlement.approved": _l("Settlement approved"),
        "settlement.paid": _l("Settlement paid"),
        "settlement.cancelled": _l("Settlement cancelled"),
        "risk_flag.cleared": _l("Risk flag cleared"),
        "risk_flag.upheld": _l("Risk flag upheld: clawed back"),
        "recovery.claimed": _l("Repayment of settled voucher money claimed from the provider"),
        "recovery.recovered": _l("Repayment of settled voucher money recorded"),
        "programme.integrator_appointed": _l("Integrator appointed"),
        "programme.appointment_ended": _l("Integrator appointment ended"),
    }
)

# What the parties are told (``notifications.notify``): each text names the object, what to
# do and by when. The kinds in ``deadline`` carry a ``by`` date.
notifications.register_kinds(
    {
        "voucher_applied": _l(
            "%(enterprise)s applied for a voucher of %(programme)s: approve or reject the"
            " application."
        ),
        "voucher_application_approved": _l(
            "Your application to %(programme)s was approved: voucher %(code)s of %(amount)s is"
            " yours. Use it on an order by %(by)s."
        ),
        "voucher_application_rejected": _l(
            "Your application to %(programme)s was rejected: %(reason)s"
        ),
        "voucher_issued": _l(
            "You received voucher %(code)s of %(amount)s from %(programme)s. Use it on an order"
            " by %(by)s."
        ),
        "voucher_revoked": _l("Voucher %(code)s of %(programme)s was revoked: %(reason)s"),
        "cap_hold_waiting": _l(
            "Order %(number)s would take %(provider)s to %(share)s of %(programme)s (cap"
            " %(cap)s): approve or decline its voucher payment."
        ),
        "cap_held": _l(
            "The voucher payment of %(amount)s for order %(number)s is held for the agency's"
            " decision: %(provider)s would exceed the share cap of %(programme)s."
        ),
        "cap_hold_approved": _l(
            "The agency approved the voucher payment of %(amount)s for order %(number)s."
        ),
        "cap_hold_declined": _l(
            "The agency declined the voucher payment of %(amount)s for order %(number)s; you"
            " pay that part yourself. Reason: %(reason)s"
        ),
        "voucher_batch_proposed": _l(
            "A batch of %(count)d vouchers (%(amount)s) of %(programme)s waits for another"
            " official's approval: approve or cancel it."
        ),
        "clawback_proposed": _l(
            "A claw-back of %(amount)s on order %(number)s waits for another official's"
            " approval: approve or reject it. Reason: %(reason)s"
        ),
        "clawback_rejected": _l(
            "The agency decided not to claw back %(amount)s on order %(number)s; the payment "
            "stays held until its risk flags are decided. Note: %(note)s"
        ),
        "risk_flag_cleared": _l(
            "The agency cleared a risk flag on the voucher payment for order %(number)s"
            " (%(flag)s): %(note)s"
        ),
        "settlement_proposed": _l(
            "Settlement %(number)s to %(provider)s (%(amount)s) waits for another official's"
            " approval: approve or cancel it."
        ),
        "settlement_approved": _l(
            "Settlement %(number)s of %(programme)s (%(amount)s) was approved; the agency's bank"
            " transfer follows."
        ),
        "settlement_paid": _l(
            "Settlement %(number)s of %(programme)s (%(amount)s) was paid, bank reference"
            " %(reference)s: check that it arrived."
        ),
        "settlement_cancelled": _l(
            "The approved settlement %(number)s of %(programme)s (%(amount)s) was cancelled:"
            " %(reason)s"
        ),
    },
    deadline=["voucher_application_approved", "voucher_issued"],
    group="money",
)
notifications.register_kinds(
    {
        "integrator_appointed": _l(
            "You were appointed integrator of %(programme)s until %(term_end)s: its vouchers"
            " pay for your curated bundles."
        ),
        "appointment_ended": _l(
            "Your appointment as integrator of %(programme)s has ended: its vouchers no longer"
            " pay for your curated bundles."
        ),
    },
    group="money",
)
notifications.register_param_labels(
    "flag", {reason.value: LABELS[RiskReason, reason.value] for reason in RiskReason}
)


# --- package admission (issue 22) -----------------------------------------------------------


class AdmissionState(Labelled):
    """A package version in a programme: waiting (no row yet: every version without a
    decision waits), admitted (the programme's vouchers pay for it) or rejected."""

    PENDING = "pending"
    ADMITTED = "admitted"
    REJECTED = "rejected"


class AdmissionEvent(Labelled):
    ADMIT = "admit"
    REJECT = "reject"
    INHERIT = "inherit"  # a text-only new version keeps its predecessor's admission
    BACKFILL = "backfill"  # published before admission began (the migration)


LABELS.update(
    {
        (AdmissionState, AdmissionState.PENDING.value): _l("Pending review"),
        (AdmissionState, AdmissionState.ADMITTED.value): _l("Admitted to the programme"),
        (AdmissionState, AdmissionState.REJECTED.value): _l("Not admitted"),
        (AdmissionEvent, AdmissionEvent.ADMIT.value): _l("Admit to the programme"),
        (AdmissionEvent, AdmissionEvent.REJECT.value): _l("Do not admit"),
        (AdmissionEvent, AdmissionEvent.INHERIT.value): _l("Kept from the previous version"),
        (AdmissionEvent, AdmissionEvent.BACKFILL.value): _l("Admitted before admission review"),
    }
)

DECIDER, SYSTEM_ACTOR = "decider", "system"
ADMISSION_MACHINE: StateMachine[AdmissionState, AdmissionEvent] = StateMachine(
    [
        Transition(AdmissionState.PENDING, AdmissionEvent.ADMIT, AdmissionState.ADMITTED, DECIDER),
        Transition(AdmissionState.PENDING, AdmissionEvent.REJECT, AdmissionState.REJECTED, DECIDER),
        Transition(
            AdmissionState.PENDING, AdmissionEvent.INHERIT, AdmissionState.ADMITTED, SYSTEM_ACTOR
        ),
    ]
)


class PackageAdmission(Base):
    """The decision on one package version in one programme (准入): at most one per pair
    (UNIQUE: a second decision, even a concurrent one, is refused by the database). A version
    without a row waits for review (待审); its vouchers-free checkout works meanwhile.

    ``criteria`` keeps the programme's published criteria as they stood when decided;
    ``pending_since`` is when the version began to wait (its publication, or the programme's
    creation if later), for the days-to-decide figure. Inherited and backfilled rows have no
    decider; a decided row always has one (CHECK)."""

    __tablename__ = "package_admissions"
    __table_args__ = (
        UniqueConstraint("programme_id", "version_id"),
        CheckConstraint("length(reason) > 0", name="reason_given"),
        CheckConstraint(
            "event NOT IN ('admit', 'reject') OR decided_by_id IS NOT NULL",
            name="decision_has_decider",
        ),
        CheckConstraint(
            "event <> 'inherit' OR inherited_from_id IS NOT NULL", name="inherit_has_source"
        ),
        CheckConstraint("state <> 'pending'", name="decided"),
        Index("ix_package_admissions_version_id_state", "version_id", "state"),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    state: Mapped[AdmissionState] = mapped_column(str_enum(AdmissionState))
    event: Mapped[AdmissionEvent] = mapped_column(str_enum(AdmissionEvent))
    reason: Mapped[str] = mapped_column(Text)
    criteria: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decider_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    inherited_from_id: Mapped[int | None] = mapped_column(ForeignKey("package_admissions.id"))
    pending_since: Mapped[datetime]
    decided_at: Mapped[created_at]

    programme: Mapped[VoucherProgramme] = relationship(lazy="joined")
    decided_by: Mapped[User | None] = relationship()
    decider_org: Mapped[Organisation | None] = relationship()
    history: Mapped[list[AdmissionChange]] = relationship(order_by="AdmissionChange.id")

    @property
    def days_to_decide(self) -> float:
        return max((self.decided_at - self.pending_since).total_seconds(), 0) / 86400


class AdmissionChange(Base):
    """Append-only history of an admission's transitions, with the reason given."""

    __tablename__ = "package_admission_changes"

    id: Mapped[intpk]
    admission_id: Mapped[int] = mapped_column(ForeignKey("package_admissions.id"), index=True)
    from_state: Mapped[AdmissionState] = mapped_column(str_enum(AdmissionState, name="from_state"))
    to_state: Mapped[AdmissionState] = mapped_column(str_enum(AdmissionState, name="to_state"))
    event: Mapped[AdmissionEvent] = mapped_column(str_enum(AdmissionEvent))
    reason: Mapped[str] = mapped_column(Text)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]


audit.register_labels(
    {
        "admission.admit": _l("Package version admitted to a voucher programme"),
        "admission.reject": _l("Package version not admitted to a voucher programme"),
        "programme.admission_rules": _l("Programme's admission criteria changed"),
    }
)
notifications.register_kinds(
    {
        "admission_admitted": _l(
            "%(package)s (version %(version)s) is admitted to %(programme)s: its vouchers now"
            " pay for it. Reason: %(reason)s"
        ),
        "admission_rejected": _l(
            "%(package)s (version %(version)s) is not admitted to %(programme)s: %(reason)s."
            " Its vouchers do not pay for it; change the package and publish a new version."
        ),
    },
    group="money",
)
