"""Usage plans after the order: the provider's platform reports usage of a line (API or
here), the enterprise sees it as it arrives and may dispute a record for a while, and once a
month has ended it is rated against the plan and invoiced, vouchers paying their share where
the programme pays towards usage plans.

A month waits while one of its records is disputed; once it is billed (one statement per
line and month, UNIQUE) no record of it is taken or disputed any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation
from marketplace.catalog.models import PlanKind, PricePlan, UsageUnit
from marketplace.db import LOCAL_ZONE, add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.outcomes.models import UsageRecord, UsageStatement, UsageStatus
from marketplace.outcomes.usage_rating import Rating, Tier, UsageTerms, rate
from marketplace.payments import services as payments
from marketplace.payments.models import InvoiceKind
from marketplace.security import Actor
from marketplace.vouchers import spending

MAX_QUANTITY = 10**12  # far above any month's devices, calls or data points
MONTHS_BACK = 24  # how far back the billing job looks for an unbilled month


class Conflict(DomainError):
    """The same external id was reported before with other figures."""


class MonthBilled(DomainError):
    """The record's month has been billed: nothing of it changes any more."""


# --- reading ------------------------------------------------------------------------------


def month_of(day: date) -> int:
    return day.year * 100 + day.month


def month_start(month: int) -> date:
    return date(month // 100, month % 100, 1)


def next_month(month: int) -> int:
    year, m = divmod(month, 100)
    return year * 100 + m + 1 if m < 12 else (year + 1) * 100 + 1


def usage_line_for(org: Organisation, line_id: int) -> OrderLine:
    """A usage plan's order line of which ``org`` is the provider or the enterprise."""
    line = db.session.get(OrderLine, line_id)
    if (
        line is None
        or line.plan_kind is not PlanKind.USAGE
        # the provider's own line is known without loading the order (the ingestion path)
        or (org.id != line.provider_id and org.id != line.order.enterprise_id)
    ):
        raise NotFound(_l("Not found."))
    return line


def plan_of(line: OrderLine) -> PricePlan:
    plan = db.session.get(PricePlan, line.plan_id) if line.plan_id else None
    if plan is None or plan.kind is not PlanKind.USAGE or plan.usage_unit is None:
        raise DomainError(_l("This line is not on a usage plan."))
    return plan


def terms_of(plan: PricePlan) -> UsageTerms:
    return UsageTerms(
        unit_price_fen=plan.unit_price_fen or 0,
        included_quantity=plan.included_quantity or 0,
        tiers=tuple(Tier(t.from_quantity, t.unit_price_fen) for t in plan.tiers),
        minimum_fen=plan.minimum_fen,
        cap_fen=plan.cap_fen,
    )


def records_of(line: OrderLine) -> list[UsageRecord]:
    stmt = select(UsageRecord).where(UsageRecord.order_line_id == line.id)
    return list(db.session.scalars(stmt.order_by(UsageRecord.period_start.desc(), UsageRecord.id)))


def statements_of(line: OrderLine) -> list[UsageStatement]:
    stmt = select(UsageStatement).where(UsageStatement.order_line_id == line.id)
    return list(db.session.scalars(stmt.order_by(UsageStatement.month.desc())))


def dispute_days() -> int:
    return int(current_app.config.get("USAGE_DISPUTE_DAYS", 7))


def disputable(record: UsageRecord) -> bool:
    """Counted, not billed yet, and reported less than the dispute window ago."""
    return (
        record.status is UsageStatus.COUNTED
        and record.statement_id is None
        and utcnow() <= record.created_at + timedelta(days=dispute_days())
    )


def month_billed(line_id: int, month: int) -> bool:
    return (
        db.session.scalar(
            select(UsageStatement.id).where(
                UsageStatement.order_line_id == line_id, UsageStatement.month == month
            )
        )
        is not None
    )


# --- reporting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    external_id: str
    metric: str
    quantity: int | str
    period_start: date
    period_end: date


def parse_quantity(raw: object) -> int:
    """A whole, non-negative number of units."""
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, str):
        raw = raw.strip()
        raw = int(raw) if raw.isdigit() else None
    if not isinstance(raw, int) or raw < 0 or raw > MAX_QUANTITY:
        raise DomainError(
            _l("The quantity must be a whole number from 0 to 1,000,000,000,000."),
            field="quantity",
        )
    return raw


def _same(record: UsageRecord, report: Report, quantity: int) -> bool:
    return (
        record.metric.value == report.metric
        and record.quantity == quantity
        and record.period_start == report.period_start
        and record.period_end == report.period_end
    )


