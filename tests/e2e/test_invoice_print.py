"""An invoice prints as one clean A4 page: print media hides the navigation, buttons and forms
and keeps the document (platform, number, dates, parties with credit codes, lines, amount due,
bank details, payment reference), in both languages."""

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.db import db
from marketplace.payments.models import Invoice, InvoiceKind, InvoiceStatus
from tests.e2e.test_enterprise_journey import log_in, log_out

A4_POINTS = (595.28, 841.89)
BLOCKING = {"serious", "critical"}


def _an_unpaid_co_payment(live_app) -> tuple[int, str, str, str, str]:
    with live_app.app_context():
        invoice = db.session.scalar(
            select(Invoice)
            .where(
                Invoice.kind == InvoiceKind.CO_PAYMENT,
                Invoice.status == InvoiceStatus.FINALISED,
                Invoice.seller_bank_account.is_not(None),
            )
            .order_by(Invoice.id)
        )
        owner = next(u.email for u in invoice.enterprise.users if u.role.value == "owner")
        return (
            invoice.id,
            owner,
            invoice.number,
            invoice.seller_credit_code,
            invoice.buyer_credit_code,
        )


def _pages(pdf: bytes) -> list[tuple[float, float]]:
    """The size in points of each page of a PDF Chromium wrote (its page objects are plain)."""
    assert pdf.startswith(b"%PDF")
    count = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes[:count]] or [(0.0, 0.0)] * count


def test_an_invoice_prints_on_one_a4_page(page: Page, live_server: str, live_app):
    base = live_server
    invoice_id, owner, number, seller_code, buyer_code = _an_unpaid_co_payment(live_app)
    log_in(page, base, owner)
    for language in ("zh", "en"):
        if language == "en":
            page.get_by_role("button", name="English").click()
        page.goto(f"{base}/invoices/{invoice_id}")
        violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in BLOCKING]
        assert violations == [], violations
        print_button = page.get_by_role("button", name="打印" if language == "zh" else "Print")
        expect(print_button).to_be_visible()  # shown where script runs
        expect(page.locator(".main-nav")).to_be_visible()

        page.emulate_media(media="print")
        for hidden in (".site-header", ".main-nav", ".site-footer", "form", "button"):
            for element in page.locator(hidden).all():
                expect(element).to_be_hidden()
        document = page.locator("article.invoice")
        expect(document).to_be_visible()
        platform = "转型包服务市场" if language == "zh" else "Transformation Package Marketplace"
        expect(document.locator(".invoice-platform")).to_have_text(platform)
        for text in (
            number,
            seller_code,
            buyer_code,
            "统一社会信用代码" if language == "zh" else "Unified social credit code",
        ):
            expect(document).to_contain_text(text)

        pdf = page.pdf(format="A4")
        pages = _pages(pdf)
        assert len(pages) == 1, f"{language}: {len(pages)} pages"
        width, height = pages[0]
        assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, pages
        page.emulate_media(media="screen")
    page.get_by_role("button", name="中文").click()
    log_out(page)
