"""Oversight records: market-concentration alerts, KPI reports and provider evaluations."""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation
from marketplace.db import Base, created_at, intpk, str_enum
from marketplace.orders.models import OrderLine

HHI_LIMIT = 2500  # above: highly concentrated (HHI = Σ share in per cent, squared)


class ConcentrationAlert(Base):
    """One provider over a programme's share threshold, or a market over the HHI limit, in one
    category (or all), by redeemed voucher value or by orders. Open while it lasts; kept after
    it clears, as the history."""

    __tablename__ = "concentration_alerts"
    __table_args__ = (
        Index(
            "uq_concentration_alerts_open",
            "programme_id",
            "category",
            "measure",
            "kind",
            "provider_id",
            unique=True,
            sqlite_where=Column("cleared_at").is_(None),
            postgresql_where=Column("cleared_at").is_(None),
        ),
    )

    id: Mapped[intpk]
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))  # a category code, "integration" or "all"
    measure: Mapped[str] = mapped_column(String(10))  # value | orders
    kind: Mapped[str] = mapped_column(String(10))  # share | hhi
    # 0 for the market as a whole (an HHI alert): a plain key, so the open-alert index holds
    provider_id: Mapped[int] = mapped_column(default=0)
    # Today's figure and limit: each check writes what it found (while the alert is open, and
    # once more when it clears); what they were before is in the readings.
    value: Mapped[int]  # the share in basis points, or the HHI
    threshold: Mapped[int]
    raised_at: Mapped[created_at]
    cleared_at: Mapped[datetime | None]

    readings: Mapped[list[ConcentrationReading]] = relationship(
        order_by="ConcentrationReading.id", viewonly=True
    )

    @property
    def first(self) -> ConcentrationReading | None:
        """The figure and limit when the alert was raised (needs the readings loaded)."""
        return self.readings[0] if self.readings else None


class ReadingEvent(StrEnum):
    RAISED = "raised"
    CHANGED = "changed"  # a later check found another figure or limit
    CLEARED = "cleared"

    @property
    def label(self) -> str:
        return str(READING_EVENT_LABELS[self])


READING_EVENT_LABELS = {
    ReadingEvent.RAISED: _l("Alert raised"),
    ReadingEvent.CHANGED: _l("Figure or limit changed"),
    ReadingEvent.CLEARED: _l("Cleared"),
}


class ConcentrationReading(Base):
    """An alert's history: its figure and limit when raised, whenever a check found them
    changed (new orders, a new threshold) and when it cleared. Rows are only ever added."""

    __tablename__ = "concentration_readings"

    id: Mapped[intpk]
    alert_id: Mapped[int] = mapped_column(ForeignKey("concentration_alerts.id"), index=True)
    event: Mapped[ReadingEvent] = mapped_column(str_enum(ReadingEvent, length=10))
    value: Mapped[int]
    threshold: Mapped[int]
    at: Mapped[created_at]


audit.register_labels(
    {
        "concentration.alert_raised": _l("Market concentration alert raised"),
        "concentration.alert_changed": _l("Market concentration alert: figure or limit changed"),
        "concentration.alert_cleared": _l("Market concentration alert cleared"),
        "programme.concentration_threshold": _l("Concentration threshold changed"),
    }
)


# Provider evaluation (考核评价) and the reports it scores from.


class KpiStatus(StrEnum):
    PENDING = "pending"  # reported by the provider, waiting for the enterprise
    CONFIRMED = "confirmed"  # counts in evaluations
    REJECTED = "rejected"  # the enterprise did not confirm it: does not count

    @property
    def label(self) -> str:
        return str(KPI_STATUS_LABELS[self])


KPI_STATUS_LABELS = {
    KpiStatus.PENDING: _l("Waiting for the enterprise's confirmation"),
    KpiStatus.CONFIRMED: _l("Confirmed by the enterprise"),
    KpiStatus.REJECTED: _l("Not confirmed by the enterprise"),
}


class KpiReport(Base):
    """A month's key figures of an accepted order line, reported by its enterprise or its
    provider; only what the enterprise confirmed counts in an evaluation."""

    __tablename__ = "kpi_reports"
    __table_args__ = (
        UniqueConstraint("line_id", "month"),
        CheckConstraint("data_coverage_pct BETWEEN 0 AND 100", name="coverage_range"),
        CheckConstraint("digital_rate_pct BETWEEN 0 AND 100", name="digital_rate_range"),
        CheckConstraint("monthly_savings_fen >= 0", name="savings_not_negative"),
        CheckConstraint(
            "(status = 'confirmed') = (confirmed_at IS NOT NULL)", name="confirmed_has_time"
        ),
        Index("ix_kpi_reports_provider_id_month", "provider_id", "month"),
        Index("ix_kpi_reports_enterprise_id_month", "enterprise_id", "month"),
    )

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    month: Mapped[date]  # the first day of the month reported
    data_coverage_pct: Mapped[int]  # key process data collected, % of key processes
    digital_rate_pct: Mapped[int]  # equipment / processes digitalised, %
    monthly_savings_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[KpiStatus] = mapped_column(str_enum(KpiStatus))
    reported_by_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reported_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[created_at]
    confirmed_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")

    line: Mapped[OrderLine] = relationship()


class RoundStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return str(
            _l("Open for scoring") if self is RoundStatus.OPEN else _l("Closed, results published")
        )


# Assessors score a round's providers within this many days of the period's end.
SCORING_DAYS = 14

