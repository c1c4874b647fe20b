"""Demo diagnoses, bundles, orders in every state, tickets and reviews: made through the
same services as the app, so histories, notifications and ratings are consistent."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.catalog.models import Package
from marketplace.db import LOCAL_ZONE, clock_at, db
from marketplace.demo import clock
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnosis
from marketplace.files import Upload
from marketplace.orders import aftercare, bundles, disputes, services
from marketplace.orders import tickets as tickets_
from marketplace.orders.evidence import Evidence
from marketplace.orders.models import (
    DeciderKind,
    Dispute,
    DisputeStatus,
    LineEvent,
    LineStatus,
    Order,
    OrderLine,
)
from marketplace.security import Actor

PATHS: dict[LineStatus, list[LineEvent]] = {
    LineStatus.PLACED: [],
    LineStatus.ACCEPTED: [LineEvent.ACCEPT],
    LineStatus.REJECTED: [LineEvent.REJECT],
    LineStatus.CANCELLED: [LineEvent.CANCEL],
    LineStatus.IN_DELIVERY: [LineEvent.ACCEPT, LineEvent.START],
    LineStatus.DELIVERED: [LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER],
    LineStatus.DISPUTED: [LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.DISPUTE],
    LineStatus.COMPLETED: [
        LineEvent.ACCEPT,
        LineEvent.START,
        LineEvent.DELIVER,
        LineEvent.ACCEPT_DELIVERY,
    ],
}
REASONS = {
    LineEvent.REJECT: "本季度实施团队已排满，无法按期交付。",
    LineEvent.CANCEL: "预算调整，暂缓实施。",
    LineEvent.DISPUTE: "看板数据与现场不一致，请排查数据采集。",
}
SURNAMES = "王李张刘陈杨赵黄周吴"
# What a provider shows with its delivery (the demo's evidence: a note and a test record).
DELIVERY_EVIDENCE = Evidence(
    note="已完成部署与操作培训，联调测试全部通过，测试记录见附件。请对照验收清单逐项确认。",
    upload=Upload(
        "联调测试记录.csv",
        "测试项,结果,备注\n设备数据采集,通过,12 台设备在线\n看板刷新,通过,延迟小于 5 秒\n"
        "操作培训,完成,班组长 8 人\n".encode(),
    ),
)
COMMENTS = [
    "上线很快，车间主任每天都在用。",
    "数据对接花了些时间，服务响应及时。",
    "性价比高，适合我们这样的小厂。",
    "",
]


def _owner(org: Organisation) -> User:
    return next(u for u in org.users if u.role.value == "owner")


def _actor(org: Organisation) -> Actor:
    return Actor(_owner(org).id, org.id, "127.0.0.1")


# When each event of a line's path happens, after the order was placed (delivery: when its
# package promised to go live).
AFTER = {
    LineEvent.ACCEPT: timedelta(days=1),
    LineEvent.REJECT: timedelta(days=1),
    LineEvent.CANCEL: timedelta(days=2),
    LineEvent.START: timedelta(days=2, hours=3),
}
SETTLING = timedelta(days=3)  # from delivery to acceptance (验收) or a dispute
# Providers whose track record is weak: they deliver late, miss outcome targets and answer
# tickets after their SLA (the others deliver within the go-live days their package promised).
WEAK_PROVIDERS = {
    "苏州轻量MES科技有限公司",
    "厦门数据中台科技有限公司",
    "苏州紧固云检科技有限公司",
}
LATE_BY = timedelta(days=6)  # how far past its promise a weak provider delivers
EARLY_BY = timedelta(hours=20)  # how far before its promise a good provider delivers


def weak(provider: Organisation) -> bool:
    return provider.name in WEAK_PROVIDERS


def delivery_delay(provider: Organisation, go_live_days: int) -> timedelta:
    """When a provider delivers after the order: within the promised go-live days (a good
    provider), or days past them (a weak one); never before the work started."""
    go_live = timedelta(days=go_live_days)
    if weak(provider):
        return AFTER[LineEvent.START] + go_live + LATE_BY
    return max(go_live - EARLY_BY, AFTER[LineEvent.START] + timedelta(hours=3))


def delivery_after(line: OrderLine) -> timedelta:
    return delivery_delay(line.provider, line.version.go_live_days if line.version else 7)


def drive(line: OrderLine, target: LineStatus, fast: bool = False) -> None:
    """Take the line along its path to ``target``, each event on its day after the order was
    placed (``line.created_at``); ``fast``: delivered six hours after it was placed."""
    enterprise = _actor(line.order.enterprise)
    provider = _actor(line.provider)
    go_live = timedelta(days=line.version.go_live_days if line.version is not None else 7)
    path = PATHS[target]
    wanted = []
    for event in path:
        if event is LineEvent.DELIVER:
            wanted.append(timedelta(hours=6) if fast else delivery_after(line))
        elif event in (LineEvent.DISPUTE, LineEvent.ACCEPT_DELIVERY):
            wanted.append(wanted[-1] + SETTLING)
        else:
            wanted.append(timedelta(hours=len(wanted) + 1) if fast else AFTER[event])
    placed = line.created_at
    started = placed
    for event, moment in zip(path, clock.steps(placed, wanted), strict=True):
        actor, kind = (
            (enterprise, "enterprise")
            if event in (LineEvent.CANCEL, LineEvent.DISPUTE, LineEvent.ACCEPT_DELIVERY)
            else (provider, "provider")
        )
        with clock_at(moment):
            if event is LineEvent.START and line.kind == "package":
                day = placed.astimezone(LOCAL_ZONE).date()
                survey = day + timedelta(days=1 + go_live.days // 3)
                services.add_milestone(line, "现场勘查与方案确认", survey, provider)
                services.add_milestone(
                    line, "部署上线与培训", day + timedelta(days=2) + go_live, provider
                )
            if event is LineEvent.START:
                started = moment
        if event is LineEvent.DELIVER:  # each milestone done by its day, the last on delivery
            _complete_milestones(line, started, moment, provider)
        evidence = DELIVERY_EVIDENCE if event is LineEvent.DELIVER else None
        with clock_at(moment):
            services.transition(line, event, REASONS.get(event, ""), actor, kind, evidence=evidence)
    if target is LineStatus.IN_DELIVERY:  # the site survey done, if its day has passed
        survey_by = clock.real_now() - timedelta(hours=1)
        _complete_milestones(line, started, survey_by, provider, all_by=False)


def _complete_milestones(
    line: OrderLine, started: datetime, until: datetime, provider: Actor, *, all_by: bool = True
) -> None:
    """The line's milestones done on their days up to ``until``; ``all_by``: the rest then
    too (a delivery ends them all), else the last stays open."""
    ordered = sorted(line.milestones, key=lambda m: (m.due_on, m.id))
    # before delivery the last one (going live) stays open
    for m in ordered if all_by else ordered[:-1]:
        if m.done_at is not None:
            continue
        due = datetime.combine(m.due_on, time(17), LOCAL_ZONE)
        if due <= until or all_by:
            moment = min(max(due, started + timedelta(hours=1)), until)
            with clock_at(moment):
                services.complete_milestone(line, m.id, provider)


def _contact(org: Organisation, n: int) -> services.SiteContact:
    """The enterprise's contact person and delivery site (its registered address, or one
    in its region's industrial park)."""
    region = org.region.name("zh") if org.region is not None else ""
    return services.SiteContact(
        name=f"{SURNAMES[n % len(SURNAMES)]}主任",
        phone=org.contact_phone or f"139{31000000 + n * 7919:08d}",
        site=org.address or f"{region}经济开发区创业路{n + 8}号 生产车间",
    )


