"""Demo pay-for-results contracts in every state, with measurement histories and invoices,
and some co-payments already paid by bank transfer. Made through the services."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Better, PackageVersion, PlanKind, TargetKind
from marketplace.db import LOCAL_ZONE, clock_at, db, local_today
from marketplace.demo import clock
from marketplace.errors import NotFound
from marketplace.orders import bundles, services
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


def _target_value(contract: OutcomeContract, baseline: Decimal, met: bool) -> Decimal:
    step = Decimal(contract.target_value)
    if contract.target_kind is TargetKind.RELATIVE:
        step = baseline * step / 100
    step = step * (Decimal("1.2") if met else Decimal("0.5"))
    value = baseline + step if contract.better is Better.HIGHER else baseline - step
    low, high = outcomes.metric_range(contract)
    return min(max(value, low), high).quantize(Decimal("0.01"))


def _history(contract: OutcomeContract, baseline: Decimal, met: bool, months: int) -> None:
    provider, enterprise = _actor(contract.provider), _actor(contract.enterprise)
    assert contract.window_start is not None
    for n in range(months):
        start = contract.window_start + timedelta(days=30 * n)
        end = start + timedelta(days=29)
        if end > local_today():
            break
        value = _target_value(contract, baseline, met)
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
    today = local_today()
    made = 0
    for state, version, org in zip(STATES, versions, enterprises, strict=False):
        actor = _actor(org)
        plan = next(p for p in version.plans if p.kind is PlanKind.OUTCOME)
        assert plan.window_days is not None
        # The window opens at go-live: the ended ones' closed ten days ago, the measuring
        # ones' opened 65 days ago. Ordered a month before go-live (the baseline agreed on the
        # way), or a month ago for those still waiting.
        ended = state in ("met", "missed")
        go_live_ago = plan.window_days + 10 if ended else 65
        placed_ago = go_live_ago + 30 if state in ("measuring", "met", "missed") else 30
        with clock_at(clock.days_ago(placed_ago + 1, 15)):
            bundle = bundles.create(org, "按效果付费方案", actor)
            bundles.add(bundle, version.package_id, plan.id, actor)
        with clock_at(clock.days_ago(placed_ago, 10)):
            order = services.checkout(org, bundle, actor)
        line: OrderLine = order.lines[0]
        provider = _actor(line.provider)
        contract = db.session.scalar(
            select(OutcomeContract).where(OutcomeContract.order_line_id == line.id)
        )
        assert contract is not None
        made += 1
        if state == "awaiting_baseline":
            continue
        baseline = BASELINES[contract.metric.unit]
        with clock_at(clock.days_ago(placed_ago - 7, 11)):
            outcomes.propose_baseline(
                contract,
                str(baseline),
                today - timedelta(days=placed_ago + 90),
                today - timedelta(days=placed_ago),
                "取自 MES 系统 3 个月的班次报表，剔除计划停机。",
                provider,
            )
        if state == "baseline_proposed":
            continue
        if state == "baseline_disputed":
            with clock_at(clock.days_ago(placed_ago - 9, 16)):
                outcomes.dispute_baseline(
                    contract, "基线期包含春节停产，请换用 4–6 月数据。", actor
                )
            continue
        with clock_at(clock.days_ago(placed_ago - 10, 10)):
            outcomes.agree_baseline(contract, line, actor)
        with clock_at(clock.days_ago(placed_ago - 10, 14)):
            services.transition(line, LineEvent.ACCEPT, "", provider, "provider")
        with clock_at(clock.days_ago(placed_ago - 9, 9)):
            services.transition(line, LineEvent.START, "", provider, "provider")
        if state == "awaiting_go_live":
            continue
        with clock_at(clock.days_ago(go_live_ago + 3, 17)):
            services.transition(line, LineEvent.DELIVER, "", provider, "provider")
        with clock_at(clock.days_ago(go_live_ago + 1, 10)):
            services.transition(line, LineEvent.ACCEPT_DELIVERY, "", actor, "enterprise")
        # The window began at go-live: measured months are history.
        start = today - timedelta(days=go_live_ago)
        contract.window_start = start
        contract.window_end = start + timedelta(days=contract.window_days)
        db.session.flush()
        _history(contract, baseline, state != "missed", months=contract.window_days // 30 or 1)
        if ended:
            assessor = db.session.scalar(
                select(Organisation).where(Organisation.kind == OrgKind.ASSESSOR)
            )
            for m in contract.measurements:
                if m.status is MeasurementStatus.DISPUTED and assessor is not None:
                    outcomes.verify(
                        m,
                        True,
                        "调阅 MES 原始记录：停产日已按合同剔除，数据属实。",
                        _actor(assessor),
                    )
            outcomes.settle(contract, _actor(contract.provider), today)
    # Some invoices are paid already, by bank transfer.
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
