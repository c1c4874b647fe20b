"""A provider applies to a pool with its business licence, an official opens it and admits
the provider, the provider publishes a package and finds it in the public catalogue."""

from playwright.sync_api import Page, expect

from marketplace.demo.seed import DEMO_PASSWORD
from tests.e2e.key_pages import nav

LICENCE = b"%PDF-1.4\n% business licence\n"


def log_in(page: Page, base: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def log_out(page: Page) -> None:
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="退出登录").click()


def test_provider_applies_is_admitted_and_publishes(page: Page, live_server: str):
    base = live_server
    # 1. a new scenario provider registers
    page.goto(base + "/register/provider")
    page.get_by_label("服务商名称").fill("石家庄数据织网科技有限公司")
    page.get_by_label("统一社会信用代码").fill("91310000MA1FL1MMXL")
    page.get_by_label("服务商类型").select_option("scenario")
    page.get_by_role("group", name="服务行业").get_by_label("机械加工").check()
    page.get_by_role("group", name="服务地区").get_by_label("石家庄市 (130100)").check()
    page.get_by_label("联系人").fill("赵磊")
    page.get_by_label("联系电话").fill("13912340000")
    page.get_by_label("联系邮箱").fill("bd@zhiwang.cn")
    page.get_by_label("您的姓名").fill("赵磊")
    page.get_by_label("您的邮箱（登录账号）").fill("zhao@zhiwang.cn")
    page.get_by_label("密码", exact=True).fill("zhiwang-pass-2026")
    page.get_by_label("再次输入密码").fill("zhiwang-pass-2026")
    page.get_by_role("button", name="注册").click()
    expect(page).to_have_url(base + "/dashboard")

    # 2. it applies to 石家庄's pool
    nav(page, "资源池")
    page.get_by_role("row", name="石家庄市工业和信息化局").get_by_role("link", name="申请").click()
    page.get_by_label("从业年限").fill("6")
    page.get_by_label("参考客户数量").fill("3")
    page.get_by_label("参考客户名称（每行一个）").fill("恒达机械\n华盛纺织\n永泰电子")
    page.get_by_label("服务能力说明").fill("设备联网与数据采集，7 天上线。")
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("main")).to_contain_text("已申请")
    # with its business licence for the officials who review it
    page.get_by_label("文件类别").select_option("business_licence")
    page.get_by_label("文件（PDF、PNG 或 JPG）").set_input_files(
        files=[{"name": "营业执照.pdf", "mimeType": "application/pdf", "buffer": LICENCE}]
    )
    page.get_by_role("button", name="上传").click()
    expect(page.locator("#documents")).to_contain_text("营业执照.pdf")

    # 3. it prepares a package while waiting
    page.goto(base + "/provider/packages/new")
    page.get_by_label("名称", exact=True).fill("织网设备联网套件")
    page.get_by_label("一句话简介").fill("老旧设备加装传感器，7 天联网。")
    page.get_by_label("详细介绍（纯文本，保留换行）").fill("含网关与传感器。\n含现场调试。")
    page.get_by_label("场景类别").select_option("equipment_networking")
    page.get_by_label("部署方式").select_option("hybrid")
    page.get_by_role("group", name="适用行业").get_by_label("机械加工").check()
    page.get_by_role("group", name="目标企业规模").get_by_label("小型").check()
    page.get_by_label("上线周期（天）").fill("7")
    page.get_by_label("故障响应时间（SLA，小时）").fill("4")
    page.get_by_role("button", name="保存草稿").click()
    # the plan form shows only the part of the chosen kind (js/plan_form.js)
    page.get_by_label("方案类型").select_option("subscription")
    expect(page.get_by_label("月费（元）")).to_be_visible()
    expect(page.get_by_label("价格（元）")).to_be_hidden()
    page.get_by_label("月费（元）").fill("999")  # typed, then another kind chosen: not posted
    page.get_by_label("方案类型").select_option("one_time")
    expect(page.get_by_label("月费（元）")).to_be_hidden()
    expect(page.get_by_role("group", name="仅用于按效果付费方案")).to_be_hidden()
    page.get_by_label("方案名称").fill("一次性交付")
    page.get_by_label("价格（元）").fill("36800")
    page.get_by_role("button", name="添加方案").click()
    expect(page.locator("#plans")).to_contain_text("一次性交付")
    page.locator("#interfaces").get_by_label("方向").select_option("produces")
    page.locator("#interfaces").get_by_label("协议").select_option("mqtt")
    page.locator("#interfaces").get_by_label("数据对象").select_option("device_telemetry")
    page.get_by_role("button", name="添加接口").click()
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.locator("main")).to_contain_text("待主管部门准予入库后即可发布")
    log_out(page)

    # 4. the official admits it with a reason
    log_in(page, base, "official@sjz.demo")
    page.goto(base + "/pool/queue")
    page.get_by_role("link", name="石家庄数据织网科技有限公司").click()
    with page.expect_download() as download:
        page.locator("#documents").get_by_role("link", name="营业执照.pdf").click()
    assert download.value.suggested_filename == "营业执照.pdf"
    page.get_by_label("决定").select_option("admit")
    page.get_by_label("书面理由（服务商可见）").fill("资质齐全，同意入库。")
    page.get_by_role("button", name="提交审核决定").click()
    expect(page.locator("main")).to_contain_text("已入库")
    log_out(page)

    # 5. the provider publishes and finds it in the public catalogue
    log_in(page, base, "zhao@zhiwang.cn", "zhiwang-pass-2026")
    expect(page.locator("main")).to_contain_text("资质齐全，同意入库。")
    page.goto(base + "/provider/packages")
    page.get_by_role("link", name="织网设备联网套件").click()
    page.get_by_role("button", name="发布", exact=True).click()
    expect(page.locator("main")).to_contain_text("已发布")
    log_out(page)
    page.goto(base + "/catalog")
    page.get_by_label("场景类别").select_option("equipment_networking")
    expect(page.locator("#results")).to_contain_text("织网设备联网套件")
    page.get_by_role("link", name="织网设备联网套件").click()
    expect(page.locator("main")).to_contain_text("¥36,800.00")
    expect(page.locator("main")).to_contain_text("石家庄市工业和信息化局")