def load(rng: random.Random) -> dict[str, int]:
    enterprises = list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ENTERPRISE)
            .order_by(Organisation.id)
            .limit(36)
        )
    )
    diagnosed = ordered = reviewed = tickets = 0
    targets = list(PATHS)
    for n, org in enumerate(enterprises):
        actor = _actor(org)
        # ordered weeks ago (after Xiamen's vouchers were issued, so either city's pay a
        # part); one order, two days ago, delivered implausibly fast (a risk flag)
        ago = 2 if n == 6 else rng.randint(20, 55)
        level = rng.randint(0, 3)
        answers = {q.code: min(4, max(0, level + rng.randint(-1, 1))) for q in qn.QUESTIONS}
        pains = rng.sample(list(qn.PAIN_POINTS), 2)
        with clock_at(clock.days_ago(ago + 3, 9)):
            d = diagnosis.diagnose(org, answers, pains, rng.choice(list(qn.BUDGETS)), actor)
        diagnosed += 1
        if n % 3 == 2:
            continue  # some enterprises only diagnosed themselves
        with clock_at(clock.days_ago(ago + 1, 15)):
            rec = diagnosis.recommend(org, d)
            ids = [s.version.package_id for s in rec.starter]
            if len(ids) < 2:
                continue
            bundle = bundles.from_recommendation(org, ids, f"推荐组合方案（L{d.level}）", actor)
        if n % 3 == 1 and n > 20:
            continue  # a bundle kept for later
        with clock_at(clock.days_ago(ago, 10)):
            order = services.checkout(org, bundle, actor, contact=_contact(org, n))
        ordered += 1
        for k, line in enumerate(order.lines):
            target = targets[(n + k) % len(targets)]
            drive(line, target, fast=n == 6)
            if target is LineStatus.COMPLETED:
                if rng.random() < 0.85:
                    aftercare.review(
                        line, rng.choice([3, 4, 4, 5, 5, 5]), rng.choice(COMMENTS), actor
                    )
                    reviewed += 1
                if rng.random() < 0.5:
                    ticket = aftercare.open_ticket(
                        line,
                        rng.choice(["normal", "high"]),
                        "报表导出时偶尔超时，请协助排查。",
                        actor,
                    )
                    tickets += 1
                    if rng.random() < 0.7:
                        tickets_.reply(
                            ticket, "已定位为网络波动，已优化重试机制。", _actor(line.provider)
                        )
                        if rng.random() < 0.5:
                            tickets_.reply(ticket, "收到，今天再观察一下。", actor)
                        if rng.random() < 0.4:
                            tickets_.close(ticket, actor)
    diagnosed += _more_diagnoses(rng)
    db.session.flush()
    return {
        "diagnoses": diagnosed,
        "orders": ordered,
        "reviews": reviewed,
        "tickets": tickets,
        "disputes_escalated": escalate_one("official@sjz.demo"),
    }


