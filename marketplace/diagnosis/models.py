"""Diagnoses (数字化诊断): an enterprise's completed questionnaires with their scores."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import Base, created_at, intpk, str_enum
from marketplace.statemachine import StateMachine, Transition


class Diagnosis(Base):
    """One completed questionnaire with its scores; kept as the enterprise's history."""

    __tablename__ = "diagnoses"
    __table_args__ = (
        CheckConstraint("overall BETWEEN 0 AND 100", name="overall_range"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        Index("ix_diagnoses_enterprise_id_created_at", "enterprise_id", "created_at"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    pain_points: Mapped[list[str]] = mapped_column(JSON)
    budget: Mapped[str] = mapped_column(String(20))
    dimension_scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    overall: Mapped[int]
    level: Mapped[int]

    enterprise: Mapped[Organisation] = relationship()


class ReportShare(Base):
    """An enterprise's diagnosis report shared with an agency; revoked, the row stays (and a
    new share of the same report with the same agency takes it up again)."""

    __tablename__ = "diagnosis_report_shares"
    __table_args__ = (UniqueConstraint("diagnosis_id", "agency_id"),)

    id: Mapped[intpk]
    diagnosis_id: Mapped[int] = mapped_column(ForeignKey("diagnoses.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    shared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    revoked_at: Mapped[datetime | None]

    diagnosis: Mapped[Diagnosis] = relationship()
    agency: Mapped[Organisation] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


# On-site diagnosis by an advisor (顾问上门诊断)


class VisitStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    VISITED = "visited"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return str(VISIT_STATUS_LABELS[self])


VISIT_STATUS_LABELS = {
    VisitStatus.REQUESTED: _l("Requested"),
    VisitStatus.ACCEPTED: _l("Accepted"),
    VisitStatus.DECLINED: _l("Declined"),
    VisitStatus.VISITED: _l("Findings recorded"),
    VisitStatus.CLOSED: _l("Closed"),
}


class VisitEvent(StrEnum):
    REQUEST = "request"
    ACCEPT = "accept"
    DECLINE = "decline"
    RECORD_FINDINGS = "record_findings"
    RATE = "rate"

    @property
    def label(self) -> str:
        return str(VISIT_EVENT_LABELS[self])


VISIT_EVENT_LABELS = {
    VisitEvent.REQUEST: _l("Request an on-site diagnosis"),
    VisitEvent.ACCEPT: _l("Accept"),
    VisitEvent.DECLINE: _l("Decline"),
    VisitEvent.RECORD_FINDINGS: _l("Record the findings"),
    VisitEvent.RATE: _l("Rate the advisor"),
}

_E, _ADV = OrgKind.ENTERPRISE.value, OrgKind.ADVISOR.value
VISIT_MACHINE: StateMachine[VisitStatus, VisitEvent] = StateMachine(
    [
        Transition(None, VisitEvent.REQUEST, VisitStatus.REQUESTED, _E),
        Transition(VisitStatus.REQUESTED, VisitEvent.ACCEPT, VisitStatus.ACCEPTED, _ADV),
        Transition(VisitStatus.REQUESTED, VisitEvent.DECLINE, VisitStatus.DECLINED, _ADV),
        Transition(VisitStatus.ACCEPTED, VisitEvent.RECORD_FINDINGS, VisitStatus.VISITED, _ADV),
        # The enterprise's rating (once) closes the request.
        Transition(VisitStatus.VISITED, VisitEvent.RATE, VisitStatus.CLOSED, _E),
    ]
)


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def label(self) -> str:
        return str(PRIORITY_LABELS[self])


PRIORITY_LABELS = {
    Priority.HIGH: _l("High priority"),
    Priority.MEDIUM: _l("Medium priority"),
    Priority.LOW: _l("Low priority"),
}


class AdvisorVisit(Base):
    """An enterprise's request for an on-site diagnosis by an advisor admitted to an agency's
    pool, on one of its diagnoses; the advisor's findings become a section of that
    diagnosis' report, and the enterprise rates the advisor once."""

    __tablename__ = "advisor_visits"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("(rating IS NULL) = (rated_at IS NULL)", name="rating_with_its_time"),
        CheckConstraint("advisor_id <> enterprise_id", name="distinct_orgs"),
        Index("ix_advisor_visits_advisor_id_status", "advisor_id", "status"),
        Index("ix_advisor_visits_enterprise_id", "enterprise_id"),
    )

    id: Mapped[intpk]
    diagnosis_id: Mapped[int] = mapped_column(ForeignKey("diagnoses.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    advisor_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # The pool through which the enterprise chose the advisor.
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus))
    preferred_date: Mapped[date]
    note: Mapped[str] = mapped_column(Text, default="")
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    visited_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None]
    updated_at: Mapped[created_at]
    created_at: Mapped[created_at]

    diagnosis: Mapped[Diagnosis] = relationship()
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id], lazy="joined")
    advisor: Mapped[Organisation] = relationship(foreign_keys=[advisor_id], lazy="joined")
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_id], lazy="joined")
    findings: Mapped[list[VisitFinding]] = relationship(
        back_populates="visit", order_by="VisitFinding.id", cascade="all, delete-orphan"
    )
    history: Mapped[list[VisitStatusChange]] = relationship(
        back_populates="visit", order_by="VisitStatusChange.id.desc()"
    )


