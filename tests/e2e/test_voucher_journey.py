"""An official creates a voucher programme and issues vouchers; an enterprise orders with a
voucher; the provider delivers; the enterprise accepts; the official clears the risk flag
the fast delivery raised and settles with the provider."""

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import Organisation, User
from marketplace.catalog.models import Package, PackageVersion, PlanKind
from marketplace.db import db, local_today
from marketplace.orders import bundles
from marketplace.orders.models import Order
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import admission
from marketplace.vouchers.models import VoucherProgramme
from tests.e2e.key_pages import nav
from tests.e2e.test_enterprise_journey import log_in, log_out

# A Xiamen enterprise: no Shijiazhuang programme of the demo pays for it, only the new one.
ENTERPRISE = "e072@enterprise.demo"


def _bundle_for_enterprise(live_app) -> tuple[int, str, str]:
    """Set-up outside the journey: the enterprise's bundle of one one-time package whose
    provider is admitted to Shijiazhuang's pool, the package admitted in the new programme."""
    with live_app.app_context():
        agency = db.session.scalar(
            select(Organisation).where(Organisation.name == "石家庄市工业和信息化局")
        )
        version = db.session.scalars(
            select(PackageVersion)
            .join(Package, Package.published_version_id == PackageVersion.id)
            .join(PoolMembership, PoolMembership.provider_id == Package.provider_id)
            .where(
                PoolMembership.agency_id == agency.id,
                PoolMembership.status == PoolStatus.ADMITTED,
            )
            .order_by(PackageVersion.id)
        ).first()
        plan = (
            next(p for p in version.plans if p.kind is PlanKind.ONE_TIME)
            if any(p.kind is PlanKind.ONE_TIME for p in version.plans)
            else version.plans[0]
        )
        # vouchers pay only for admitted versions (issue 22): the agency publishes its criteria
        # and admits the package in the programme just opened (the deciders' queue is walked in
        # tests/functional/vouchers/test_admission.py)
        official = db.session.scalar(select(User).where(User.email == "official@sjz.demo"))
        official_actor = Actor(official.id, agency.id, None)
        programme = db.session.scalar(
            select(VoucherProgramme).where(VoucherProgramme.name == "石家庄市2026年第二批转型券")
        )
        admission.set_rules(
            programme, "资源池内服务商、明码标价、标准数据接口", None, official_actor
        )
        admission.decide(programme, version, True, "符合本项目准入标准", agency, official_actor)
        user = db.session.scalar(select(User).where(User.email == ENTERPRISE))
        actor = Actor(user.id, user.org_id, None)
        bundle = bundles.create(user.org, "转型券测试方案", actor)
        bundles.add(bundle, version.package_id, plan.id, actor)
        provider_email = next(
            u.email for u in version.package.provider.users if u.role.value == "owner"
        )
        db.session.commit()
        return bundle.id, version.title, provider_email