def _by_external_id(line: OrderLine, external_id: str) -> UsageRecord | None:
    return db.session.scalar(
        select(UsageRecord).where(
            UsageRecord.order_line_id == line.id, UsageRecord.external_id == external_id
        )
    )


def _lock_line(line_id: int) -> None:
    """Reporting into a month and billing it take the line's row lock (PostgreSQL; SQLite has
    one writer anyway), so a record never slips in beside a month being billed."""
    db.session.execute(
        select(OrderLine.id).where(OrderLine.id == line_id).with_for_update()
    ).scalar()


@atomic
def report(
    line: OrderLine, report: Report, actor: Actor, source: str = "api"
) -> tuple[UsageRecord, bool]:
    """Store a usage record; ``(record, False)`` when this exact one was stored before (the
    provider's platform may send it again: it counts once)."""
    external_id = report.external_id.strip()
    if not external_id or len(external_id) > 100:
        raise DomainError(_l("Give the record an id of at most 100 characters."), "external_id")
    quantity = parse_quantity(report.quantity)
    plan = plan_of(line)
    existing = _by_external_id(line, external_id)
    if existing is not None:
        if _same(existing, report, quantity):
            return existing, False
        raise Conflict(_l("A usage record with this id was stored with other figures."))
    if report.metric != plan.usage_unit.value:  # type: ignore[union-attr]
        raise DomainError(
            _l(
                "This plan meters %(unit)s (`%(code)s`), not `%(metric)s`.",
                unit=plan.usage_unit.label,  # type: ignore[union-attr]
                code=plan.usage_unit.value,  # type: ignore[union-attr]
                metric=report.metric[:40],
            ),
            field="metric",
        )
    if line.status is not LineStatus.COMPLETED or line.accepted_at is None:
        raise DomainError(
            _l("Usage is reported once the enterprise has accepted the delivery (验收).")
        )
    started = line.accepted_at.astimezone(LOCAL_ZONE).date()
    today = local_today()
    if report.period_start > report.period_end:
        raise DomainError(_l("The period must end after it starts."), field="period_end")
    if report.period_start < started or report.period_end > today:
        raise DomainError(
            _l(
                "The period must lie inside the subscription: from %(start)s (the acceptance)"
                " to today, %(today)s.",
                start=started.isoformat(),
                today=today.isoformat(),
            ),
            field="period_start",
        )
    month = month_of(report.period_start)
    if month_of(report.period_end) != month:
        raise DomainError(
            _l("A record's period lies within one calendar month; report each month apart."),
            field="period_end",
        )
    _lock_line(line.id)
    if month_billed(line.id, month):
        raise MonthBilled(
            _l(
                "%(month)s has been billed already; usage of it is no longer accepted.",
                month=f"{month // 100:04d}-{month % 100:02d}",
            ),
            field="period_start",
        )
    record = UsageRecord(
        order_line_id=line.id,
        external_id=external_id,
        metric=UsageUnit(report.metric),
        quantity=quantity,
        period_start=report.period_start,
        period_end=report.period_end,
        month=month,
        status=UsageStatus.COUNTED,
        source=source,
    )
    if not add_unique(record):  # sent twice at once: the first one stands
        existing = _by_external_id(line, external_id)
        if existing is not None and _same(existing, report, quantity):
            return existing, False
        raise Conflict(_l("A usage record with this id was stored with other figures."))
    audit.record(actor, "usage.reported", "order_line", line.id, id=record.id, quantity=quantity)
    return record, True


# --- disputes -----------------------------------------------------------------------------


def record_for(org: Organisation, record_id: int) -> UsageRecord:
    record = db.session.get(UsageRecord, record_id)
    if record is None:
        raise NotFound(_l("Not found."))
    usage_line_for(org, record.order_line_id)
    return record


