"""Outcome contracts (效果合约) and their measurements (效果数据).

A contract copies the outcome plan's terms when the line is ordered. The provider proposes a
baseline, the enterprise agrees or disputes; the measurement window opens when the baseline
is agreed and the enterprise has accepted the delivery (验收). Measurements are confirmed by
the enterprise (or automatically after silence); an assessor's verification of a disputed
one is final. At the window's end the contract is settled from confirmed measurements.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.accounts.models import Industry, Organisation
from marketplace.catalog.models import Better, FeeRule, Metric, TargetKind, UsageUnit
from marketplace.db import Base, created_at, intpk, str_enum


class Labelled(StrEnum):
    @property
    def label(self) -> str:
        return str(LABELS[type(self), self.value])


class ContractStatus(Labelled):
    AWAITING_BASELINE = "awaiting_baseline"
    BASELINE_PROPOSED = "baseline_proposed"
    BASELINE_DISPUTED = "baseline_disputed"
    AWAITING_GO_LIVE = "awaiting_go_live"  # baseline agreed, delivery not yet accepted
    MEASURING = "measuring"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"  # the line was rejected or cancelled before its window


class MeasurementStatus(Labelled):
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"
    VERIFIED = "verified"  # by an assessor: counts, final
    REJECTED = "rejected"  # by an assessor: does not count, final


class UsageStatus(Labelled):
    COUNTED = "counted"  # billed with its month
    DISPUTED = "disputed"  # by the enterprise: its month waits until the provider decides
    REMOVED = "removed"  # the provider accepted the dispute: not billed


COUNTED = (MeasurementStatus.CONFIRMED, MeasurementStatus.VERIFIED)

_LABELLED: list[tuple[Labelled, Any]] = [
    (ContractStatus.AWAITING_BASELINE, _l("Waiting for the provider's baseline")),
    (ContractStatus.BASELINE_PROPOSED, _l("Baseline proposed, waiting for the enterprise")),
    (ContractStatus.BASELINE_DISPUTED, _l("Baseline disputed")),
    (ContractStatus.AWAITING_GO_LIVE, _l("Baseline agreed, waiting for acceptance (验收)")),
    (ContractStatus.MEASURING, _l("Measuring")),
    (ContractStatus.MET, _l("Target met")),
    (ContractStatus.MISSED, _l("Target missed: no success fee")),
    (ContractStatus.CANCELLED, _l("Cancelled with its order line")),
    (MeasurementStatus.SUBMITTED, _l("Waiting for the enterprise")),
    (MeasurementStatus.CONFIRMED, _l("Confirmed")),
    (MeasurementStatus.DISPUTED, _l("Disputed")),
    (MeasurementStatus.VERIFIED, _l("Verified by the assessor")),
    (MeasurementStatus.REJECTED, _l("Rejected by the assessor")),
    (UsageStatus.COUNTED, _l("Counted")),
    (UsageStatus.DISPUTED, _l("Disputed, waiting for the provider")),
    (UsageStatus.REMOVED, _l("Removed after the dispute")),
]
LABELS = {(type(member), member.value): label for member, label in _LABELLED}

VALUE = Numeric(14, 4)


class OutcomeContract(Base):
    __tablename__ = "outcome_contracts"
    __table_args__ = (
        CheckConstraint("window_days BETWEEN 1 AND 730", name="window_range"),
        CheckConstraint("target_value > 0", name="target_positive"),
        CheckConstraint("fee_fen IS NULL OR fee_fen >= 0", name="fee_not_negative"),
        CheckConstraint(
            "baseline_period_start IS NULL OR baseline_period_start <= baseline_period_end",
            name="baseline_period_in_order",
        ),
        CheckConstraint(
            "window_start IS NULL OR window_start < window_end", name="window_in_order"
        ),
    )

    id: Mapped[intpk]
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    status: Mapped[ContractStatus] = mapped_column(str_enum(ContractStatus, length=30))
    # The terms, copied from the outcome plan when the line was ordered.
    metric_code: Mapped[str] = mapped_column(ForeignKey("metrics.code"))
    better: Mapped[Better] = mapped_column(str_enum(Better))
    target_kind: Mapped[TargetKind] = mapped_column(str_enum(TargetKind))
    target_value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    fee_rule: Mapped[FeeRule] = mapped_column(str_enum(FeeRule))
    success_fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_per_unit_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    base_fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    window_days: Mapped[int]
    # The baseline.
    baseline_value: Mapped[Decimal | None] = mapped_column(VALUE)
    baseline_period_start: Mapped[date | None]
    baseline_period_end: Mapped[date | None]
    baseline_evidence: Mapped[str | None] = mapped_column(Text)
    baseline_file_name: Mapped[str | None] = mapped_column(String(120))
    baseline_file_type: Mapped[str | None] = mapped_column(String(80))
    baseline_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    baseline_dispute: Mapped[str | None] = mapped_column(Text)
    baseline_agreed_at: Mapped[datetime | None]
    # The window and its result.
    window_start: Mapped[date | None]
    window_end: Mapped[date | None]
    achieved_value: Mapped[Decimal | None] = mapped_column(VALUE)
    fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    computation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    settled_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    metric: Mapped[Metric] = relationship(lazy="joined")
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    measurements: Mapped[list[Measurement]] = relationship(
        back_populates="contract", order_by="Measurement.period_start"
    )


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("contract_id", "external_id"),  # a repeated submission counts once
        # One measurement per period of a contract: a second one for the same period is refused.
        UniqueConstraint("contract_id", "period_start", "period_end"),
        CheckConstraint("period_start <= period_end", name="period_in_order"),
    )

    id: Mapped[intpk]
    contract_id: Mapped[int] = mapped_column(ForeignKey("outcome_contracts.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    period_start: Mapped[date]
    period_end: Mapped[date]
    value: Mapped[Decimal] = mapped_column(VALUE)
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10), default="web")
    status: Mapped[MeasurementStatus] = mapped_column(str_enum(MeasurementStatus))
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    verification_note: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    contract: Mapped[OutcomeContract] = relationship(back_populates="measurements")


class UsageRecord(Base):
    """Usage of a usage plan's order line, as the provider's platform reported it: a quantity
    of the plan's unit for a period inside one calendar month (in the pilots' days)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("order_line_id", "external_id"),  # a repeated report counts once
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("period_start <= period_end", name="period_in_order"),
        CheckConstraint("month BETWEEN 200001 AND 299912", name="month_range"),
        CheckConstraint(
            "status <> 'disputed' OR dispute_reason IS NOT NULL", name="dispute_has_reason"
        ),
        Index("ix_usage_records_order_line_id_month", "order_line_id", "month"),
    )

    id: Mapped[intpk]
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    metric: Mapped[UsageUnit] = mapped_column(str_enum(UsageUnit))
    quantity: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[date]
    period_end: Mapped[date]
    month: Mapped[int]  # YYYYMM of the period: the month it is billed with
    status: Mapped[UsageStatus] = mapped_column(str_enum(UsageStatus))
    source: Mapped[str] = mapped_column(String(10), default="api")
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    disputed_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("usage_statements.id"))
    created_at: Mapped[created_at]


