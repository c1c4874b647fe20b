"""Oversight records: market-concentration alerts and their history."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace import audit
from marketplace.db import Base, created_at, intpk

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
    value: Mapped[int]  # the share in basis points, or the HHI
    threshold: Mapped[int]
    raised_at: Mapped[created_at]
    cleared_at: Mapped[datetime | None]


audit.register_labels(
    {
        "concentration.alert_raised": _l("Market concentration alert raised"),
        "concentration.alert_cleared": _l("Market concentration alert cleared"),
        "programme.concentration_threshold": _l("Concentration threshold changed"),
    }
)
