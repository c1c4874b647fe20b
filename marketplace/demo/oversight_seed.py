"""Demo oversight: KPI reports on accepted lines, data grants with their access log, two closed
evaluation rounds of Shijiazhuang's pool (one provider failed the latest, so one more failure
suspends it) and market-concentration alerts. Made through the services."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from marketplace.accounts import grants
from marketplace.accounts.models import GrantScope, Organisation, OrgKind
from marketplace.catalog.models import Package, PlanKind, Review
from marketplace.db import LOCAL_ZONE, clock_at, db, local_today
from marketplace.demo import clock, orders_seed
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus, OrderLine, Ticket
from marketplace.oversight import concentration, evaluation, kpi
from marketplace.oversight.models import EvaluationRound, KpiReport
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import (
    ProgrammeMode,
    Reservation,
    ReservationStatus,
    Voucher,
    VoucherProgramme,
    VoucherStatus,
)


def _actor(org: Organisation) -> Actor:
    owner = next(u for u in org.users if u.role.value == "owner")
    return Actor(owner.id, org.id, "127.0.0.1")


def quarter_of(day: date) -> tuple[date, date]:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    after = date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
    return first, after - timedelta(days=1)


def _quarters_before(day: date, n: int) -> list[tuple[date, date]]:
    found = []
    start, _end = quarter_of(day)
    for _ in range(n):
        start, end = quarter_of(start - timedelta(days=1))
        found.append((start, end))
    return list(reversed(found))


def _kpi_reports(rng: random.Random) -> int:
    lines = db.session.scalars(
        select(OrderLine)
        .where(OrderLine.status == LineStatus.COMPLETED, OrderLine.kind == "package")
        .order_by(OrderLine.id)
    ).all()
    made = 0
    this_month = local_today().replace(day=1)
    for n, line in enumerate(lines):
        enterprise, provider = _actor(line.order.enterprise), _actor(line.provider)
        coverage, digital = rng.randint(35, 70), rng.randint(25, 60)
        if line.plan_kind is PlanKind.USAGE:
            # metered too: the enterprises type what they see on the provider's platform, so
            # the figures agree with the usage, except where use fell away and nobody noticed
            # (the officials' usage page flags those for review)
            coverage, digital = 88, 86
        month = this_month
        # months of use: from the month the enterprise accepted the delivery (验收) on
        assert line.accepted_at is not None
        first = line.accepted_at.astimezone(LOCAL_ZONE).date().replace(day=1)
        for step in range(rng.randint(1, 4)):
            month = (month - timedelta(days=1)).replace(day=1) if step else month
            if month < first:
                break
            by_provider = (n + step) % 3 == 0
            figures = kpi.Figures(
                month=month,
                data_coverage_pct=min(100, coverage + 6 * (3 - step)),
                digital_rate_pct=min(100, digital + 4 * (3 - step)),
                monthly_savings_fen=rng.randint(8, 80) * 1_000_00,
                note="MES 月报导出" if by_provider else "财务部核算",
            )
            report = kpi.report(line, figures, provider if by_provider else enterprise)
            if by_provider and step and n % 4:
                kpi.decide(report, True, "", enterprise)
            elif by_provider and step and n % 7 == 0:
                kpi.decide(report, False, "节省金额未扣除新增的软件订阅费", enterprise)
            made += 1
    return made


def _grants(rng: random.Random) -> int:
    assessor = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.ASSESSOR))
    if assessor is None:
        return 0
    # enterprises with KPI reports the assessor has a reason to see (it scores their
    # agency's providers: the evaluation rounds come first)
    reporting = db.session.scalars(
        select(Organisation)
        .where(Organisation.id.in_(select(KpiReport.enterprise_id)))
        .order_by(Organisation.id)
    ).all()
    holders = [e for e in reporting if assessor.id in grants.related_ids(e.id)][:6]
    today = local_today()
    made = 0
    for n, enterprise in enumerate(holders):
        actor = _actor(enterprise)
        g = grants.grant(
            enterprise,
            grants.GrantTerms(
                assessor.id,
                frozenset({GrantScope.KPI_REPORTS, GrantScope.MEASUREMENTS, GrantScope.PROFILE}),
                today - timedelta(days=20),
                today + timedelta(days=70),
                "服务商年度考核：核验关键指标与效果数据",
            ),
            actor,
        )
        made += 1
        grants.log_view(g, GrantScope.KPI_REPORTS, "kpi_reports", enterprise.id, _actor(assessor))
        if n == 1:
            grants.revoke(g, actor)
        if n == 2:
            provider_id = db.session.scalar(
                select(KpiReport.provider_id).where(KpiReport.enterprise_id == enterprise.id)
            )
            if provider_id is not None:
                grants.grant(
                    enterprise,
                    grants.GrantTerms(
                        provider_id,
                        frozenset({GrantScope.TICKETS}),
                        today,
                        today + timedelta(days=30),
                        "排查反复出现的设备告警",
                    ),
                    actor,
                )
                made += 1
    return made


def _busy_providers(agency: Organisation, start: date, end: date) -> set[int]:
    """Providers of the pool with any data in the period (reviews, tickets or KPI reports)."""
    since = datetime.combine(start, time(), LOCAL_ZONE)
    until = datetime.combine(end + timedelta(days=1), time(), LOCAL_ZONE)
    busy = set(
        db.session.scalars(
            select(OrderLine.provider_id)
            .join(Review, Review.line_id == OrderLine.id)
            .where(Review.created_at >= since, Review.created_at < until)
        )
    )
    busy |= set(
        db.session.scalars(
            select(Ticket.provider_id).where(Ticket.opened_at >= since, Ticket.opened_at < until)
        )
    )
    busy |= set(
        db.session.scalars(
            select(KpiReport.provider_id).where(KpiReport.month >= start, KpiReport.month <= end)
        )
    )
    return busy


def _rounds(rng: random.Random) -> int:
    agency = db.session.scalar(
        select(Organisation).where(Organisation.kind == OrgKind.AGENCY).order_by(Organisation.id)
    )
    assessor = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.ASSESSOR))
    assert agency is not None and assessor is not None
    official, judge = _actor(agency), _actor(assessor)
    members = db.session.scalars(
        select(PoolMembership.provider_id).where(
            PoolMembership.agency_id == agency.id, PoolMembership.status == PoolStatus.ADMITTED
        )
    ).all()
    if not members:
        return 0
    periods = _quarters_before(local_today(), 2)
    # The provider that will fail the latest round: one without data of its own in it, so
    # its score is the assessor's alone; the last admitted, so other demos keep their first.
    quiet = [m for m in members if m not in _busy_providers(agency, *periods[-1])]
    weak = max(quiet or members)
    for n, (start, end) in enumerate(periods):
        year, q = start.year, (start.month - 1) // 3 + 1
        # opened after its quarter, scored in the week after, closed a week later
        after_quarter = datetime.combine(end + timedelta(days=3), time(9), LOCAL_ZONE)
        with clock_at(after_quarter):
            rnd = evaluation.open_round(
                agency,
                evaluation.Terms(f"{year}年第{q}季度服务商考核", start, end, pass_mark=60),
                assessor.id,
                official,
            )
        with clock_at(after_quarter + timedelta(days=7, hours=5)):
            for entry in rnd.entries:
                latest = n == len(periods) - 1
                if entry.provider_id == weak:
                    value = 42 if latest else 71
                    comment = (
                        "交付文档不全，两家企业反映响应迟缓，需限期整改。"
                        if latest
                        else "按期交付，文档基本齐全。"
                    )
                else:
                    value, comment = rng.randint(66, 94), "现场核查通过。"
                if entry.provider_id == weak or rng.random() < 0.9:
                    evaluation.score(entry, value, comment, judge)
        with clock_at(after_quarter + timedelta(days=14, hours=7)):
            evaluation.close(rnd, official, despite_missing=True)
    return int(db.session.scalar(select(func.count(EvaluationRound.id))) or 0)


def _popular_provider(rng: random.Random) -> int:
    """More voucher orders for the provider that already leads Shijiazhuang's open programme,
    so that its share crosses the programme's threshold (an active alert to look into)."""
    programme = db.session.scalar(
        select(VoucherProgramme)
        .where(VoucherProgramme.mode == ProgrammeMode.OPEN)
        .order_by(VoucherProgramme.id)
    )
    if programme is None:
        return 0
    leader = db.session.scalar(
        select(Reservation.provider_id)
        .where(
            Reservation.programme_id == programme.id,
            Reservation.status == ReservationStatus.REDEEMED,
        )
        .group_by(Reservation.provider_id)
        .order_by(func.sum(Reservation.amount_fen).desc(), Reservation.provider_id)
        .limit(1)
    )
    package = db.session.scalar(
        select(Package)
        .where(Package.provider_id == leader, Package.published_version_id.is_not(None))
        .order_by(Package.id)
    )
    holders = db.session.scalars(
        select(Voucher)
        .where(
            Voucher.programme_id == programme.id,
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
            Voucher.redeemed_fen == 0,
        )
        .order_by(Voucher.id)
        .limit(4)
    ).all()
    if package is None:
        return 0
    made = 0
    for voucher in holders:
        enterprise = voucher.enterprise
        actor = _actor(enterprise)
        ago = rng.randint(25, 50)
        with clock_at(clock.days_ago(ago + 1, 15)):
            bundle = bundles.create(enterprise, "能源管理专项", actor)
            bundles.add(bundle, package.id, None, actor)
        with clock_at(clock.days_ago(ago, 10)):
            order = orders.checkout(enterprise, bundle, actor)
        for line in order.lines:
            orders_seed.drive(line, LineStatus.COMPLETED)
        made += 1
    return made