def test_voucher_journey(page: Page, live_server: str, live_app):
    base = live_server
    today = local_today()

    # 1. the official creates a programme, opens it and issues to every eligible enterprise
    log_in(page, base, "official@sjz.demo")
    nav(page, "转型券项目")
    page.get_by_role("link", name="新建项目").click()
    page.get_by_label("项目名称").fill("石家庄市2026年第二批转型券")
    page.get_by_label("模式", exact=True).select_option("open")
    page.get_by_label("总预算（元）").fill("3000000")
    page.get_by_label("单张券面额（元）").fill("10000")
    page.get_by_label("补贴比例（占符合条件订单行金额的百分比）").fill("50")
    page.get_by_label("每家企业上限（元）").fill("10000")
    # the whole batch at once (large batches' four eyes: tests/functional/vouchers)
    page.get_by_label("批量发放须另一名工作人员批准的金额门槛（元）").fill("3000000")
    page.get_by_label("发放开始日").fill(today.isoformat())
    page.get_by_label("兑付截止日").fill((today + timedelta(days=90)).isoformat())
    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flashes")).to_contain_text("已保存为草稿")
    page.get_by_role("button", name="开放项目").click()
    page.get_by_role("link", name="向所有符合条件的企业发放…").click()
    expect(page.locator("h1")).to_contain_text("向所有符合条件的企业发放")
    page.get_by_label("确认发放 ¥", exact=False).check()  # the amount is confirmed first
    page.get_by_role("button", name="发放").click()
    expect(page.locator("h1")).to_contain_text("张券")
    log_out(page)

    bundle_id, title, provider_email = _bundle_for_enterprise(live_app)

    # 2. the enterprise sees its voucher and its subsidy, and orders
    log_in(page, base, ENTERPRISE)
    nav(page, "转型券")
    expect(page.locator("table")).to_contain_text("石家庄市2026年第二批转型券")
    page.goto(f"{base}/my-bundles/{bundle_id}")
    expect(page.locator(".subsidy").first).to_contain_text("转型券支付")
    page.get_by_role("link", name="下单", exact=True).click()
    expect(page.locator(".review-line .subsidy").first).to_contain_text("转型券支付")
    page.get_by_label("联系电话", exact=True).fill("13912345678")  # the profile holds none
    page.get_by_role("button", name="确认下单").click()
    expect(page.locator("h1")).to_contain_text("ZX")
    number = page.locator("h1").inner_text().strip()
    expect(page.locator(".order-line").first).to_contain_text("已预留")
    log_out(page)

    # 3. the provider accepts and delivers (no milestones needed for this package)
    log_in(page, base, provider_email)
    page.goto(f"{base}/orders/{number}")
    for button in ("接受订单", "开始交付", "标记为已交付"):
        page.locator(".order-line").filter(has_text=title).first.get_by_role(
            "button", name=button
        ).click()
    log_out(page)

    # 4. the enterprise accepts (验收): the voucher money is redeemed and only now is its
    #    co-payment invoiced, less what the vouchers spent
    log_in(page, base, ENTERPRISE)
    page.goto(f"{base}/orders/{number}")
    line = page.locator(".order-line").filter(has_text=title).first
    expect(line).to_contain_text("企业验收交付（或自动验收）时开具账单")
    expect(line.get_by_role("link", name=re.compile(r"^ZD"))).to_have_count(0)
    line.get_by_role("button", name="确认验收").click()
    line = page.locator(".order-line").filter(has_text=title).first
    expect(line).to_contain_text("已核销")
    expect(line).to_contain_text("付款期限")
    line.get_by_role("link", name=re.compile(r"^ZD")).click()
    expect(page.locator("article.invoice")).to_contain_text("由转型券支付")
    expect(page.locator("article.invoice")).to_contain_text("统一社会信用代码")
    log_out(page)

    with live_app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        line_id = order.lines[0].id

    # 5. the official clears the fast-delivery flag and settles with the provider
    log_in(page, base, "official@sjz.demo")
    page.goto(f"{base}/agency/risk-flags")
    flag = page.locator("section.card").filter(has_text=re.compile(rf"#{line_id}\b"))
    flag.get_by_placeholder("您核查了什么").fill("已电话回访企业，系统确已上线。")
    flag.get_by_role("button", name="清除").click()
    expect(page.locator(".flashes")).to_contain_text("已记录决定")
    nav(page, "转型券项目")
    page.get_by_role("link", name="石家庄市2026年第二批转型券").click()
    page.get_by_role("button", name="生成结算单").first.click()
    expect(page.locator("h1")).to_contain_text("JS")
    expect(page.get_by_text("须由本单位另一名工作人员批准")).to_be_visible()  # four eyes
    settlement_url = page.url
    log_out(page)
    # 6. the agency's second official approves it with a note; either official marks it paid
    log_in(page, base, "official2@sjz.demo")
    page.goto(settlement_url)
    page.get_by_label("批准意见").fill("已核对结算明细、服务商账号与合计金额。")
    page.get_by_label("确认批准结算 ¥", exact=False).check()
    page.get_by_role("button", name="批准").click()
    expect(page.locator("h1")).to_contain_text("已批准")
    page.get_by_label("银行转账流水号").fill("HX2026112300099")
    page.get_by_label("支付 ¥", exact=False).check()
    page.get_by_role("button", name="标记为已支付").click()
    expect(page.locator("h1")).to_contain_text("已支付")
