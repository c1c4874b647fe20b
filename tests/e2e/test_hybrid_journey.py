"""Hybrid mode in the browser (issue 22): a Xiamen enterprise, holding a voucher of the demo's
hybrid programme, swaps a module of an appointed integrator's curated bundle for a specialist's
package, sees the interoperability result and the pro-rated integration fee, and checks out
with the voucher paying."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.catalog.models import BundleStatus, CuratedBundle
from marketplace.db import db
from marketplace.orders import bundles, hybrid
from marketplace.orders.models import Order, OrderLine
from marketplace.security import Actor
from marketplace.vouchers.models import (
    ProgrammeMode,
    Reservation,
    Voucher,
    VoucherProgramme,
    VoucherStatus,
)
from tests.e2e.test_enterprise_journey import log_in


def _swappable(live_app) -> tuple[str, int, str, str, int, int]:
    """Set-up outside the journey: a holder of an unused hybrid voucher takes an appointed
    integrator's curated bundle, one of whose modules a specialist's package can replace."""
    with live_app.app_context():
        programme = db.session.scalar(
            select(VoucherProgramme).where(VoucherProgramme.mode == ProgrammeMode.HYBRID)
        )
        assert programme is not None and programme.integrators
        appointed = {o.id for o in programme.integrators}
        holders = db.session.scalars(
            select(Voucher).where(
                Voucher.programme_id == programme.id,
                Voucher.status == VoucherStatus.ACTIVE,
                Voucher.reserved_fen == 0,
                Voucher.redeemed_fen == 0,
            )
        ).all()
        curated = [
            c
            for c in db.session.scalars(
                select(CuratedBundle).where(CuratedBundle.status == BundleStatus.PUBLISHED)
            )
            if c.integrator_id in appointed
        ]
        for voucher in holders[-5:]:
            user = db.session.scalar(
                select(User).where(User.org_id == voucher.enterprise_id).order_by(User.id)
            )
            actor = Actor(user.id, user.org_id, None)
            for deal in curated:
                saved = db.session.begin_nested()
                bundle = bundles.from_curated(user.org, deal.id, actor)
                for item in bundle.items:
                    for candidate in hybrid.candidates(bundle, item, programme):
                        shown = hybrid.preview(bundle, item.id, programme.id, candidate.package_id)
                        if shown.passes and shown.subsidy_after_fen > 0:
                            module = item.package.published_version
                            saved.commit()
                            db.session.commit()
                            return (
                                user.email,
                                bundle.id,
                                module.title,
                                candidate.title,
                                shown.totals_after.integration_fee_fen,
                                programme.id,
                            )
                saved.rollback()
        raise AssertionError("the demo has no module a specialist's package can replace")


def test_hybrid_swap_journey(page: Page, live_server: str, live_app):
    base = live_server
    email, bundle_id, module, specialist, fee_fen, programme_id = _swappable(live_app)
    log_in(page, base, email)
    page.goto(f"{base}/my-bundles/{bundle_id}")
    line = page.locator(".bundle-line").filter(has_text=module).first
    line.get_by_role("link", name="替换为细分领域服务商…").click()
    expect(page.locator("h1")).to_contain_text("将模块替换为细分领域服务商的转型包")
    expect(page.locator("#programme_id")).to_contain_text("混合模式")
    page.get_by_role("link", name=specialist).first.click()

    # the check and the new fee and totals, before and after vouchers
    expect(page.locator("#interop-result")).to_contain_text("兼容：检查未发现新的缺口")
    expect(page.locator("#fee-after")).to_contain_text(f"¥{fee_fen / 100:,.2f}")
    expect(page.locator("#subsidy-after")).to_contain_text("¥")
    page.get_by_role("button", name="确认替换模块").click()
    expect(page.locator(".flashes")).to_contain_text(f"替换为 {specialist}")
    expect(page.locator(".bundle-line").filter(has_text=specialist)).to_contain_text(
        "细分领域服务商的转型包"
    )
    expect(page.locator("#bundle-totals")).to_contain_text("按")

    # checkout: the voucher pays
    page.get_by_role("link", name="下单", exact=True).click()
    expect(page.locator(".review-line .subsidy").first).to_contain_text("转型券支付")
    page.get_by_label("联系电话", exact=True).fill("13912345678")
    page.get_by_role("button", name="确认下单").click()
    expect(page.locator("h1")).to_contain_text("ZX")
    number = page.locator("h1").inner_text().strip()
    expect(page.locator(".order-line").first).to_contain_text("已预留")

    with live_app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        lines = db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
        assert {line.title for line in lines} >= {specialist}
        assert all(line.integrator_id is not None for line in lines)
        integration = next(line for line in lines if line.kind == "integration")
        assert integration.committed_fen == fee_fen
        paid = db.session.scalars(
            select(Reservation.programme_id).where(
                Reservation.order_line_id.in_([line.id for line in lines])
            )
        ).all()
        assert paid and set(paid) == {programme_id}