class UsageStatement(Base):
    """A usage line's month, rated against its plan once the month ended: the computation
    line by line, what vouchers paid and the invoice for the rest (none when nothing is
    owed). One per line and month, whoever runs the billing job and how often."""

    __tablename__ = "usage_statements"
    __table_args__ = (
        UniqueConstraint("order_line_id", "month"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("gross_fen >= 0", name="gross_not_negative"),
        CheckConstraint("voucher_fen >= 0 AND voucher_fen <= gross_fen", name="voucher_within"),
    )

    id: Mapped[intpk]
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    month: Mapped[int]
    quantity: Mapped[int] = mapped_column(BigInteger)
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    voucher_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    computation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    created_at: Mapped[created_at]

    @property
    def month_text(self) -> str:
        return f"{self.month // 100:04d}-{self.month % 100:02d}"


class Case(Base):
    """An enterprise's answer to whether its met contract may become an anonymised case, and
    (while it consents) the case itself: what the library shows, copied when consent is given
    from the settled contract, its order and its invoices. Nothing here names the enterprise:
    the region is its city (never the district), the cost is rounded to ¥1,000 and the
    voucher's part is a share in basis points, not an amount."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(
            "total_cost_fen IS NULL OR (total_cost_fen >= 0 AND total_cost_fen % 100000 = 0)",
            name="cost_rounded_to_thousand_yuan",
        ),
        CheckConstraint(
            "voucher_share_bp IS NULL OR voucher_share_bp BETWEEN 0 AND 10000",
            name="voucher_share_range",
        ),
        CheckConstraint("days_to_result IS NULL OR days_to_result >= 0", name="days_not_negative"),
        CheckConstraint(
            "NOT benchmark OR (benchmark_reason IS NOT NULL AND length(benchmark_reason) > 0)",
            name="benchmark_has_reason",
        ),
        CheckConstraint(
            "NOT consent OR (metric_code IS NOT NULL AND baseline_value IS NOT NULL"
            " AND achieved_value IS NOT NULL)",
            name="consented_case_has_figures",
        ),
    )

    id: Mapped[intpk]
    contract_id: Mapped[int] = mapped_column(ForeignKey("outcome_contracts.id"), unique=True)
    # The enterprise's answer: who gave it and when (a later answer replaces it; the audit
    # trail keeps each one). Revoking is answering no after yes: the case leaves the library.
    consent: Mapped[bool]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The anonymised case.
    industry_code: Mapped[str | None] = mapped_column(ForeignKey("industries.code"))
    size_tier: Mapped[str | None] = mapped_column(String(10))
    region_code: Mapped[str | None] = mapped_column(String(6))  # the city's (or province's)
    metric_code: Mapped[str | None] = mapped_column(ForeignKey("metrics.code"))
    better: Mapped[Better | None] = mapped_column(str_enum(Better))
    baseline_value: Mapped[Decimal | None] = mapped_column(VALUE)
    achieved_value: Mapped[Decimal | None] = mapped_column(VALUE)
    days_to_result: Mapped[int | None]
    total_cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    voucher_share_bp: Mapped[int | None]
    # Officials of an overseeing agency mark benchmark cases (标杆), with a reason.
    benchmark: Mapped[bool] = mapped_column(default=False, server_default="false")
    benchmark_reason: Mapped[str | None] = mapped_column(Text)
    benchmark_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    benchmark_at: Mapped[datetime | None]
    created_at: Mapped[created_at]

    contract: Mapped[OutcomeContract] = relationship()
    metric: Mapped[Metric | None] = relationship(lazy="joined")
    industry: Mapped[Industry | None] = relationship(lazy="joined")
    packages: Mapped[list[CasePackage]] = relationship(
        order_by="CasePackage.position", cascade="all, delete-orphan"
    )

    @property
    def change(self) -> Decimal | None:
        """Achieved less baseline, in the metric's unit (exact: both are stored decimals)."""
        if self.baseline_value is None or self.achieved_value is None:
            return None
        return Decimal(self.achieved_value) - Decimal(self.baseline_value)

    @property
    def voucher_share_pct(self) -> int | None:
        """The voucher's share in whole per cent, rounded down like every public share."""
        return None if self.voucher_share_bp is None else self.voucher_share_bp // 100


class CasePackage(Base):
    """A package of the case's order (its bundle), as titled when consent was given."""

    __tablename__ = "case_packages"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(120))
    category_code: Mapped[str | None] = mapped_column(String(40))