def _alerts() -> int:
    raised = 0
    for programme in db.session.scalars(select(VoucherProgramme).order_by(VoucherProgramme.id)):
        official = _actor(programme.agency)
        if programme.mode.value == "integrator":
            # A pilot with few integrators: the city watches any one above a quarter.
            concentration.set_threshold(programme, 2_500, official)
        raised += concentration.scan(programme, official)[0]
    return raised


def load(rng: random.Random) -> dict[str, int]:
    leader_orders = _popular_provider(rng)
    return {
        "voucher_orders_for_the_leader": leader_orders,
        "kpi_reports": _kpi_reports(rng),
        "evaluation_rounds": _rounds(rng),
        "data_grants": _grants(rng),
        "concentration_alerts": _alerts(),
        "radar_diagnoses": _radar_diagnoses(),
    }


# What each industry's firms tend to lack and to complain of (issue 21's demand radar): the
# dimension their answers score lowest on and the pain points they pick first. Counties and
# county-level cities start a level lower than the city districts.
INDUSTRY_NEEDS = {
    "machining": ("equipment", ["downtime", "late_delivery"]),
    "textile": ("production", ["late_delivery", "inventory"]),
    "electronics": ("quality", ["quality", "visibility"]),
    "food": ("quality", ["quality", "energy"]),
    "auto_parts": ("production", ["quality", "late_delivery"]),
    "furniture": ("supply_chain", ["inventory", "sales"]),
    "hardware": ("equipment", ["downtime", "inventory"]),
    "chemicals": ("equipment", ["security", "energy"]),
    "building_materials": ("data", ["energy", "downtime"]),
    "pharma": ("data", ["quality", "security"]),
}
COUNTIES = {"130123", "130181", "350212", "350213"}


