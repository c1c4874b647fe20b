"""A provider proposes a baseline, the enterprise agrees and accepts the delivery,
measurements are submitted and confirmed, the window settles as met, the invoice is paid."""

from datetime import timedelta
from decimal import Decimal

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.catalog.models import Better, TargetKind
from marketplace.db import db, local_today
from marketplace.orders.models import OrderLine
from marketplace.outcomes.models import ContractStatus, OutcomeContract
from marketplace.payments.models import Invoice, InvoiceKind
from marketplace.pool.models import PoolMembership
from tests.e2e.test_enterprise_journey import log_in, log_out


def _owner_email(org) -> str:
    return next(u.email for u in org.users if u.role.value == "owner")


def test_outcome_journey(page: Page, live_server: str, live_app):
    base = live_server
    with live_app.app_context():
        contract = db.session.scalar(
            select(OutcomeContract).where(
                OutcomeContract.status == ContractStatus.AWAITING_BASELINE
            )
        )
        contract_id = contract.id
        provider = _owner_email(contract.provider)
        enterprise = _owner_email(contract.enterprise)
        number = db.session.get(OrderLine, contract.order_line_id).order.number
        line_id = contract.order_line_id
        agency = db.session.scalar(
            select(PoolMembership).where(PoolMembership.provider_id == contract.provider_id)
        ).agency
        official = _owner_email(agency)
        # a value that meets the contract's own target, whichever way its metric improves
        baseline = Decimal(40) if contract.metric.unit == "%" else Decimal("3.4")
        needed = (
            baseline * contract.target_value / 100
            if contract.target_kind is TargetKind.RELATIVE
            else contract.target_value
        )
        step = needed * Decimal("1.5")
        better = baseline + step if contract.metric.better is Better.HIGHER else baseline - step
        assert better > 0 and (contract.metric.unit != "%" or better <= 100), contract.id
        baseline_value, better_value = f"{baseline:g}", f"{better.quantize(Decimal('0.01')):g}"
    today = local_today()

    # 1. the provider proposes a baseline and accepts the order
    log_in(page, base, provider)
    page.goto(f"{base}/contracts/{contract_id}")
    page.get_by_label("基线值").fill(baseline_value)
    page.get_by_label("测量起始日").fill((today - timedelta(days=60)).isoformat())
    page.get_by_label("测量截止日").fill((today - timedelta(days=30)).isoformat())
    page.get_by_label("依据：如何测量、取自哪些记录").fill("MES 班次报表，剔除计划停机。")
    page.get_by_role("button", name="提出基线").click()
    expect(page.locator("h1")).to_contain_text("已提出基线")
    page.goto(f"{base}/orders/{number}")
    line = page.locator(f"#line-{line_id}")
    if line.get_by_role("button", name="接受订单").count():  # the demo may have accepted it
        line.get_by_role("button", name="接受订单").click()
    for button in ("开始交付", "标记为已交付"):
        line.get_by_role("button", name=button).click()
    log_out(page)

    # 2. the enterprise agrees to the baseline and accepts the delivery: the window opens
    log_in(page, base, enterprise)
    page.goto(f"{base}/contracts/{contract_id}")
    page.get_by_role("button", name="确认基线").click()
    expect(page.locator("h1")).to_contain_text("等待验收")
    page.goto(f"{base}/orders/{number}")
    page.locator(f"#line-{line_id}").get_by_role("button", name="确认验收").click()
    page.goto(f"{base}/contracts/{contract_id}")
    expect(page.locator("h1")).to_contain_text("考核中")
    log_out(page)

    # 3. the provider submits a measurement; the enterprise confirms it
    log_in(page, base, provider)
    page.goto(f"{base}/contracts/{contract_id}")
    page.get_by_label("统计起始日").fill(today.isoformat())
    page.get_by_label("统计截止日").fill(today.isoformat())
    page.get_by_label("数值", exact=True).fill(better_value)
    page.get_by_label("您对该数值的编号").fill("MES-E2E-01")
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page.locator(".flashes")).to_contain_text("效果数据已提交")
    log_out(page)
    log_in(page, base, enterprise)
    page.goto(f"{base}/contracts/{contract_id}")
    page.get_by_role("button", name="确认", exact=True).click()
    expect(page.locator("table")).to_contain_text("已确认")
    log_out(page)

    # 4. the window ends (time passes) and the official settles it: met, a fee invoice
    with live_app.app_context():
        c = db.session.get(OutcomeContract, contract_id)
        c.window_end = today - timedelta(days=1)
        c.window_start = c.window_end - timedelta(days=c.window_days)
        db.session.commit()
    log_in(page, base, official)
    page.goto(f"{base}/contracts/{contract_id}")
    page.get_by_role("button", name="结算考核期").click()
    expect(page.locator("h1")).to_contain_text("已达标")
    expect(page.locator("ol")).to_contain_text("成功费")
    log_out(page)

    # 5. the provider records the enterprise's transfer: the invoice is paid
    with live_app.app_context():
        invoice = db.session.scalar(
            select(Invoice).where(
                Invoice.order_line_id == c.order_line_id, Invoice.kind == InvoiceKind.SUCCESS_FEE
            )
        )
        invoice_id, amount = invoice.id, invoice.amount_fen
    log_in(page, base, provider)
    page.goto(f"{base}/invoices/{invoice_id}")
    page.get_by_label("收款金额（元）").fill(f"{amount / 100:.2f}")
    page.get_by_label("银行转账流水号").fill("HX-E2E-0001")
    page.get_by_label("到账日期").fill(today.isoformat())
    page.get_by_role("button", name="登记付款").click()
    expect(page.locator("h1")).to_contain_text("已支付")