class VisitFinding(Base):
    """What the advisor found on site in one maturity dimension: a text, and optionally a
    suggested adjustment of the self-assessed score and a priority."""

    __tablename__ = "advisor_visit_findings"
    __table_args__ = (
        UniqueConstraint("visit_id", "dimension"),
        CheckConstraint(
            "score_adjustment IS NULL OR score_adjustment BETWEEN -50 AND 50",
            name="adjustment_range",
        ),
    )

    id: Mapped[intpk]
    visit_id: Mapped[int] = mapped_column(ForeignKey("advisor_visits.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    score_adjustment: Mapped[int | None]
    priority: Mapped[Priority | None] = mapped_column(str_enum(Priority))

    visit: Mapped[AdvisorVisit] = relationship(back_populates="findings")


class VisitStatusChange(Base):
    """Append-only history of a visit request: every transition with its reason."""

    __tablename__ = "advisor_visit_changes"

    id: Mapped[intpk]
    visit_id: Mapped[int] = mapped_column(ForeignKey("advisor_visits.id"), index=True)
    from_status: Mapped[VisitStatus | None] = mapped_column(
        str_enum(VisitStatus, name="from_status")
    )
    to_status: Mapped[VisitStatus] = mapped_column(str_enum(VisitStatus, name="to_status"))
    event: Mapped[VisitEvent] = mapped_column(str_enum(VisitEvent))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]

    visit: Mapped[AdvisorVisit] = relationship(back_populates="history")


notifications.register_kinds(
    {
        "visit_requested": _l(
            "%(enterprise)s asks you for an on-site diagnosis, preferably on %(day)s: accept or"
            " decline the request."
        ),
        "visit_accepted": _l(
            "%(advisor)s accepted your request for an on-site diagnosis on %(day)s."
        ),
        "visit_declined": _l(
            "%(advisor)s declined your request for an on-site diagnosis: %(reason)s"
        ),
        "visit_findings": _l(
            "%(advisor)s recorded the findings of the on-site diagnosis: they are in your"
            " diagnosis report. Rate the advisor."
        ),
    },
    group="organisation",
)


audit.register_labels(
    {
        **{
            f"visit.{event.value}": _l("On-site diagnosis: %(event)s", event=label)
            for event, label in VISIT_EVENT_LABELS.items()
        },
        "diagnosis.completed": _l("Diagnosis completed"),
        "diagnosis.report_shared": _l("Diagnosis report shared"),
        "diagnosis.report_share_revoked": _l("Diagnosis report share revoked"),
        "diagnosis.report_viewed": _l("Diagnosis report viewed"),
    }
)
