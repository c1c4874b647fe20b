"""Every demo login's dashboard shows what really waits for it: its to-do list matches what the
demo data hold (counted here straight from the tables), every item's link opens for that user,
the enterprise sees its vouchers and balances, and no page shows a "coming soon" text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import ChangeStatus, ProfileChange, User
from marketplace.db import db
from marketplace.demo import seed
from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.oversight.models import KpiReport, KpiStatus
from marketplace.payments.models import Invoice, InvoiceStatus
from marketplace.vouchers.models import ClawBack, ClawBackStatus, Voucher
from tests.conftest import Client, demo_world

pytestmark = pytest.mark.slow

ITEM = re.compile(r'<li data-todo="(\w+)"(?: data-due="[\d-]+")?>\s*<a href="([^"]+)">')
PLACEHOLDERS = ("将随试点推进", "coming soon", "open here as the pilot")


@pytest.fixture(scope="module")
def world(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The demo dataset in a database of its own (``app``: the translations are compiled)."""
    with demo_world(tmp_path_factory, "dashboards") as world_app:
        yield world_app


def _count(world: Flask, stmt) -> int:
    with world.app_context():
        return int(db.session.scalar(stmt) or 0)


def _user(world: Flask, email: str) -> tuple[int, int]:
    with world.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        return user.id, user.org_id


def _dashboard(world: Flask, email: str) -> tuple[Client, str, list[tuple[str, str]]]:
    client = world.test_client()
    client.login(email, seed.DEMO_PASSWORD)
    html = client.text("/dashboard")
    assert "待办事项" in html
    assert not [p for p in PLACEHOLDERS if p in html]
    return client, html, ITEM.findall(html)  # type: ignore[return-value]


def test_each_demo_login_sees_its_real_waiting_items(world: Flask) -> None:
    lists = {}
    for _role, email in seed.DEMO_LOGINS:
        client, _html, items = _dashboard(world, email)
        lists[email] = Counter(kind for kind, _link in items)
        for link in sorted({link for _kind, link in items}):
            assert client.get(link).status_code == 200, (email, link)

    # the people who have work in the demo see it
    for email in (
        "official@sjz.demo",
        "official2@sjz.demo",
        "official@xm.demo",
        "official2@xm.demo",
        "i01@provider.demo",
        "s01@provider.demo",
        "e002@enterprise.demo",
        "adv01@advisor.demo",
    ):
        assert lists[email], email

    # the advisor answers e001's request; Shijiazhuang decides the second advisor's application
    assert lists["adv01@advisor.demo"]["visit_requested"] == 1
    assert lists["official@sjz.demo"]["advisor_application"] == 1
    assert lists["official@xm.demo"]["advisor_application"] == 0

    # new orders each provider has to accept or reject
    for email in ("i01@provider.demo", "s01@provider.demo"):
        _uid, org_id = _user(world, email)
        placed = select(func.count(OrderLine.id)).where(
            OrderLine.provider_id == org_id, OrderLine.status == LineStatus.PLACED
        )
        assert lists[email]["line_placed"] == _count(world, placed)

    # what the enterprise has to pay, accept and confirm
    for email in ("e001@enterprise.demo", "e002@enterprise.demo"):
        _uid, org_id = _user(world, email)
        unpaid = select(func.count(Invoice.id)).where(
            Invoice.enterprise_id == org_id, Invoice.status == InvoiceStatus.FINALISED
        )
        assert lists[email]["invoice_due"] + lists[email]["invoice_overdue"] == _count(
            world, unpaid
        )
        delivered = (
            select(func.count(OrderLine.id))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.enterprise_id == org_id, OrderLine.status == LineStatus.DELIVERED)
        )
        assert lists[email]["line_delivered"] == _count(world, delivered)
        kpi = select(func.count(KpiReport.id)).where(
            KpiReport.enterprise_id == org_id,
            KpiReport.status == KpiStatus.PENDING,
            KpiReport.reported_by_org_id != org_id,
        )
        assert lists[email]["kpi_to_confirm"] == _count(world, kpi)

    # e002's profile change waits for the Xiamen officials, not for Shijiazhuang's
    pending = select(func.count(ProfileChange.id)).where(
        ProfileChange.status == ChangeStatus.PENDING
    )
    assert _count(world, pending) == 1
    assert lists["official@xm.demo"]["profile_change"] == 1
    assert lists["official@sjz.demo"]["profile_change"] == 0

    # the claw-back one Shijiazhuang official proposed waits for the other one only
    proposed = _count(
        world, select(func.count(ClawBack.id)).where(ClawBack.status == ClawBackStatus.PROPOSED)
    )
    assert proposed >= 1
    assert (
        lists["official@sjz.demo"]["clawback_proposed"]
        + lists["official2@sjz.demo"]["clawback_proposed"]
        == proposed
    )
    assert lists["official@sjz.demo"]["clawback_proposed"] == 0


def test_the_enterprise_dashboard_shows_its_vouchers_and_balances(world: Flask) -> None:
    for email in ("e001@enterprise.demo", "e002@enterprise.demo"):
        _uid, org_id = _user(world, email)
        _client, html, _items = _dashboard(world, email)
        with world.app_context():
            vouchers = db.session.scalars(
                select(Voucher).where(Voucher.enterprise_id == org_id)
            ).all()
            assert vouchers  # every demo enterprise holds a voucher
            for v in vouchers:
                assert f'data-voucher="{v.id}"' in html and v.code in html
        assert html.count("data-voucher=") == len(vouchers)
