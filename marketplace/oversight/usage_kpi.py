"""Evaluation KPIs read from reported usage (issue 23).

Where a provider's package is sold on a pay-by-use plan, its platform reports usage through
the API every month, so the two evaluation KPIs of that subscription need not be typed in:

- 数据覆盖率 (data coverage) of a subscription in an ended month is 100% when usage above zero
  was reported for it that month and 0% when none was (records removed after a dispute do not
  count);
- 数字化率 (digitalisation rate) of a subscription in an ended month is the reported quantity
  against the quantity its plan includes each month (the contracted level of use), at most
  100%; a plan that includes no quantity counts 100% with any usage, as coverage does.

A provider's figure for a month is the mean over its usage subscriptions running that month
(accepted by then, not cancelled). A subscription counts from the month of its acceptance.

These figures replace the hand-typed reports for the same subscription and month (one figure,
one source); hand-typed reports stay for lines on other plans, for the month not yet ended,
and for savings, which usage does not tell. A hand-typed value on a metered subscription is
still shown beside the metered one, and flagged for review when it differs from the same
subscription's metered figure by more than ``DISAGREE_POINTS`` percentage points.

Three statements whatever the number of providers, lines, records or months.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, func, select

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import PlanKind, PricePlan
from marketplace.db import LOCAL_ZONE, db, local_today
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.outcomes.models import UsageRecord, UsageStatus
from marketplace.oversight.models import KpiReport, KpiStatus
from marketplace.vouchers.models import Reservation

DISAGREE_POINTS = 20  # a hand-typed value further than this from the metered one is flagged


def month_of(day: date) -> int:
    return day.year * 100 + day.month


def month_start(month: int) -> date:
    return date(month // 100, month % 100, 1)


def next_month(month: int) -> int:
    year, m = divmod(month, 100)
    return (year + 1) * 100 + 1 if m == 12 else month + 1


def last_ended_month() -> int:
    """The month before this one: the latest whose usage is complete."""
    return month_of(local_today().replace(day=1) - timedelta(days=1))


def last_ended_day() -> date:
    """The last day of the last ended month: hand-typed reports on a usage subscription up
    to this month are read from metering instead."""
    return local_today().replace(day=1) - timedelta(days=1)


@dataclass
class MonthKpi:
    """One provider's month: the metered figures over its usage subscriptions, and the
    confirmed hand-typed reports on those same subscriptions, if any, and how many of those
    disagree with their own subscription's metered figures."""

    lines: int = 0
    coverage_sum: float = 0.0
    digital_sum: float = 0.0
    typed: int = 0
    typed_coverage_sum: int = 0
    typed_digital_sum: int = 0
    disagreeing: int = 0  # hand-typed reports further than the threshold from their line's

    @property
    def coverage_pct(self) -> float | None:
        return round(self.coverage_sum / self.lines, 1) if self.lines else None

    @property
    def digital_pct(self) -> float | None:
        return round(self.digital_sum / self.lines, 1) if self.lines else None

    @property
    def typed_coverage_pct(self) -> float | None:
        return round(self.typed_coverage_sum / self.typed, 1) if self.typed else None

    @property
    def typed_digital_pct(self) -> float | None:
        return round(self.typed_digital_sum / self.typed, 1) if self.typed else None

    @property
    def flagged(self) -> bool:
        """A hand-typed value disagrees with the same subscription's reported usage by more
        than the threshold."""
        return self.disagreeing > 0


@dataclass
class ProviderKpis:
    months: dict[int, MonthKpi] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        """Subscription-months metered over the period."""
        return sum(m.lines for m in self.months.values())

    @property
    def coverage_sum(self) -> float:
        return sum(m.coverage_sum for m in self.months.values())

    @property
    def digital_sum(self) -> float:
        return sum(m.digital_sum for m in self.months.values())


def _usage_lines(provider_ids: list[int], before: datetime) -> Select:
    return select(OrderLine.id).where(
        OrderLine.provider_id.in_(provider_ids),
        OrderLine.plan_kind == PlanKind.USAGE,
        OrderLine.status == LineStatus.COMPLETED,
        OrderLine.accepted_at.is_not(None),
        OrderLine.accepted_at < before,
    )


@dataclass(frozen=True)
class LineMonth:
    """One usage subscription's ended month: its metered figures, and the confirmed
    hand-typed report for it (coverage, digital) if there is one."""

    line_id: int
    provider_id: int
    month: int
    coverage: float
    digital: float
    typed: tuple[int, int] | None

    @property
    def month_text(self) -> str:
        return f"{self.month // 100:04d}-{self.month % 100:02d}"

    @property
    def disagrees(self) -> bool:
        return self.typed is not None and (
            abs(self.typed[0] - self.coverage) > DISAGREE_POINTS
            or abs(self.typed[1] - self.digital) > DISAGREE_POINTS
        )


