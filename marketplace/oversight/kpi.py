"""KPI reports (关键指标): a month's data coverage, digitalisation rate and savings of an accepted
order line. The enterprise's own report counts at once; a provider's counts once the
enterprise confirms it. Evaluations score providers from confirmed reports only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import audit, notifications
from marketplace.db import add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.oversight.models import KpiReport, KpiStatus
from marketplace.security import Actor

MAX_SAVINGS_FEN = 100_000_000 * 100  # a hundred million yuan a month: a typing error above


@dataclass(frozen=True)
class Figures:
    month: date
    data_coverage_pct: int
    digital_rate_pct: int
    monthly_savings_fen: int
    note: str = ""


def _check(figures: Figures) -> None:
    for field, value in (
        ("data_coverage_pct", figures.data_coverage_pct),
        ("digital_rate_pct", figures.digital_rate_pct),
    ):
        if not 0 <= value <= 100:
            raise DomainError(_l("Enter a percentage from 0 to 100."), field=field)
    if not 0 <= figures.monthly_savings_fen <= MAX_SAVINGS_FEN:
        raise DomainError(
            _l("Enter the month's savings in yuan, 0 or more."), field="monthly_savings"
        )
    if figures.month.replace(day=1) > local_today().replace(day=1):
        raise DomainError(_l("Report a month that has begun."), field="month")


@atomic
def report(line: OrderLine, figures: Figures, actor: Actor) -> KpiReport:
    """The line's enterprise or provider reports a month of an accepted line."""
    enterprise_id = line.order.enterprise_id
    if actor.org_id not in (enterprise_id, line.provider_id):
        raise NotFound(_l("Not found."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("KPI reports are for accepted deliveries."))
    _check(figures)
    by_enterprise = actor.org_id == enterprise_id
    kpi = KpiReport(
        line_id=line.id,
        enterprise_id=enterprise_id,
        provider_id=line.provider_id,
        month=figures.month.replace(day=1),
        data_coverage_pct=figures.data_coverage_pct,
        digital_rate_pct=figures.digital_rate_pct,
        monthly_savings_fen=figures.monthly_savings_fen,
        note=figures.note.strip(),
        status=KpiStatus.CONFIRMED if by_enterprise else KpiStatus.PENDING,
        reported_by_org_id=actor.org_id,
        reported_by_user_id=actor.user_id,
        confirmed_at=utcnow() if by_enterprise else None,
    )
    if not add_unique(kpi):
        raise DomainError(_l("This month of this line is already reported."), field="month")
    if not by_enterprise:
        notifications.notify(
            enterprise_id,
            "kpi_to_confirm",
            f"/orders/{line.order.number}",
            title=line.title,
            month=kpi.month.strftime("%Y-%m"),
        )
    audit.record(
        actor,
        "kpi.reported",
        "kpi_report",
        kpi.id,
        line_id=line.id,
        month=kpi.month.isoformat(),
        status=kpi.status.value,
    )
    return kpi


def report_for(org_id: int, report_id: int) -> KpiReport:
    kpi = db.session.get(KpiReport, report_id)
    if kpi is None or org_id not in (kpi.enterprise_id, kpi.provider_id):
        raise NotFound(_l("Not found."))
    return kpi


def decide(kpi: KpiReport, confirm: bool, note: str, actor: Actor) -> None:
    """The enterprise confirms a provider's report, or declines it with a reason."""
    if actor.org_id != kpi.enterprise_id:
        raise NotFound(_l("Not found."))
    if kpi.status is not KpiStatus.PENDING:
        raise DomainError(_l("This report is already decided."))
    if not confirm and not note.strip():
        raise DomainError(_l("Say what is wrong with the figures."), field="note")
    kpi.status = KpiStatus.CONFIRMED if confirm else KpiStatus.REJECTED
    kpi.confirmed_at = utcnow() if confirm else None
    kpi.decision_note = note.strip()
    audit.record(actor, f"kpi.{'confirmed' if confirm else 'rejected'}", "kpi_report", kpi.id)


def reports_on(line_ids: list[int]) -> dict[int, list[KpiReport]]:
    found: dict[int, list[KpiReport]] = {i: [] for i in line_ids}
    if not line_ids:
        return found
    stmt = select(KpiReport).where(KpiReport.line_id.in_(line_ids)).order_by(KpiReport.month.desc())
    for kpi in db.session.scalars(stmt):
        found[kpi.line_id].append(kpi)
    return found
