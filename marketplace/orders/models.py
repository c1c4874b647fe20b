"""The enterprise's side: diagnoses (数字化诊断). Bundles, orders and the rest follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import Package, PricePlan
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


class Bundle(Base):
    """An enterprise's own working selection (组合方案) before ordering."""

    __tablename__ = "bundles"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    curated_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("curated_bundles.id"))
    created_at: Mapped[created_at]

    items: Mapped[list[BundleItem]] = relationship(
        back_populates="bundle", order_by="BundleItem.position", cascade="all, delete-orphan"
    )


class BundleItem(Base):
    """One package in a bundle with the plan chosen for it (a plan of its published version)."""

    __tablename__ = "bundle_items"
    __table_args__ = (UniqueConstraint("bundle_id", "package_id"),)

    id: Mapped[intpk]
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("price_plans.id"))
    position: Mapped[int] = mapped_column(default=0)

    bundle: Mapped[Bundle] = relationship(back_populates="items")
    package: Mapped[Package] = relationship()
    plan: Mapped[PricePlan] = relationship()
