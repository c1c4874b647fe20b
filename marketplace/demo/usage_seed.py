"""Demo pay-by-use (按用量付费): a provider of the equipment-networking category lists a
package billed by analysis-report calls (分析报告调用量), enterprises holding transformation
vouchers order it, its IoT platform reports the calls week by week, and each ended month is
rated, invoiced and partly paid by vouchers (the Shijiazhuang programme pays towards usage
plans). Use falls away on some subscriptions, and one enterprise disputes a record still
waiting for the provider.
Made through the services, at past moments (``clock_at``)."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.catalog.models import PackageVersion
from marketplace.db import LOCAL_ZONE, clock_at, db, local_today
from marketplace.demo import clock
from marketplace.orders import bundles, services
from marketplace.orders.models import LineEvent
from marketplace.outcomes import usage
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import ProgrammeMode, Voucher, VoucherStatus

FIELDS = catalog.VersionFields(
    title="设备联网监测与分析报告云（按报告调用量计费）",
    summary="网关即插即用，设备联网率、停机分析报告随用随调，按当月实际调用次数计费。",
    description=(
        "适用于数控机床、注塑机、空压机等设备的联网监测与运行分析。\n"
        "适用场景：机械加工、五金制品等行业的中小企业。\n"
        "每月包含 50 次分析报告调用，超出部分按次计费，500 次以上阶梯降价；每月设最低和最高收费。\n"
        "平台每周自动上报调用量，企业可随时查看并对有误的记录提出异议。"
    ),
    category_code="equipment_networking",
    industry_codes=["machining", "hardware"],
    size_tiers=["micro", "small", "medium"],
    deployment="saas",
    go_live_days=10,
    sla_response_hours=8,
    enterprise_provides="车间网络接入；设备电源与安装位置",
    tags="设备联网率 按量计费 物联网",
)
PLAN = catalog.PlanFields(
    kind="usage",
    name="按报告调用量计费",
    usage_unit="report_calls",
    unit_price_fen=8_00,
    included_quantity=50,
    minimum_fen=200_00,
    cap_fen=5_000_00,
    tiers="501 = 6",
)
LINES = 6  # subscriptions; the last two fall away
MONTHS = 4  # months since go-live


def _actor(org: Organisation) -> Actor:
    owner = next(u for u in org.users if u.role.value == "owner")
    return Actor(owner.id, org.id, "127.0.0.1")


def load(rng: random.Random) -> dict[str, int]:
    rng = random.Random(2326)  # its own: the rest of the demo stays as it was
    source = next(
        (
            v
            for v in db.session.scalars(catalog.visible_versions().order_by(PackageVersion.id))
            if v.category_code == "equipment_networking"
        ),
        None,
    )
    if source is None:
        return {"usage subscriptions": 0}
    provider = source.package.provider
    seller = _actor(provider)
    go_live_ago = 30 * MONTHS + 5
    with clock_at(clock.days_ago(go_live_ago + 30, 10)):
        package = catalog.create_package(provider, FIELDS, seller)
        catalog.add_plan(package, PLAN, seller)
        catalog.add_interface(package, "consumes", "mqtt", "device_telemetry", seller)
        catalog.add_interface(package, "produces", "rest_json", "device_telemetry", seller)
        catalog.submit(package, seller)
        catalog.publish(package, seller)
    # enterprises with a voucher to spend, not those the outcome contracts took (the last ones)
    pools = set(
        db.session.scalars(
            select(PoolMembership.agency_id).where(
                PoolMembership.provider_id == provider.id,
                PoolMembership.status == PoolStatus.ADMITTED,
            )
        )
    )
    # enterprises with a voucher of a programme paying towards usage plans, not those the
    # outcome contracts took (the last ones)
    holders = list(
        dict.fromkeys(
            v.enterprise
            for v in db.session.scalars(
                select(Voucher)
                .join(Organisation, Organisation.id == Voucher.enterprise_id)
                .where(
                    Organisation.kind == OrgKind.ENTERPRISE, Voucher.status == VoucherStatus.ACTIVE
                )
                .order_by(Voucher.enterprise_id, Voucher.id)
            )
            if v.available_fen > 0
            and v.programme.mode is ProgrammeMode.OPEN
            and v.programme.agency_id in pools
            and v.programme.redeem_by > local_today()
            and "usage" in (v.programme.plan_kinds or ["usage"])
        )
    )
    lines = []
    for org in holders[3 : 3 + LINES]:
        actor = _actor(org)
        with clock_at(clock.days_ago(go_live_ago + 20, 15)):
            bundle = bundles.create(org, "设备联网按量方案", actor)
            bundles.add(bundle, package.id, None, actor)
            order = services.checkout(org, bundle, actor)
        line = order.lines[0]
        for days, event, kind, who in (
            (go_live_ago + 19, LineEvent.ACCEPT, "provider", seller),
            (go_live_ago + 18, LineEvent.START, "provider", seller),
            (go_live_ago + 2, LineEvent.DELIVER, "provider", seller),
            (go_live_ago, LineEvent.ACCEPT_DELIVERY, "enterprise", actor),
        ):
            with clock_at(clock.days_ago(days, 10)):
                services.transition(line, event, "", who, kind)
        lines.append(line)
    today = local_today()
    records = 0
    for n, line in enumerate(lines):
        falls_away = n >= LINES - 2
        calls = rng.randint(40, 160)
        started = today - timedelta(days=go_live_ago)
        week = 0
        day = started
        while day + timedelta(days=6) < today:
            end = day + timedelta(days=6)
            if usage.month_of(end) != usage.month_of(day):  # a week across months: cut it
                end = usage.month_start(usage.next_month(usage.month_of(day))) - timedelta(days=1)
            weeks_left = (today - day).days // 7
            if falls_away and weeks_left < 9:  # nobody opens the reports any more
                calls = max(0, calls - rng.randint(20, 45))
            else:
                calls = max(5, calls + rng.randint(-6, 8))
            reported = datetime.combine(end + timedelta(days=1), time(8), LOCAL_ZONE)
            with clock_at(min(reported, clock.real_now() - timedelta(hours=3))):
                usage.report(
                    line,
                    usage.Report(f"IOT-{line.id}-{week + 1:03d}", "report_calls", calls, day, end),
                    seller,
                    source="api",
                )
            records += 1
            week += 1
            day = end + timedelta(days=1)
        if day < today:  # this week so far (in this month), reported this morning
            end = min(
                today - timedelta(days=1),
                usage.month_start(usage.next_month(usage.month_of(day))) - timedelta(days=1),
            )
            with clock_at(min(clock.days_ago(0, 8), clock.real_now() - timedelta(hours=3))):
                usage.report(
                    line,
                    usage.Report(
                        f"IOT-{line.id}-{week + 1:03d}",
                        "report_calls",
                        calls * ((end - day).days + 1) // 7,
                        day,
                        end,
                    ),
                    seller,
                    source="api",
                )
            records += 1
    # each ended month is billed on the 2nd of the next
    month = usage.month_of(today - timedelta(days=go_live_ago))
    billed = 0
    while month < usage.month_of(today):
        billing_day = usage.month_start(usage.next_month(month)) + timedelta(days=1)
        moment = datetime.combine(billing_day, time(2), LOCAL_ZONE)
        with clock_at(min(moment, clock.real_now() - timedelta(hours=2))):
            for line in lines:
                billed += usage.bill_line(line.id, Actor(None, None, "job"))
        month = usage.next_month(month)
    # the first subscriber disputes its latest record (not billed yet: this month)
    first = lines[0] if lines else None
    if first is not None:
        latest = usage.records_of(first)[0]
        if usage.disputable(latest):
            usage.dispute(
                latest, "周末停产，联网设备数应按实际在线台数统计。", _actor(first.order.enterprise)
            )
    return {
        "usage subscriptions": len(lines),
        "usage records": records,
        "usage months billed": billed,
    }
