"""Try before you spend (issue 23) in the browser: an enterprise finds a package offering a
free trial, confirms the terms and starts it; its trials page shows it with the days left; the
provider's 试用与转化 page lists it among the live trials; a second start is refused."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.accounts.models import MemberRole, Organisation, User
from marketplace.catalog.models import Package, PackageVersion
from marketplace.db import db
from marketplace.orders.models import Trial
from tests.e2e.test_enterprise_journey import log_in, log_out


def _untried_free_offer(live_app, enterprise_email: str) -> tuple[int, str, str, str]:
    """A published package with a free trial the enterprise has not tried, its title, the
    enterprise's name and the provider owner's e-mail."""
    with live_app.app_context():
        buyer = db.session.scalar(select(User).where(User.email == enterprise_email))
        tried = set(
            db.session.scalars(select(Trial.package_id).where(Trial.enterprise_id == buyer.org_id))
        )
        offers = db.session.execute(
            select(Package.id, PackageVersion.title, Package.provider_id)
            .join(PackageVersion, Package.published_version_id == PackageVersion.id)
            .where(PackageVersion.trial_days.is_not(None), PackageVersion.trial_price_fen == 0)
            .order_by(Package.id)
        ).all()
        package_id, title, provider_id = next(o for o in offers if o[0] not in tried)
        owner = db.session.scalar(
            select(User.email).where(User.org_id == provider_id, User.role == MemberRole.OWNER)
        )
        return package_id, title, db.session.get(Organisation, buyer.org_id).name, owner


def test_an_enterprise_tries_a_package_and_its_provider_sees_it(
    page: Page, live_server: str, live_app
):
    base = live_server
    email = "e002@enterprise.demo"
    package_id, title, enterprise, provider = _untried_free_offer(live_app, email)

    log_in(page, base, email)
    page.goto(f"{base}/packages/{package_id}")
    offer = page.locator("#trial")
    expect(offer).to_contain_text("免费试用")
    offer.get_by_role("button", name="开始试用").click()  # the terms not confirmed yet
    expect(page.locator(".flash, [role=alert]").first).to_contain_text("确认")
    page.locator("#trial input[type=checkbox]").check()
    page.locator("#trial").get_by_role("button", name="开始试用").click()

    page.wait_for_url(f"{base}/trials")
    row = page.locator("tr", has_text=title)
    expect(row).to_contain_text("试用中")
    expect(row.get_by_role("button", name="立即下单")).to_be_visible()

    page.goto(f"{base}/packages/{package_id}")  # one trial per customer: no second start
    expect(page.locator("#trial")).to_contain_text("您已试用")
    expect(page.locator("#trial").get_by_role("button", name="开始试用")).to_have_count(0)
    log_out(page)

    log_in(page, base, provider)
    page.goto(f"{base}/provider/trials")
    live = page.locator("tr", has_text=enterprise)
    expect(live.first).to_contain_text(title)
