"""Demo pay-for-results contracts in every state, with measurement histories and invoices,
and some co-payments already paid by bank transfer. Made through the services."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, SizeTier
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Better, PackageVersion, PlanKind, TargetKind
from marketplace.db import LOCAL_ZONE, clock_at, db, local_today
from marketplace.demo import clock, orders_seed
from marketplace.errors import NotFound
from marketplace.orders import aftercare, bundles, services, tickets
from marketplace.orders.models import LineEvent, OrderLine
from marketplace.outcomes import access, cases
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import ContractStatus, MeasurementStatus, OutcomeContract
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceStatus
from marketplace.security import Actor

BASELINES = {"%": Decimal("62.5"), "days": Decimal("21"), "kWh": Decimal("3.40")}
STATES = [
    "awaiting_baseline",
    "baseline_proposed",
    "baseline_disputed",
    "awaiting_go_live",
    "measuring",
    "measuring",
    "met",
    "met",
    "missed",
    "met",  # more met contracts, so that the case library has cases to show
    "met",
]


def _actor(org: Organisation) -> Actor:
    owner = next(u for u in org.users if u.role.value == "owner")
    return Actor(owner.id, org.id, "127.0.0.1")


def _target_value(
    contract: OutcomeContract, baseline: Decimal, met: bool, factor: Decimal | None = None
) -> Decimal:
    """A measured value: past the target (1.2 times the step to it) when ``met``, half way
    when not, or ``factor`` times the step."""
    step = Decimal(contract.target_value)
    if contract.target_kind is TargetKind.RELATIVE:
        step = baseline * step / 100
    step = step * (factor if factor is not None else Decimal("1.2") if met else Decimal("0.5"))
    value = baseline + step if contract.better is Better.HIGHER else baseline - step
    low, high = outcomes.metric_range(contract)
    return min(max(value, low), high).quantize(Decimal("0.01"))


def _history(
    contract: OutcomeContract,
    baseline: Decimal,
    met: bool,
    months: int,
    factor: Decimal | None = None,
) -> None:
    provider, enterprise = _actor(contract.provider), _actor(contract.enterprise)
    assert contract.window_start is not None
    for n in range(months):
        start = contract.window_start + timedelta(days=30 * n)
        end = start + timedelta(days=29)
        if end > local_today():
            break
        value = _target_value(contract, baseline, met, factor)
        reported = datetime.combine(end + timedelta(days=2), time(10), LOCAL_ZONE)
        with clock_at(min(reported, clock.real_now() - timedelta(hours=2))):
            m, _ = outcomes.submit(
                contract,
                outcomes.Reading(
                    f"MES-{contract.id}-{n + 1:02d}", start, end, str(value), "MES 自动采集"
                ),
                provider,
            )
        with clock_at(min(reported + timedelta(days=1), clock.real_now() - timedelta(hours=1))):
            if n == 1 and not met:
                outcomes.dispute(m, "当月有两天停产检修，数据未剔除。", enterprise)
            else:
                outcomes.confirm(m, enterprise)


def _contract(
    state: str,
    version: PackageVersion,
    org: Organisation,
    go_live_ago: int | None,
    factor: Decimal | None = None,
    baseline: Decimal | None = None,
    use_vouchers: bool = True,
) -> OutcomeContract:
    """One pay-for-results order taken to ``state``. The window opens at go-live
    (``go_live_ago`` days ago; for a settled one by default ten days after its window
    closed). The provider delivers within the go-live days its package promised, or late if
    its track record is weak (``orders_seed.delivery_delay``); the enterprise accepts a day
    later. Orders still before go-live were placed a month ago."""
    actor = _actor(org)
    today = local_today()
    plan = next(p for p in version.plans if p.kind is PlanKind.OUTCOME)
    assert plan.window_days is not None
    ended = state in ("met", "missed")
    if go_live_ago is None and ended:
        go_live_ago = plan.window_days + 10
    if go_live_ago is not None:
        delivery = orders_seed.delivery_delay(version.package.provider, version.go_live_days)
        go_live = clock.days_ago(go_live_ago, 10)
        delivered = go_live - timedelta(days=1)
        placed = delivered - delivery
    else:
        placed = clock.days_ago(30, 10)
        delivered = go_live = placed  # not reached
    with clock_at(placed - timedelta(hours=19)):
        bundle = bundles.create(org, "按效果付费方案", actor)
        bundles.add(bundle, version.package_id, plan.id, actor)
    with clock_at(placed):
        order = services.checkout(org, bundle, actor, use_vouchers=use_vouchers)
    line: OrderLine = order.lines[0]
    provider = _actor(line.provider)
    contract = db.session.scalar(
        select(OutcomeContract).where(OutcomeContract.order_line_id == line.id)
    )
    assert contract is not None
    if state == "awaiting_baseline":
        return contract
    baseline = baseline or BASELINES[contract.metric.unit]
    placed_day = placed.astimezone(LOCAL_ZONE).date()
    with clock_at(placed + timedelta(hours=25)):
        outcomes.propose_baseline(
            contract,
            str(baseline),
            placed_day - timedelta(days=90),
            placed_day,
            "取自 MES 系统 3 个月的班次报表，剔除计划停机。",
            provider,
        )
    if state == "baseline_proposed":
        return contract
    if state == "baseline_disputed":
        with clock_at(placed + timedelta(hours=30)):
            outcomes.dispute_baseline(contract, "基线期包含春节停产，请换用 4–6 月数据。", actor)
        return contract
    with clock_at(placed + timedelta(hours=28)):
        services.transition(line, LineEvent.ACCEPT, "", provider, "provider")
    with clock_at(placed + timedelta(hours=29)):
        outcomes.agree_baseline(contract, line, actor)
    with clock_at(placed + timedelta(hours=31)):
        services.transition(line, LineEvent.START, "", provider, "provider")
    if state == "awaiting_go_live":
        return contract
    assert go_live_ago is not None
    with clock_at(delivered):
        services.transition(line, LineEvent.DELIVER, "", provider, "provider")
    with clock_at(go_live):
        services.transition(line, LineEvent.ACCEPT_DELIVERY, "", actor, "enterprise")
    # The window began at go-live: measured months are history.
    start = today - timedelta(days=go_live_ago)
    contract.window_start = start
    contract.window_end = start + timedelta(days=contract.window_days)
    db.session.flush()
    months = contract.window_days // 30 or 1
    _history(contract, baseline, state != "missed", months, factor)
    if ended:
        assessor = db.session.scalar(
            select(Organisation).where(Organisation.kind == OrgKind.ASSESSOR)
        )
        for m in contract.measurements:
            if m.status is MeasurementStatus.DISPUTED and assessor is not None:
                outcomes.verify(
                    m, True, "调阅 MES 原始记录：停产日已按合同剔除，数据属实。", _actor(assessor)
                )
        outcomes.settle(contract, _actor(contract.provider), today)
    return contract


# Track records with real differences (issue 21): per package, the industries of the
# enterprises whose contracts settled, and whether each met its target. The first five
# providers deliver on time and mostly meet their targets; the last three
# (``orders_seed.WEAK_PROVIDERS``) deliver late and mostly miss.
TRACK_RECORDS = [
    (
        "冀智工业互联网·老旧设备加装传感器联网（基础版）",
        "textile textile textile machining",
        "hardware",
    ),
    ("质链追溯·质量追溯系统（基础版）", "textile textile textile", "food"),
    ("云视工厂·车间生产看板（基础版）", "machining machining machining electronics", ""),
    ("木工排产·APS 高级排程（基础版）", "textile auto_parts", "hardware"),
    ("能效管家·能源管理系统（基础版）", "textile electronics", ""),
    ("数据中台·设备联网网关套件（基础版）", "electronics", "textile textile"),
    ("紧固云检·质量追溯系统（基础版）", "machining", "textile textile"),
    ("轻量MES·车间生产看板（标准版）", "auto_parts", "machining machining"),
]
# A baseline per metric, where the unit's default would not be believable.
METRIC_BASELINES = {
    "oee": Decimal("61.5"),
    "equipment_uptime": Decimal("72.0"),
    "defect_rate": Decimal("3.80"),
    "delivery_lead_time": Decimal("21"),
    "energy_per_unit": Decimal("3.40"),
}
TICKET_TEXTS = [
    "看板数据偶尔延迟十几分钟，请排查采集频率。",
    "新接入的两台设备没有数据，请协助配置。",
    "月度报表导出失败，提示超时。",
]


def _track_records(rng: random.Random, taken: set[int]) -> int:
    """Settled contracts for the packages of ``TRACK_RECORDS``, each with an enterprise of the
    industry named (small firms first, so that a small firm's recommendation cites peers of
    its size) and not one of ``taken``, ordered without vouchers (months before they were
    issued). Good providers answer tickets within their SLA and are rated
    well; weak ones answer late and are rated lower."""
    versions = {
        v.title: v
        for v in db.session.scalars(
            catalog.visible_versions().where(
                PackageVersion.title.in_([t for t, _met, _missed in TRACK_RECORDS])
            )
        )
    }
    pool = [
        o
        for o in db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ENTERPRISE)
            .order_by(Organisation.id)
            .offset(36)
        )
        if o.id not in taken
    ]
    pool.sort(key=lambda o: (o.size_tier is not SizeTier.SMALL, o.id))
    made = 0
    for title, met, missed in TRACK_RECORDS:
        version = versions.get(title)
        if version is None:
            continue
        plan = next(p for p in version.plans if p.kind is PlanKind.OUTCOME)
        assert plan.window_days is not None
        runs = [(i, True) for i in met.split()] + [(i, False) for i in missed.split()]
        runs.sort(key=lambda run: rng.random())
        for k, (industry, is_met) in enumerate(runs):
            org = next((o for o in pool if o.industry_code == industry), None)
            if org is None:
                continue
            pool.remove(org)
            factor = Decimal(rng.choice(["1.2", "1.4", "1.6", "1.8"] if is_met else ["0.3", "0.5"]))
            contract = _contract(
                "met" if is_met else "missed",
                version,
                org,
                plan.window_days + 10 + 9 * k,
                factor,
                METRIC_BASELINES.get(contract_metric(version)),
                use_vouchers=False,
            )
            made += 1
            _aftercare(rng, contract, weak=orders_seed.weak(version.package.provider))
    return made


def contract_metric(version: PackageVersion) -> str:
    plan = next(p for p in version.plans if p.kind is PlanKind.OUTCOME)
    return plan.metric_code or ""


def _aftercare(rng: random.Random, contract: OutcomeContract, weak: bool) -> None:
    """A support ticket some weeks after go-live, answered and resolved within the SLA by a
    good provider and days late by a weak one; then the buyer's review."""
    line = db.session.get(OrderLine, contract.order_line_id)
    assert line is not None and line.accepted_at is not None and contract.window_start
    enterprise, provider = _actor(contract.enterprise), _actor(contract.provider)
    opened = datetime.combine(
        contract.window_start + timedelta(days=rng.randint(10, 40)), time(9, 30), LOCAL_ZONE
    )
    with clock_at(opened):
        ticket = tickets.open_ticket(line, "normal", rng.choice(TICKET_TEXTS), enterprise)
    answer, fixed = (
        (timedelta(days=2), timedelta(days=6))
        if weak
        else (
            timedelta(hours=1),
            timedelta(hours=5),
        )
    )
    with clock_at(opened + answer):
        tickets.reply(ticket, "收到，工程师正在远程排查。", provider)
    with clock_at(opened + fixed):
        tickets.resolve(ticket, "已调整采集频率并补传数据，请确认。", provider)
    with clock_at(opened + fixed + timedelta(hours=3)):
        tickets.close(ticket, enterprise)
    stars = rng.choice([2, 3, 3]) if weak else rng.choice([4, 5, 5])
    comment = "交付拖了一周多，效果一般。" if weak else "按期上线，效果数据经第三方核实。"
    with clock_at(opened + fixed + timedelta(days=1)):
        aftercare.review(line, stars, comment, enterprise)