def _line_months(ids: Select, first_month: int, last_month: int) -> list[LineMonth]:
    """Every (usage subscription of ``ids``, ended month from its acceptance) in the range,
    in three statements."""
    lines = db.session.execute(
        select(
            OrderLine.id, OrderLine.provider_id, OrderLine.accepted_at, PricePlan.included_quantity
        )
        .outerjoin(PricePlan, PricePlan.id == OrderLine.plan_id)
        .where(OrderLine.id.in_(ids))
        .order_by(OrderLine.id)
    ).all()
    if not lines:
        return []
    used: dict[tuple[int, int], int] = {}
    for line_id, month, quantity in db.session.execute(
        select(UsageRecord.order_line_id, UsageRecord.month, func.sum(UsageRecord.quantity))
        .where(
            UsageRecord.order_line_id.in_(ids),
            UsageRecord.status != UsageStatus.REMOVED,
            UsageRecord.month >= first_month,
            UsageRecord.month <= last_month,
        )
        .group_by(UsageRecord.order_line_id, UsageRecord.month)
    ):
        used[line_id, month] = int(quantity or 0)
    typed: dict[tuple[int, int], tuple[int, int]] = {}  # (line, month) → coverage, digital
    for line_id, day, typed_coverage, typed_digital in db.session.execute(
        select(
            KpiReport.line_id,
            KpiReport.month,
            KpiReport.data_coverage_pct,
            KpiReport.digital_rate_pct,
        ).where(
            KpiReport.line_id.in_(ids),
            KpiReport.status == KpiStatus.CONFIRMED,
            KpiReport.month >= month_start(first_month),
            KpiReport.month <= month_start(last_month),
        )
    ):  # at most one a line and month (unique)
        typed[line_id, month_of(day)] = (typed_coverage, typed_digital)
    found = []
    for line in lines:
        started = month_of(line.accepted_at.astimezone(LOCAL_ZONE).date())
        month = max(first_month, started)
        while month <= last_month:
            quantity = used.get((line.id, month), 0)
            coverage = 100.0 if quantity > 0 else 0.0
            included = line.included_quantity or 0
            digital = min(100.0, quantity * 100 / included) if included > 0 else coverage
            found.append(
                LineMonth(
                    line.id,
                    line.provider_id,
                    month,
                    coverage,
                    digital,
                    typed.get((line.id, month)),
                )
            )
            month = next_month(month)
    return found


def _month_range(first: date, last: date) -> tuple[int, int, datetime]:
    first_month = month_of(first)
    last_month = min(month_of(last), last_ended_month())
    before = datetime.combine(month_start(next_month(last_month)), time(), LOCAL_ZONE)
    return first_month, last_month, before


def metered(provider_ids: list[int], first: date, last: date) -> dict[int, ProviderKpis]:
    """Each provider's KPIs read from reported usage for the ended months from ``first``'s to
    ``last``'s (later months are left out: their usage is not complete)."""
    found = {p: ProviderKpis() for p in provider_ids}
    first_month, last_month, before = _month_range(first, last)
    if not provider_ids or first_month > last_month:
        return found
    by_month: dict[int, dict[int, MonthKpi]] = defaultdict(dict)
    for lm in _line_months(_usage_lines(provider_ids, before), first_month, last_month):
        kpi = by_month[lm.provider_id].setdefault(lm.month, MonthKpi())
        kpi.lines += 1
        kpi.coverage_sum += lm.coverage
        kpi.digital_sum += lm.digital
        if lm.typed is not None:
            kpi.typed += 1
            kpi.typed_coverage_sum += lm.typed[0]
            kpi.typed_digital_sum += lm.typed[1]
            kpi.disagreeing += lm.disagrees
    for provider_id, months in by_month.items():
        found[provider_id] = ProviderKpis(dict(sorted(months.items())))
    return found


LINE_MONTHS = 6


def for_line(line: OrderLine) -> list[LineMonth]:
    """A usage subscription's ended months (the last six, latest first) as evaluations read
    them, beside its hand-typed reports; empty for a line on another plan."""
    if line.plan_kind is not PlanKind.USAGE:
        return []
    last = last_ended_month()
    first = last
    for _n in range(LINE_MONTHS - 1):
        first = month_of(month_start(first) - timedelta(days=1))
    first_month, last_month, before = _month_range(month_start(first), month_start(last))
    ids = _usage_lines([line.provider_id], before).where(OrderLine.id == line.id)
    return sorted(_line_months(ids, first_month, last_month), key=lambda m: -m.month)


MONTHS_SHOWN = 3


@dataclass
class ProviderRow:
    provider_id: int
    name: str
    months: list[tuple[str, MonthKpi]]

    @property
    def flagged(self) -> bool:
        return any(kpi.flagged for _month, kpi in self.months)


def for_programme(programme_id: int) -> list[ProviderRow]:
    """The providers whose usage subscriptions the programme's vouchers paid towards, with
    their metered KPIs (over all their usage subscriptions, as an evaluation reads them) for
    the last ended months beside the hand-typed values. Four statements."""
    providers = db.session.execute(
        select(Organisation.id, Organisation.name)
        .where(
            Organisation.id.in_(
                select(OrderLine.provider_id).where(
                    OrderLine.plan_kind == PlanKind.USAGE,
                    OrderLine.id.in_(
                        select(Reservation.order_line_id).where(
                            Reservation.programme_id == programme_id
                        )
                    ),
                )
            )
        )
        .order_by(Organisation.name)
    ).all()
    last = last_ended_month()
    first = last
    for _n in range(MONTHS_SHOWN - 1):
        first = month_of(month_start(first) - timedelta(days=1))
    found = metered([p.id for p in providers], month_start(first), month_start(last))
    rows = []
    for p in providers:
        months = [
            (f"{m // 100:04d}-{m % 100:02d}", kpi)
            for m, kpi in sorted(found[p.id].months.items(), reverse=True)
        ]
        rows.append(ProviderRow(p.id, p.name, months))
    return rows