# What each industry's enterprises say hurts most and where they are weakest, so that the
# demand radar shows differences between industries (and, with the enterprises' districts,
# between districts): a diagnosis takes two of its industry's three pain points and answers
# lower on its weak dimension.
INDUSTRY_NEEDS = {
    "machining": (["downtime", "late_delivery", "visibility"], "equipment"),
    "textile": (["quality", "energy", "downtime"], "quality"),
    "electronics": (["quality", "visibility", "inventory"], "data"),
    "food": (["quality", "inventory", "sales"], "quality"),
    "auto_parts": (["quality", "late_delivery", "downtime"], "production"),
    "furniture": (["late_delivery", "inventory", "sales"], "production"),
    "hardware": (["downtime", "energy", "inventory"], "equipment"),
}
MORE_DIAGNOSED = 54  # enterprises past the first 36 that diagnose themselves only


def _more_diagnoses(rng: random.Random) -> int:
    enterprises = db.session.scalars(
        select(Organisation)
        .where(Organisation.kind == OrgKind.ENTERPRISE)
        .order_by(Organisation.id)
        .offset(36)
        .limit(MORE_DIAGNOSED)
    ).all()
    for org in enterprises:
        pains, weak_dimension = INDUSTRY_NEEDS.get(
            org.industry_code or "", (["visibility"], "data")
        )
        level = rng.randint(1, 3)
        answers = {
            q.code: min(4, max(0, level + rng.randint(-1, 1) - 2 * (q.dimension == weak_dimension)))
            for q in qn.QUESTIONS
        }
        chosen = rng.sample(pains, min(2, len(pains)))
        with clock_at(clock.days_ago(rng.randint(5, 90), rng.randint(9, 17))):
            diagnosis.diagnose(org, answers, chosen, rng.choice(list(qn.BUDGETS)), _actor(org))
    return len(enterprises)


