"""An enterprise diagnoses itself, takes the recommended bundle, fixes an interoperability
warning, reviews the order and places it with its contact person and delivery site; the
provider sees them, accepts and delivers with evidence; the enterprise reads the evidence,
accepts and reviews."""

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.db import db
from marketplace.demo.seed import DEMO_PASSWORD
from marketplace.orders.models import Order
from tests.e2e.key_pages import nav


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()


def log_out(page: Page) -> None:
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="退出登录").click()


def test_enterprise_journey(page: Page, live_server: str, live_app):
    base = live_server
    log_in(page, base, "e060@enterprise.demo")

    # 1. diagnose
    nav(page, "数字化诊断")
    page.get_by_role("link", name="开始诊断").click()
    for group in page.locator("fieldset.question").all()[:-2]:
        group.locator("input[type=radio]").nth(1).check()
    page.get_by_label("车间情况不透明").check()
    page.get_by_label("不良品与客户投诉").check()
    page.get_by_label("¥50,000 至 ¥200,000").check()
    page.get_by_role("button", name="查看诊断结果").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("数字化水平 L2")

    # 2. take the recommended bundle (its page says why each package, and what it costs)
    page.get_by_role("link", name="查看推荐组合方案").click()
    page.get_by_role("button", name="采用这个组合方案").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("推荐组合方案")
    bundle_url = page.url

    # 3. fix an interoperability warning with a suggested package
    warning = page.locator(".interop .warning").filter(has=page.locator("a")).first
    expect(warning).to_be_visible()
    gap_text = warning.locator("p").first.inner_text()
    warning.locator("a").first.click()
    page.get_by_role("button", name="加入组合方案").click()
    expect(page).to_have_url(bundle_url)
    expect(page.locator(".interop")).not_to_contain_text(gap_text)

    # 4. review the order (prices, vouchers, when to pay, terms), then place it
    page.get_by_role("link", name="下单", exact=True).click()
    expect(page.locator(".eyebrow")).to_contain_text("核对订单")
    expect(page.locator("main")).to_contain_text("您验收交付时")  # invoiced at 验收
    expect(page.locator("main")).not_to_contain_text("接单后")
    # the contact person and the site, prefilled from the profile where it holds them
    expect(page.get_by_label("交付现场（地址）", exact=True)).to_have_value(re.compile("市.+号"))
    page.get_by_label("联系电话", exact=True).fill("0311-1234")  # too short: said, nothing ordered
    page.get_by_role("button", name="确认下单").click()
    expect(page.locator("#contact_phone-error")).to_contain_text("请输入11位手机号")
    page.get_by_label("联系人", exact=True).fill("赵主任")
    page.get_by_label("联系电话", exact=True).fill("0311-85551234")
    page.get_by_role("button", name="确认下单").click()
    expect(page.locator("h1")).to_contain_text("ZX")
    number = page.locator("h1").inner_text().strip()
    log_out(page)

    with live_app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        line = order.lines[0]
        provider_email = next(u.email for u in line.provider.users if u.role.value == "owner")
        title = line.title

    # 5. the provider accepts, plans a milestone, delivers
    log_in(page, base, provider_email)
    page.goto(f"{base}/orders/{number}")
    section = page.locator(".order-line").filter(has_text=title).first
    expect(section.locator(".party-contact")).to_contain_text("赵主任")
    expect(section.locator(".party-contact")).to_contain_text("0311-85551234")
    section.get_by_role("button", name="接受订单").click()
    section = page.locator(".order-line").filter(has_text=title).first
    section.get_by_label("里程碑").fill("部署上线")
    section.get_by_label("截止日期").fill("2027-01-15")
    section.get_by_role("button", name="添加里程碑").click()
    section = page.locator(".order-line").filter(has_text=title).first
    section.get_by_role("button", name="开始交付").click()
    section = page.locator(".order-line").filter(has_text=title).first
    section.get_by_role("button", name="标记完成").click()
    section = page.locator(".order-line").filter(has_text=title).first
    delivery = section.locator("form.delivery-form")
    delivery.get_by_label("给企业的说明（选填）").fill("已部署上线，验收报告见附件。")
    delivery.locator("input[type=file]").set_input_files(
        {"name": "验收报告.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 report"}
    )
    delivery.get_by_role("button", name="标记为已交付").click()
    expect(page.locator(".order-line").filter(has_text=title).first).to_contain_text(
        "已交付，等待验收"
    )
    log_out(page)

    # 6. the enterprise accepts (验收) and reviews
    log_in(page, base, "e060@enterprise.demo")
    page.goto(f"{base}/orders/{number}")
    section = page.locator(".order-line").filter(has_text=title).first
    expect(section).to_contain_text("企业验收交付（或自动验收）时开具账单")  # nothing yet
    # the provider's evidence, read before accepting
    expect(section.locator(".evidence")).to_contain_text("已部署上线，验收报告见附件。")
    expect(section.locator(".evidence a")).to_have_text("验收报告.pdf")
    section.get_by_role("button", name="确认验收").click()
    section = page.locator(".order-line").filter(has_text=title).first
    expect(section).to_contain_text("已验收")
    expect(section).to_contain_text("付款期限")  # invoiced now, with its due date
    section.get_by_label("评分（1 到 5）").select_option("5")
    section.get_by_label("评价内容（选填）").fill("交付顺利，车间已经用上了。")
    section.get_by_role("button", name="提交评价").click()
    expect(page.locator(".flashes")).to_contain_text("感谢评价")
    expect(page.locator(".order-line").filter(has_text=title).first).to_contain_text(
        re.compile("★ 5 / 5")
    )
