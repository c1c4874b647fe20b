"""The platform admin's workspace (issue 20): every admin page is in the navigation, a
platform overview (organisations by kind, order lines by state, money in motion, failed
jobs, health), and a user who sets a password with a link is signed in on their workspace."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.accounts.models import User
from marketplace.db import utcnow
from marketplace.jobs.models import JobRecord, JobState
from marketplace.money import format_fen
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus
from marketplace.payments import services as payments
from marketplace.security import access_of
from marketplace.vouchers import figures
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.accounts.mail_helpers import last_link
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order


@pytest.fixture
def admin(client, dbs):
    UserFactory(email="admin@ws-admin.cn", org=OrganisationFactory(platform=True))
    client.login("admin@ws-admin.cn")
    return client


def platform_pages(app):
    """Every page only platform admins (or they among others) open, without parameters."""
    for rule in app.url_map.iter_rules():
        access = access_of(rule.endpoint, app)
        if access and "platform" in access.kinds and "GET" in rule.methods and not rule.arguments:
            yield rule.rule


def test_every_admin_page_is_in_the_navigation(app, admin):
    page = admin.text("/dashboard")
    nav = page.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    linked = set(re.findall(r'href="([^"?#]+)', nav))
    pages = set(platform_pages(app))
    assert {"/admin/categories", "/admin/overview", "/platform/payouts"} <= pages
    assert pages - linked == set()


def test_the_overview_shows_the_platform_at_a_glance(app, admin, dbs, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="ov")
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    dbs.add(
        JobRecord(
            task_id="t-ov",
            name="marketplace.item.invoice_reminders",
            args="[1]",
            kwargs="{}",
            state=JobState.FAILED,
            last_error="boom",
            updated_at=utcnow(),
        )
    )
    dbs.commit()
    page = admin.text("/admin/overview")
    assert "平台概览" in page
    for kind in ("enterprise", "provider", "agency", "assessor", "platform"):
        assert f'data-kind="{kind}"' in page
    # the figures are the services' own
    with services(app, dbs):
        lines = orders.lines_by_status()
        billing = payments.platform_totals()
        vouchers = figures.platform_totals()
    assert lines[LineStatus.COMPLETED] == 1
    row = re.search(r'data-line-status="completed".*?</tr>', page, re.S).group(0)
    assert '<td class="num">1</td>' in row
    money = dict(re.findall(r'data-money="(\w+)">([^<]+)<', page))
    assert money["issued"] == format_fen(vouchers["issued"])
    assert money["redeemed"] == format_fen(vouchers["redeemed"])
    assert money["invoiced"] == format_fen(billing["invoiced"])
    assert money["outstanding"] == format_fen(billing["outstanding"])
    assert vouchers["issued"] == 20_000_00 and vouchers["redeemed"] > 0
    assert 'data-health="database"' in page and "正常" in page
    assert "1 个失败" in page and "marketplace.item.invoice_reminders" in page


def test_the_overview_in_english_and_for_no_one_else(app, client, english, dbs):
    UserFactory(email="admin@ws-admin.cn", org=OrganisationFactory(platform=True))
    english.login("admin@ws-admin.cn")
    page = english.text("/admin/overview")
    assert "Platform overview" in page and "Money in motion" in page and "Working" in page
    english.post("/logout", data={"csrf_token": english.csrf_token()})
    UserFactory(email="official@ws-admin.cn", org=OrganisationFactory(agency=True))
    english.login("official@ws-admin.cn")
    assert english.get("/admin/overview").status_code == 403


def test_setting_a_password_signs_in_on_the_users_workspace(app, admin, dbs):
    created = admin.form(
        "/admin/organisations/new",
        {
            "kind": "assessor",
            "name": "赛迪评估中心",
            "credit_code": "",
            "owner_name": "周评",
            "email": "zhou@ccid.cn",
        },
    )
    assert created.status_code == 302
    path = last_link(dbs, "zhou@ccid.cn", "account_created")
    newcomer = app.test_client()
    before = dbs.scalar(select(User.password_hash).where(User.email == "zhou@ccid.cn"))
    mismatch = newcomer.form(path, {"password": "assessor-pass-1", "confirm": "other-pass-1"})
    assert mismatch.status_code == 422 and newcomer.get("/dashboard").status_code == 302
    dbs.expire_all()
    assert dbs.scalar(select(User.password_hash).where(User.email == "zhou@ccid.cn")) == before
    done = newcomer.form(path, {"password": "assessor-pass-1", "confirm": "assessor-pass-1"})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    workspace = newcomer.text("/dashboard")
    assert "待核验的效果数据" in workspace  # the assessor's own workspace, signed in