def escalate_one(official_email: str) -> int:
    """One disputed line paid partly by this official's agency goes to it for a decision: the
    enterprise asked for it with its side, the provider answered with its own. When no
    disputed line has the agency's vouchers, the enterprise of a delivered one disputes it
    first (1, or 0 when no line has the agency's vouchers)."""
    official = db.session.scalar(select(User).where(User.email == official_email))
    if official is None:
        return 0
    theirs = (DeciderKind.AGENCY, official.org_id)
    case = next(
        (
            c
            for c in db.session.scalars(
                select(Dispute).where(Dispute.status == DisputeStatus.OPEN).order_by(Dispute.id)
            )
            if disputes.decider_of(c.line) == theirs
        ),
        None,
    )
    if case is None:
        delivered = next(
            (
                line
                for line in db.session.scalars(
                    select(OrderLine)
                    .where(OrderLine.status == LineStatus.DELIVERED)
                    .order_by(OrderLine.id)
                )
                if disputes.decider_of(line) == theirs
            ),
            None,
        )
        if delivered is None or delivered.delivered_at is None:
            return 0
        (moment,) = clock.steps(delivered.delivered_at, [SETTLING])
        with clock_at(moment):
            services.transition(
                delivered,
                LineEvent.DISPUTE,
                REASONS[LineEvent.DISPUTE],
                _actor(delivered.order.enterprise),
                "enterprise",
            )
        case = db.session.scalar(
            select(Dispute).where(Dispute.line_id == delivered.id).order_by(Dispute.id.desc())
        )
        assert case is not None
    line = case.line
    assert line.delivered_at is not None
    escalated, answered = clock.steps(
        max(case.opened_at, line.delivered_at), [timedelta(days=5), timedelta(days=6)]
    )
    with clock_at(escalated):
        disputes.escalate(
            case,
            "enterprise",
            _actor(line.order.enterprise),
            "交付后看板仍缺少二号、三号产线的数据，与服务商沟通三次未果。",
        )
    with clock_at(answered):
        disputes.state_side(
            case,
            line.provider,
            "二号、三号产线的 PLC 型号老旧，需企业提供网关位置；其余产线均已按合同接入。",
            _actor(line.provider),
        )
    return 1


def new_order_for(provider_email: str) -> int:
    """A new order for the provider behind ``provider_email``, placed yesterday by an
    enterprise of its city that has ordered nothing yet: its to-do list has an order to
    accept or reject (1, or 0 when it has no published package)."""
    owner = db.session.scalar(select(User).where(User.email == provider_email))
    if owner is None:
        return 0
    provider = owner.org
    package = db.session.scalar(
        select(Package)
        .where(Package.provider_id == provider.id, Package.published_version_id.is_not(None))
        .order_by(Package.id)
    )
    ordered = select(Order.enterprise_id)
    buyer = db.session.scalar(
        select(Organisation)
        .where(
            Organisation.kind == OrgKind.ENTERPRISE,
            Organisation.credit_code.like(f"__{(provider.credit_code or '')[2:6]}%"),
            Organisation.id.not_in(ordered),
        )
        .order_by(Organisation.id)
    )
    if package is None or buyer is None:
        return 0
    actor = _actor(buyer)
    with clock_at(clock.days_ago(1, 16)):
        bundle = bundles.create(buyer, "设备联网改造", actor)
        bundles.add(bundle, package.id, None, actor)
        services.checkout(buyer, bundle, actor)
    return 1