def _radar_diagnoses() -> int:
    """Two in three of the enterprises that have not diagnosed themselves do so, each as firms
    of its industry and district tend to answer, so the officials' radar shows where needs
    differ. A random source of its own: the rest of the demo stays as it was."""
    from marketplace.diagnosis import questionnaire as qn
    from marketplace.diagnosis import services as diagnoses
    from marketplace.diagnosis.models import Diagnosis

    rng = random.Random(21)
    waiting = db.session.scalars(
        select(Organisation)
        .where(
            Organisation.kind == OrgKind.ENTERPRISE,
            ~select(Diagnosis.id).where(Diagnosis.enterprise_id == Organisation.id).exists(),
        )
        .order_by(Organisation.id)
    )
    made = 0
    for n, org in enumerate(list(waiting)):
        if n % 3 == 0:
            continue
        weak, pains = INDUSTRY_NEEDS.get(org.industry_code or "", ("data", ["visibility"]))
        level = rng.randint(1, 3) - (1 if org.region_code in COUNTIES else 0)
        answers = {
            q.code: max(0, min(4, level + rng.randint(-1, 1) - (2 if q.dimension == weak else 0)))
            for q in qn.QUESTIONS
        }
        chosen = list(dict.fromkeys([pains[0], rng.choice([pains[1], *qn.PAIN_POINTS])]))
        with clock_at(clock.days_ago(rng.randint(15, 80), 10)):
            diagnoses.diagnose(org, answers, chosen, rng.choice(list(qn.BUDGETS)), _actor(org))
        made += 1
    return made