audit.register_labels(
    {
        "contract.created": _l("Outcome contract opened"),
        "contract.baseline_proposed": _l("Baseline proposed"),
        "contract.baseline_agreed": _l("Baseline agreed"),
        "contract.baseline_disputed": _l("Baseline disputed"),
        "contract.window_opened": _l("Measurement window opened"),
        "contract.settled": _l("Outcome contract settled"),
        "contract.cancelled": _l("Outcome contract cancelled"),
        "measurement.submitted": _l("Measurement submitted"),
        "measurement.confirmed": _l("Measurement confirmed"),
        "measurement.disputed": _l("Measurement disputed"),
        "measurement.verified": _l("Measurement verified by the assessor"),
        "measurement.rejected": _l("Measurement rejected by the assessor"),
        "case.consented": _l("Consent to an anonymised case given"),
        "case.declined": _l("Consent to an anonymised case declined"),
        "case.revoked": _l("Consent to an anonymised case revoked"),
        "case.benchmarked": _l("Case marked as a benchmark (标杆)"),
        "case.unbenchmarked": _l("Benchmark mark removed from a case"),
    }
)

# What the parties (and the assessors, for a disputed measurement) are told.
notifications.register_kinds(
    {
        "baseline_proposed": _l(
            "The provider proposed the baseline of the outcome contract for %(title)s"
            " (%(value)s): agree to it or dispute it."
        ),
        "baseline_agreed": _l(
            "The enterprise agreed to the baseline of the outcome contract for %(title)s."
        ),
        "baseline_disputed": _l(
            "The enterprise disputed the baseline of the outcome contract for %(title)s: "
            "propose it again. Reason: %(reason)s"
        ),
        "measurement_submitted": _l(
            "New measurement for %(title)s, %(start)s to %(end)s: %(value)s. Confirm or dispute"
            " it by %(by)s; after that it counts as confirmed."
        ),
        "measurement_disputed": _l(
            "The enterprise disputed the measurement for %(title)s, %(start)s to %(end)s; an "
            "assessor will verify it. Reason: %(reason)s"
        ),
        "measurement_to_verify": _l(
            "A measurement for %(title)s, %(start)s to %(end)s, is disputed: verify or reject it."
        ),
        "measurement_verified": _l(
            "The assessor verified the measurement for %(title)s, %(start)s to %(end)s: it"
            " counts. Their note: %(note)s"
        ),
        "measurement_rejected": _l(
            "The assessor rejected the measurement for %(title)s, %(start)s to %(end)s: it does"
            " not count. Their note: %(note)s"
        ),
    },
    deadline=["measurement_submitted"],
    group="outcomes",
)