# The parts of a score, in the order they are shown; each round weighs them (per cent).
COMPONENTS = ("rating", "outcomes", "sla", "coverage", "digital", "savings", "assessor")
COMPONENT_LABELS = {
    "rating": _l("Verified-buyer ratings"),
    "outcomes": _l("Outcome contracts met"),
    "sla": _l("Ticket SLA adherence"),
    "coverage": _l("Key process data coverage"),
    "digital": _l("Digitalisation rate"),
    "savings": _l("Monthly savings reported"),
    "assessor": _l("Assessor score"),
}


class EvaluationRound(Base):
    """One agency's evaluation of the providers admitted to its pool, for one period."""

    __tablename__ = "evaluation_rounds"
    __table_args__ = (
        CheckConstraint("period_start <= period_end", name="period_in_order"),
        CheckConstraint("pass_mark BETWEEN 0 AND 100", name="pass_mark_range"),
        CheckConstraint(
            " AND ".join(f"w_{c} BETWEEN 0 AND 100" for c in COMPONENTS), name="weights_range"
        ),
        CheckConstraint(" + ".join(f"w_{c}" for c in COMPONENTS) + " = 100", name="weights_sum"),
        CheckConstraint("savings_target_fen > 0", name="savings_target_positive"),
        CheckConstraint("waiting_days BETWEEN 0 AND 730", name="waiting_days_range"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_has_time"),
        # One open round per agency at a time: rounds close in order, so "consecutive" is clear.
        Index(
            "uq_evaluation_rounds_open",
            "agency_id",
            unique=True,
            sqlite_where=Column("status") == "open",
            postgresql_where=Column("status") == "open",
        ),
    )

    id: Mapped[intpk]
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    period_start: Mapped[date]
    period_end: Mapped[date]
    pass_mark: Mapped[int]
    w_rating: Mapped[int]
    w_outcomes: Mapped[int]
    w_sla: Mapped[int]
    w_coverage: Mapped[int]
    w_digital: Mapped[int]
    w_savings: Mapped[int]
    w_assessor: Mapped[int]
    # Monthly savings that earn the full savings score.
    savings_target_fen: Mapped[int] = mapped_column(BigInteger)
    # After an exit for two failed rounds, a provider may apply again after this many days.
    waiting_days: Mapped[int]
    status: Mapped[RoundStatus] = mapped_column(str_enum(RoundStatus))
    opened_at: Mapped[created_at]
    closed_at: Mapped[datetime | None]
    missing_scores: Mapped[int] = mapped_column(default=0)  # assessor scores absent at closing

    entries: Mapped[list[EvaluationEntry]] = relationship(
        back_populates="round", order_by="EvaluationEntry.id"
    )

    @property
    def weights(self) -> dict[str, int]:
        return {c: getattr(self, f"w_{c}") for c in COMPONENTS}

    @property
    def scores_due_on(self) -> date:
        """The day assessors' scores are due: ``SCORING_DAYS`` after the period ends (the
        period's data are complete then; the agency closes the round after it)."""
        return self.period_end + timedelta(days=SCORING_DAYS)


class EvaluationEntry(Base):
    """One provider in one round: its assessor and the assessor's score, and at closing its
    components (0–100 each, or none without data), total and verdict."""

    __tablename__ = "evaluation_entries"
    __table_args__ = (
        UniqueConstraint("round_id", "provider_id"),
        CheckConstraint(
            "assessor_score IS NULL OR assessor_score BETWEEN 0 AND 100",
            name="assessor_score_range",
        ),
        CheckConstraint(
            "score_tenths IS NULL OR score_tenths BETWEEN 0 AND 1000", name="score_range"
        ),
    )

    id: Mapped[intpk]
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    assessor_score: Mapped[int | None]
    assessor_comment: Mapped[str] = mapped_column(Text, default="")
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scored_at: Mapped[datetime | None]
    components: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    score_tenths: Mapped[int | None]  # the total in tenths of a point
    passed: Mapped[bool | None]  # None: no data to judge by
    assessor_missing: Mapped[bool] = mapped_column(default=False)
    suspended: Mapped[bool] = mapped_column(default=False)  # this result triggered the exit rule

    round: Mapped[EvaluationRound] = relationship(back_populates="entries")
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    assessor: Mapped[Organisation | None] = relationship(foreign_keys=[assessor_id])

    @property
    def score(self) -> float | None:
        return None if self.score_tenths is None else self.score_tenths / 10


audit.register_labels(
    {
        "kpi.reported": _l("KPI report submitted"),
        "kpi.confirmed": _l("KPI report confirmed"),
        "kpi.rejected": _l("KPI report not confirmed"),
        "evaluation.opened": _l("Evaluation round opened"),
        "evaluation.assessor_assigned": _l("Assessor assigned in an evaluation"),
        "evaluation.scored": _l("Assessor score entered"),
        "evaluation.closed": _l("Evaluation round closed and published"),
    }
)

notifications.register_kinds(
    {
        "evaluation_opened": _l(
            "%(agency)s opened evaluation %(round)s over %(start)s to %(end)s: your service in"
            " that period is scored (pass mark %(pass_mark)d)."
        ),
        "evaluation_to_score": _l(
            "%(agency)s opened evaluation %(round)s: providers for you to score: %(count)d."
        ),
        "evaluation_assigned": _l("Evaluation %(round)s of %(agency)s: score %(provider)s."),
    },
    group="outcomes",
)
