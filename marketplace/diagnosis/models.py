"""Diagnoses (数字化诊断): an enterprise's completed questionnaires with their scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit
from marketplace.accounts.models import Organisation
from marketplace.db import Base, created_at, intpk


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


audit.register_labels(
    {
        "diagnosis.completed": _l("Diagnosis completed"),
        "diagnosis.report_shared": _l("Diagnosis report shared"),
        "diagnosis.report_share_revoked": _l("Diagnosis report share revoked"),
        "diagnosis.report_viewed": _l("Diagnosis report viewed"),
    }
)