def _move(record: UsageRecord, before: UsageStatus, **values: object) -> None:
    moved = db.session.execute(
        update(UsageRecord)
        .where(
            UsageRecord.id == record.id,
            UsageRecord.status == before,
            UsageRecord.statement_id.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This usage record changed meanwhile. Reload the page."))
    db.session.refresh(record)


@atomic
def dispute(record: UsageRecord, reason: str, actor: Actor) -> None:
    """The enterprise disputes a record within the window: its month waits for the provider."""
    line = db.session.get(OrderLine, record.order_line_id)
    assert line is not None
    if actor.org_id != line.order.enterprise_id:
        raise NotFound(_l("Not found."))
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    if not disputable(record):
        raise DomainError(
            _l(
                "A record can be disputed within %(n)d days of its report, before its month"
                " is billed.",
                n=dispute_days(),
            )
        )
    _move(
        record,
        UsageStatus.COUNTED,
        status=UsageStatus.DISPUTED,
        dispute_reason=reason[:2000],
        disputed_at=utcnow(),
    )
    notifications.notify(
        line.provider_id,
        "usage_disputed",
        f"/usage/lines/{line.id}",
        title=line.title,
        start=record.period_start.isoformat(),
        end=record.period_end.isoformat(),
        quantity=record.quantity,
        reason=reason,
    )
    audit.record(actor, "usage.disputed", "order_line", line.id, id=record.id, reason=reason)


@atomic
def resolve(record: UsageRecord, accept: bool, note: str, actor: Actor) -> None:
    """The provider decides a dispute: accepted, the record is removed (not billed);
    rejected, with a reason, it counts again and is billed with its month."""
    line = db.session.get(OrderLine, record.order_line_id)
    assert line is not None
    if actor.org_id != line.provider_id:
        raise NotFound(_l("Not found."))
    note = note.strip()
    if not accept and not note:
        raise DomainError(
            _l("Give a reason for rejecting the dispute; the enterprise will see it."),
            field="note",
        )
    after = UsageStatus.REMOVED if accept else UsageStatus.COUNTED
    _move(
        record,
        UsageStatus.DISPUTED,
        status=after,
        resolution_note=note[:2000] or None,
        resolved_at=utcnow(),
    )
    notifications.notify(
        line.order.enterprise_id,
        "usage_dispute_accepted" if accept else "usage_dispute_rejected",
        f"/usage/lines/{line.id}",
        title=line.title,
        start=record.period_start.isoformat(),
        end=record.period_end.isoformat(),
        note=note,
    )
    audit.record(
        actor,
        "usage.dispute_accepted" if accept else "usage.dispute_rejected",
        "order_line",
        line.id,
        id=record.id,
        note=note,
    )


# --- monthly billing ----------------------------------------------------------------------


def months_due(line: OrderLine, today: date | None = None) -> list[int]:
    """The ended months of an accepted line, from its acceptance's month, not billed yet."""
    if line.accepted_at is None:
        return []
    today = today or local_today()
    first = month_of(line.accepted_at.astimezone(LOCAL_ZONE).date())
    current = month_of(today)
    oldest = month_of(today - timedelta(days=31 * MONTHS_BACK))
    month = max(first, oldest)
    billed = set(
        db.session.scalars(
            select(UsageStatement.month).where(UsageStatement.order_line_id == line.id)
        )
    )
    due = []
    while month < current:
        if month not in billed:
            due.append(month)
        month = next_month(month)
    return due


def lines_due(today: date | None = None) -> list[int]:
    """Accepted usage lines (the billing job's items; each finds its own months)."""
    stmt = select(OrderLine.id).where(
        OrderLine.plan_kind == PlanKind.USAGE,
        OrderLine.status == LineStatus.COMPLETED,
        OrderLine.accepted_at.is_not(None),
    )
    return [
        line_id
        for line_id in db.session.scalars(stmt.order_by(OrderLine.id))
        if (line := db.session.get(OrderLine, line_id)) is not None and months_due(line, today)
    ]


def rating_for(line: OrderLine, month: int) -> Rating:
    """The month's counted, unbilled usage rated against the line's plan."""
    quantity = db.session.scalar(
        select(func.coalesce(func.sum(UsageRecord.quantity), 0)).where(
            UsageRecord.order_line_id == line.id,
            UsageRecord.month == month,
            UsageRecord.status == UsageStatus.COUNTED,
            UsageRecord.statement_id.is_(None),
        )
    )
    return rate(terms_of(plan_of(line)), int(quantity or 0))


def _disputed(line_id: int, month: int) -> int:
    return int(
        db.session.scalar(
            select(func.count(UsageRecord.id)).where(
                UsageRecord.order_line_id == line_id,
                UsageRecord.month == month,
                UsageRecord.status == UsageStatus.DISPUTED,
            )
        )
        or 0
    )


@atomic
def bill_month(
    line: OrderLine, month: int, actor: Actor, today: date | None = None
) -> UsageStatement:
    """Rate the ended month ``month`` and bill it: a statement with the computation, the
    vouchers' share redeemed, an invoice for the rest (none when nothing is owed)."""
    if month >= month_of(today or local_today()):
        raise DomainError(_l("A month is billed after it has ended."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("Only a line in use is billed."))
    _lock_line(line.id)
    if _disputed(line.id, month):
        raise DomainError(_l("A record of this month is disputed; the month waits for it."))
    rating = rating_for(line, month)
    statement = UsageStatement(
        order_line_id=line.id,
        month=month,
        quantity=rating.quantity,
        gross_fen=rating.total_fen,
        voucher_fen=0,
        computation=rating.lines,
    )
    if not add_unique(statement):
        raise MonthBilled(_l("This month has been billed already."))
    db.session.execute(
        update(UsageRecord)
        .where(
            UsageRecord.order_line_id == line.id,
            UsageRecord.month == month,
            UsageRecord.status.in_((UsageStatus.COUNTED, UsageStatus.REMOVED)),
            UsageRecord.statement_id.is_(None),
        )
        .values(statement_id=statement.id)
        .execution_options(synchronize_session=False)
    )
    share = 0
    enterprise_id = line.order.enterprise_id
    if rating.total_fen > 0:
        claim = spending.LineClaim(
            key=0,
            provider_id=line.provider_id,
            amount_fen=rating.total_fen,
            plan_kind=PlanKind.USAGE.value,
            category_code=line.category_code,
            period=month,
        )
        share = spending.pay_usage_month(claim, line.id, enterprise_id, actor)
        invoice = payments.bill(
            InvoiceKind.USAGE,
            line.id,
            line.provider_id,
            enterprise_id,
            rating.total_fen,
            share,
            str(_l("%(title)s, usage of %(month)s", title=line.title, month=statement.month_text)),
            actor,
            period=month,
        )
        statement.voucher_fen = share
        statement.invoice_id = invoice.id if invoice is not None else None
        db.session.flush()
    audit.record(
        actor,
        "usage.billed",
        "order_line",
        line.id,
        month=month,
        quantity=rating.quantity,
        gross_fen=rating.total_fen,
        voucher_fen=share,
    )
    return statement


def bill_line(line_id: int, actor: Actor, today: date | None = None) -> int:
    """Bill every ended, unbilled month of one line; how many were billed now. A month with a
    disputed record waits (the next run looks again); one billed meanwhile is skipped."""
    line = db.session.get(OrderLine, line_id)
    if line is None or line.plan_kind is not PlanKind.USAGE:
        return 0
    billed = 0
    for month in months_due(line, today):
        try:  # each month in its own savepoint
            bill_month(line, month, actor, today)
        except DomainError:
            continue
        billed += 1
    return billed


def statement_text(line: dict[str, object], unit: str) -> str:
    """One line of a statement's computation, in the reader's language."""
    kind = line["kind"]
    amount = format_fen(int(line["amount_fen"]))  # type: ignore[call-overload]
    if kind == "included":
        return str(
            _l(
                "%(n)s %(unit)s included in the plan: %(amount)s",
                n=line["units"],
                unit=unit,
                amount=amount,
            )
        )
    if kind == "band":
        return str(
            _l(
                "Units %(first)s to %(last)s: %(n)s × %(price)s = %(amount)s",
                first=line["from"],
                last=line["to"],
                n=line["units"],
                price=format_fen(int(line["unit_price_fen"])),  # type: ignore[call-overload]
                amount=amount,
            )
        )
    if kind == "minimum":
        return str(_l("Raised to the monthly minimum: + %(amount)s", amount=amount))
    if kind == "cap":
        return str(_l("Lowered to the monthly cap: %(amount)s", amount=amount))
    return str(
        _l("%(n)s %(unit)s in the month: %(amount)s", n=line["units"], unit=unit, amount=amount)
    )


notifications.register_kinds(
    {
        "usage_disputed": _l(
            "The enterprise disputed usage of %(title)s, %(start)s to %(end)s (%(quantity)s):"
            " accept the dispute or reject it with a reason; the month waits. Reason: %(reason)s"
        ),
        "usage_dispute_accepted": _l(
            "The provider accepted your dispute of usage of %(title)s, %(start)s to %(end)s:"
            " the record is not billed."
        ),
        "usage_dispute_rejected": _l(
            "The provider rejected your dispute of usage of %(title)s, %(start)s to %(end)s:"
            " the record is billed with its month. Their reason: %(note)s"
        ),
    },
    group="outcomes",
)
audit.register_labels(
    {
        "usage.reported": _l("Usage reported"),
        "usage.disputed": _l("Usage disputed"),
        "usage.dispute_accepted": _l("Usage dispute accepted: record removed"),
        "usage.dispute_rejected": _l("Usage dispute rejected: record billed"),
        "usage.billed": _l("Usage month billed"),
    }
)
