"""The needs board in the demo: a few enterprises' open needs with quotes from providers in
their categories, and one need whose quote became the enterprise's bundle (issue 21)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import clock_at, db, local_today
from marketplace.demo import clock
from marketplace.orders import needs
from marketplace.security import Actor

# (category, description, budget in yuan, days to the deadline, site)
NEEDS = [
    (
        "equipment_networking",
        "两条冲压线共 14 台设备（三菱、欧姆龙 PLC）需要联网采集开机、产量和报警数据，"
        "数据要能进生产看板，车间现有无线网络覆盖不全。",
        60_000,
        12,
        "藁城区经济开发区 3 号厂房",
    ),
    (
        "production_visualisation",
        "希望在车间大屏和手机上实时看到各工序产量、良率和设备状态，"
        "现在靠班组长每天手工填 Excel 报表，数据滞后一天。",
        40_000,
        9,
        "",
    ),
    (
        "quality_traceability",
        "客户要求零部件按批次追溯到原材料炉号和加工设备，"
        "需要扫码记录关键工序的质检结果，并能导出追溯报告。",
        80_000,
        15,
        "",
    ),
    (
        "energy_management",
        "空压机和热处理炉耗电大，想按车间、按设备分项计量能耗，找出浪费点，"
        "电费占成本约 8%，希望一年内降 10%。",
        50_000,
        20,
        "",
    ),
]
MESSAGES = [
    "我们在本地有实施团队，可在两周内到厂勘察；报价含安装调试和一年运维。",
    "同行业已交付二十余家，可先做一条产线试点，满意后再全面推广。",
    "报价含员工培训三次和操作手册，设备接入按实际点位数不另收费。",
]


def _actor(org: Organisation) -> Actor:
    owner = db.session.scalar(select(User).where(User.org_id == org.id).order_by(User.id))
    return Actor(owner.id if owner else None, org.id, None)


def load(rng: random.Random) -> dict[str, int]:
    enterprises = list(
        db.session.scalars(
            select(Organisation)
            .where(Organisation.kind == OrgKind.ENTERPRISE)
            .order_by(Organisation.id)
            .limit(len(NEEDS))
        )
    )
    posted = quoted = awarded = 0
    for n, (org, (category, text, budget, days, site)) in enumerate(
        zip(enterprises, NEEDS, strict=False)
    ):
        fields = needs.NeedFields(
            category, text, budget * 100, local_today() + timedelta(days=days), None, site
        )
        with clock_at(clock.days_ago(4 - n % 3, 9)):
            need = needs.post(org, fields, _actor(org))
        posted += 1
        providers = needs.providers_in(category)
        rng.shuffle(providers)
        quotes = []
        for k, provider_id in enumerate(providers[:3]):
            provider = db.session.get(Organisation, provider_id)
            assert provider is not None
            plans = [
                (v, p) for v, p in needs.quotable_plans(provider) if v.category_code == category
            ]
            if not plans:
                continue
            version, plan = plans[0]
            discount = rng.choice([85, 90, 95, 100])
            rounded = plan.commitment_fen * discount // 100 // 100_00 * 100_00  # whole ¥100
            price = min(plan.commitment_fen, max(100_00, rounded))
            quote_fields = needs.QuoteFields(
                [plan.id], price, version.go_live_days + rng.randint(0, 10), MESSAGES[k]
            )
            with clock_at(clock.days_ago(3 - n % 3, 10 + k)):
                quotes.append(needs.send_quote(provider, need.id, quote_fields, _actor(provider)))
            quoted += 1
        if n == 0 and quotes:  # the first need was decided: its cheapest quote is a bundle
            best = min(quotes, key=lambda q: q.price_fen)
            with clock_at(clock.days_ago(1, 16)):
                needs.accept(org, need, [best.id], _actor(org))
            awarded += 1
    db.session.flush()
    return {"needs": posted, "quotes": quoted, "needs_awarded": awarded}
