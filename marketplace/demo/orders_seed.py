"""Demo diagnoses, bundles, orders in every state, tickets and reviews: made through the
same services as the app, so histories, notifications and ratings are consistent."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import db, utcnow
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


def drive(line: OrderLine, target: LineStatus) -> None:
    enterprise = _actor(line.order.enterprise)
    provider = _actor(line.provider)
    for event in PATHS[target]:
        actor, kind = (
            (enterprise, "enterprise")
            if event in (LineEvent.CANCEL, LineEvent.DISPUTE, LineEvent.ACCEPT_DELIVERY)
            else (provider, "provider")
        )
        if event is LineEvent.START:
            services.add_milestone(
                line, "现场勘查与方案确认", (utcnow() + timedelta(days=7)).date(), provider
            )
            services.add_milestone(
                line, "部署上线与培训", (utcnow() + timedelta(days=21)).date(), provider
            )
        evidence = None
        if event is LineEvent.DELIVER:
            for m in line.milestones:
                services.complete_milestone(line, m.id, provider)
            evidence = DELIVERY_EVIDENCE
        services.transition(line, event, REASONS.get(event, ""), actor, kind, evidence=evidence)


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
        level = rng.randint(0, 3)
        answers = {q.code: min(4, max(0, level + rng.randint(-1, 1))) for q in qn.QUESTIONS}
        pains = rng.sample(list(qn.PAIN_POINTS), 2)
        d = diagnosis.diagnose(org, answers, pains, rng.choice(list(qn.BUDGETS)), actor)
        diagnosed += 1
        if n % 3 == 2:
            continue  # some enterprises only diagnosed themselves
        rec = diagnosis.recommend(org, d)
        ids = [s.version.package_id for s in rec.starter]
        if len(ids) < 2:
            continue
        bundle = bundles.from_recommendation(org, ids, f"推荐组合方案（L{d.level}）", actor)
        if n % 3 == 1 and n > 20:
            continue  # a bundle kept for later
        order = services.checkout(org, bundle, actor, contact=_contact(org, n))
        ordered += 1
        if n != 6:  # ordered weeks ago; one order delivered implausibly fast (a risk flag)
            for line in order.lines:
                line.created_at = line.created_at - timedelta(days=rng.randint(20, 60))
        for k, line in enumerate(order.lines):
            target = targets[(n + k) % len(targets)]
            drive(line, target)
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
    db.session.flush()
    return {
        "diagnoses": diagnosed,
        "orders": ordered,
        "reviews": reviewed,
        "tickets": tickets,
        "disputes_escalated": escalate_one("official@sjz.demo"),
    }


def escalate_one(official_email: str) -> int:
    """One disputed line paid partly by this official's agency goes to it for a decision: the
    enterprise asked for it with its side, the provider answered with its own (1, or 0 when no
    disputed line has the agency's vouchers)."""
    official = db.session.scalar(select(User).where(User.email == official_email))
    if official is None:
        return 0
    open_cases = db.session.scalars(
        select(Dispute).where(Dispute.status == DisputeStatus.OPEN).order_by(Dispute.id)
    )
    for case in open_cases:
        if disputes.decider_of(case.line) != (DeciderKind.AGENCY, official.org_id):
            continue
        enterprise = _actor(case.line.order.enterprise)
        disputes.escalate(
            case,
            "enterprise",
            enterprise,
            "交付后两周内看板仍缺少二号、三号产线的数据，与服务商沟通三次未果。",
        )
        disputes.state_side(
            case,
            case.line.provider,
            "二号、三号产线的 PLC 型号老旧，需企业提供网关位置；其余产线均已按合同接入。",
            _actor(case.line.provider),
        )
        return 1
    return 0