def load(rng: random.Random) -> dict[str, int]:
    versions = [
        v
        for v in db.session.scalars(catalog.visible_versions().order_by(PackageVersion.id))
        if any(p.kind is PlanKind.OUTCOME and p.metric.unit in BASELINES for p in v.plans)
    ][: len(STATES)]
    enterprises = db.session.scalars(
        select(Organisation)
        .where(Organisation.kind == OrgKind.ENTERPRISE)
        .order_by(Organisation.id.desc())
        .limit(len(STATES))
    ).all()
    made = 0
    for state, version, org in zip(STATES, versions, enterprises, strict=False):
        go_live_ago = 65 if state == "measuring" else None
        _contract(state, version, org, go_live_ago)
        made += 1
    made += _track_records(rng, {o.id for o in enterprises})
    # Some invoices are paid already, by bank transfer.
    today = local_today()
    due = db.session.scalars(
        select(Invoice).where(Invoice.status == InvoiceStatus.FINALISED).order_by(Invoice.id)
    ).all()
    for n, invoice in enumerate(due):
        if n % 3 == 0:
            payments.record_transfer(
                invoice,
                invoice.amount_fen,
                f"HX{today:%Y%m%d}{invoice.id:05d}",
                datetime.combine(today, time(10), tzinfo=UTC),
                _actor(invoice.provider),
            )
    met = db.session.scalars(
        select(OutcomeContract)
        .where(OutcomeContract.status == ContractStatus.MET)
        .order_by(OutcomeContract.id)
    ).all()
    published = _consent(list(met))
    return {"outcome contracts": made, "met contracts": len(met), "cases": published}


def _consent(met: list[OutcomeContract]) -> int:
    """All enterprises of met contracts but the last consent to an anonymised case (the last
    one's question still waits on its to-do list); the first case is a benchmark (标杆),
    marked by an official of an agency overseeing it."""
    published = []
    for contract in met[:-1]:
        published.append(cases.decide(contract, True, _actor(contract.enterprise)))
    if published:
        first = published[0]
        for agency in db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.AGENCY)
            .order_by(Organisation.id)
        ):
            try:
                access.contract_for(agency, first.contract_id)
            except NotFound:
                continue
            cases.mark_benchmark(
                first,
                "达标幅度超出目标两成，见效周期短，可在同行业小微企业中复制推广。",
                _actor(agency),
            )
            break
    return len(published)
