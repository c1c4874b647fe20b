"""Whether subsidised usage subscriptions are actually used (issue 23): per voucher programme,
of the usage-plan lines its vouchers paid towards, the share in use each month (usage reported
above zero, disputed-and-removed records aside) by category, and the subscriptions whose use
fell away: the last ended month below half the mean of the three before it.

Three statements whatever the number of lines, records or months."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import Category, PlanKind
from marketplace.db import LOCAL_ZONE, db, local_today
from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.outcomes.models import UsageRecord, UsageStatus
from marketplace.vouchers.models import Reservation, VoucherProgramme

MONTHS = 6  # ended months shown
FELL_AWAY_BELOW = 0.5  # of the mean of the months before


def month_of(day: object) -> int:
    return day.year * 100 + day.month  # type: ignore[attr-defined]


def _previous(month: int, n: int = 1) -> int:
    year, m = divmod(month, 100)
    index = year * 12 + (m - 1) - n
    return (index // 12) * 100 + index % 12 + 1


def month_text(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


@dataclass
class Cell:
    subscribed: int = 0
    in_use: int = 0

    @property
    def share_pct(self) -> int | None:
        """In use of subscribed, in whole per cent rounded down (None: no subscription)."""
        return self.in_use * 100 // self.subscribed if self.subscribed else None


@dataclass
class Fading:
    line_id: int
    title: str
    enterprise: str
    category: str
    before: int  # mean of the three months before, rounded down
    last: int


@dataclass
class Monitoring:
    months: list[str]
    categories: list[tuple[str, str, str]]  # code, Chinese name, English name
    cells: dict[tuple[str, str], Cell]  # (category code, month) → cell; "" is all
    fading: list[Fading]
    lines: int


def monitoring(programme: VoucherProgramme) -> Monitoring:
    last = _previous(month_of(local_today()))
    months = [_previous(last, n) for n in range(MONTHS - 1, -1, -1)]
    lines = db.session.execute(
        select(
            OrderLine.id,
            OrderLine.title,
            OrderLine.category_code,
            OrderLine.accepted_at,
            Organisation.name,
            Category.name_zh,
            Category.name_en,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .join(Organisation, Organisation.id == Order.enterprise_id)
        .outerjoin(Category, Category.code == OrderLine.category_code)
        .where(
            OrderLine.plan_kind == PlanKind.USAGE,
            OrderLine.status == LineStatus.COMPLETED,
            OrderLine.accepted_at.is_not(None),
            OrderLine.id.in_(
                select(Reservation.order_line_id).where(Reservation.programme_id == programme.id)
            ),
        )
        .order_by(OrderLine.id)
    ).all()
    used: dict[tuple[int, int], int] = defaultdict(int)
    if lines:
        rows = db.session.execute(
            select(UsageRecord.order_line_id, UsageRecord.month, func.sum(UsageRecord.quantity))
            .where(
                UsageRecord.order_line_id.in_([row.id for row in lines]),
                UsageRecord.status != UsageStatus.REMOVED,
                UsageRecord.month >= _previous(months[0], 3),
                UsageRecord.month <= last,
            )
            .group_by(UsageRecord.order_line_id, UsageRecord.month)
        )
        for line_id, month, quantity in rows:
            used[line_id, month] = int(quantity or 0)
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    categories: dict[str, tuple[str, str, str]] = {}
    fading = []
    for row in lines:
        code = row.category_code or ""
        categories[code] = (code, row.name_zh or code, row.name_en or code)
        started = month_of((row.accepted_at - timedelta(0)).astimezone(LOCAL_ZONE).date())
        for month in months:
            if month < started:
                continue
            for key in (code, ""):
                cell = cells[key, month_text(month)]
                cell.subscribed += 1
                cell.in_use += used[row.id, month] > 0
        before = [used[row.id, _previous(last, n)] for n in (1, 2, 3)]
        before_started = [
            q for n, q in zip((1, 2, 3), before, strict=True) if _previous(last, n) >= started
        ]
        if before_started:
            mean = sum(before_started) // len(before_started)
            if mean > 0 and used[row.id, last] < mean * FELL_AWAY_BELOW:
                fading.append(
                    Fading(
                        row.id, row.title, row.name, row.name_zh or code, mean, used[row.id, last]
                    )
                )
    return Monitoring(
        months=[month_text(m) for m in months],
        categories=sorted(categories.values()),
        cells=dict(cells),
        fading=fading,
        lines=len(lines),
    )
