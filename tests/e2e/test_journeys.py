"""Each role logs in and sees its dashboard in Chinese; the language switch works."""

import re

import pytest
from playwright.sync_api import Page, expect

from marketplace.demo.seed import DEMO_PASSWORD

ROLES = [
    ("admin@platform.demo", "转型包服务平台运营中心", "组织与用户"),
    ("official@sjz.demo", "石家庄市工业和信息化局", "服务商资源池"),
    ("official@xm.demo", "厦门市工业和信息化局", "数字化转型券（转型券）"),
    ("assessor@assess.demo", "河北省中小企业数字化转型评估中心", "核验效果合约的效果数据"),
    ("i01@provider.demo", "石家庄工赋数字科技有限公司", "服务商资料"),
    ("s01@provider.demo", "科技有限公司", "资源池"),
    ("e001@enterprise.demo", "有限公司", "企业规模"),
]


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()


@pytest.mark.parametrize(("email", "org", "marker"), ROLES, ids=[r[0] for r in ROLES])
def test_each_role_sees_its_dashboard_in_chinese(page: Page, live_server: str, email, org, marker):
    log_in(page, live_server, email)
    expect(page).to_have_url(live_server + "/dashboard")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("工作台")
    expect(heading).to_contain_text(org)
    expect(page.locator("main")).to_contain_text(marker)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_switching_to_english_and_back(page: Page, live_server: str):
    log_in(page, live_server, "e002@enterprise.demo")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")
    expect(page.locator("main")).to_contain_text("Size tier")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(live_server + "/org")
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="成员", exact=True)).to_be_visible()


def test_wrong_password_shows_an_error_in_chinese(page: Page, live_server: str):
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("e003@enterprise.demo")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("邮箱或密码不正确")


def test_admin_search_updates_in_place_and_keeps_the_url(page: Page, live_server: str):
    log_in(page, live_server, "admin@platform.demo")
    page.goto(live_server + "/admin/organisations")
    page.get_by_label("名称或信用代码").fill("工业和信息化局")
    expect(page).to_have_url(re.compile(r"q=%E5%B7%A5"))
    expect(page.locator("#results")).to_contain_text("共 2 个组织")
    page.go_back()
    expect(page.locator("#results")).not_to_contain_text("共 2 个组织")


def test_enterprise_registers_in_the_browser(page: Page, live_server: str):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(live_server + "/register/enterprise")
    page.get_by_label("企业名称").fill("厦门启明食品有限公司")
    page.get_by_label("统一社会信用代码").fill("91350200M000100Y48")
    page.get_by_label("所属行业").select_option("food")
    page.get_by_label("所在地区").select_option("350211")
    page.get_by_label("从业人员数").fill("12")
    page.get_by_label("年营业收入（元）").fill("2500000")
    page.get_by_label("您的姓名").fill("黄艳")
    page.get_by_label("您的邮箱（登录账号）").fill("huang@qiming-food.cn")
    page.get_by_label("密码", exact=True).fill("qiming-food-2026")
    page.get_by_label("再次输入密码").fill("qiming-food-2026")
    page.get_by_role("button", name="注册").click()
    expect(page).to_have_url(live_server + "/dashboard")
    expect(page.locator("main")).to_contain_text("微型")
