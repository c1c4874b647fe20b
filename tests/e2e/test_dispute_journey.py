"""An official decides a dispute: the demo's escalated dispute waits on official@sjz.demo's
to-do list; the official reads both sides, is refused without a note and with an amount that
is not below the line's, then accepts the line at a reduced amount. The enterprise sees the
decision and an invoice for the reduced amount, its voucher paying its share of it."""

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.db import db
from marketplace.orders.models import Dispute, DisputeStatus, LineStatus
from marketplace.payments.models import Invoice
from marketplace.vouchers import spending
from tests.e2e.test_enterprise_journey import log_in, log_out


def _waiting_case(live_app) -> tuple[int, str, str, int]:
    """The escalated demo dispute: its id, order number, enterprise's owner e-mail and the
    line's amount."""
    with live_app.app_context():
        case = db.session.scalars(
            select(Dispute).where(Dispute.status == DisputeStatus.ESCALATED)
        ).one()
        owner = next(u for u in case.enterprise.users if u.role.value == "owner")
        return case.id, case.line.order.number, owner.email, case.line_amount_fen


def test_an_official_decides_a_dispute(page: Page, live_server: str, live_app):
    base = live_server
    case_id, number, enterprise_email, amount_fen = _waiting_case(live_app)
    reduced_fen = amount_fen * 7 // 10 // 100 * 100  # 70 %, whole yuan

    log_in(page, base, "official@sjz.demo")
    todo = page.locator('li[data-todo="dispute_to_decide"]')
    expect(todo).to_have_count(1)
    expect(todo).to_contain_text(number)
    todo.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/disputes/{case_id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("异议处理")
    expect(page.locator('[data-side="enterprise"]')).to_contain_text("与服务商沟通三次未果")
    expect(page.locator('[data-side="provider"]')).to_contain_text("PLC 型号老旧")

    decide = page.locator("#decide")
    # no note: refused, nothing decided
    decide.get_by_label("核减金额后验收").check()
    decide.get_by_label("核减后金额（元）").fill(str(reduced_fen // 100))
    decide.get_by_role("button", name="确认裁决").click()
    expect(page.get_by_role("alert")).to_contain_text("请修改下方标出的内容")
    expect(page.locator("#decide")).to_contain_text("请填写裁决说明")
    # an amount not below the line's: refused
    decide.get_by_label("核减后金额（元）").fill(str(amount_fen // 100))
    decide.get_by_label("裁决说明（双方可见）").fill("二号、三号产线未接入，按七成验收")
    decide.get_by_role("button", name="确认裁决").click()
    expect(page.locator("#decide")).to_contain_text("必须大于零且小于")
    with live_app.app_context():
        assert db.session.get(Dispute, case_id).status is DisputeStatus.ESCALATED

    decide.get_by_label("核减金额后验收").check()
    decide.get_by_label("核减后金额（元）").fill(str(reduced_fen // 100))
    decide.get_by_label("裁决说明（双方可见）").fill("二号、三号产线未接入，按七成验收")
    decide.get_by_role("button", name="确认裁决").click()
    expect(page.locator(".flash, [role=status]").first).to_contain_text("已通知双方")
    expect(page.locator("[data-dispute-status]")).to_have_text("已裁决")
    expect(page.locator("[data-decision]")).to_contain_text("裁决：核减金额后验收")
    expect(page.locator("#decide")).to_have_count(0)
    expect(page.locator('li[data-todo="dispute_to_decide"]')).to_have_count(0)

    with live_app.app_context():
        case = db.session.get(Dispute, case_id)
        line = case.line
        assert (case.status, case.decided_amount_fen) == (DisputeStatus.DECIDED, reduced_fen)
        assert (line.status, line.committed_fen) == (LineStatus.COMPLETED, reduced_fen)
        paid = spending.line_funding(line.id).redeemed_fen
        invoice = db.session.scalars(select(Invoice).where(Invoice.order_line_id == line.id)).one()
        assert (invoice.gross_fen, invoice.voucher_fen) == (reduced_fen, paid)

    log_out(page)
    log_in(page, base, enterprise_email)
    page.goto(f"{base}/orders/{number}")
    expect(page.locator(f'[data-dispute="{case_id}"]')).to_contain_text("已裁决")
    expect(page.locator("main")).to_contain_text(invoice.number)
    page.goto(f"{base}/notifications")
    expect(page.locator("main")).to_contain_text("异议裁决：按核减后金额")
