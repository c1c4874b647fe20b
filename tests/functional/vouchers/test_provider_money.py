"""The provider's settlements page shows its voucher money redeemed but not yet paid (held for
review, waiting for a settlement, in a settlement) apart from what was paid, and what is set
aside for lines not yet accepted; every figure from ``settlement.money_of``."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.orders import services as orders
from marketplace.vouchers import risk, settlement
from marketplace.vouchers.models import RiskFlag
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

FIGURE = re.compile(r'data-figure="(\w+)" data-fen="(-?\d+)"')
FACE = 20_000_00


def shown(client) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
    """The page's totals and its figures per programme row."""
    page = client.text("/provider/settlements")
    stats = page[page.index('class="stats') : page.index("</dl>")]
    totals = {name: int(fen) for name, fen in FIGURE.findall(stats)}
    rows = {
        int(pid): {name: int(fen) for name, fen in FIGURE.findall(row)}
        for pid, row in re.findall(r'<tr data-programme="(\d+)">(.*?)</tr>', page, re.S)
    }
    return totals, rows


def expected(money: settlement.ProviderMoney) -> dict[str, int]:
    return {
        "reserved": money.reserved_fen,
        "held": money.held_fen,
        "ready": money.ready_fen,
        "in_settlement": money.in_settlement_fen,
        "paid": money.paid_fen,
    }


@pytest.fixture
def world(app, dbs):
    """One redemption held by a fast-delivery risk flag, and a second order set aside."""
    p = pilot(app, dbs, tag="money")
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)  # accepted within hours: a fast-delivery flag holds it
    p.issue_to(programme)
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)  # not accepted yet
    dbs.commit()
    return p, programme


def check(client, app, dbs, p, programme, held, ready, in_settlement, paid):
    with services(app, dbs):
        rows, totals = settlement.money_of(p.provider)
    want = {
        "reserved": FACE,
        "held": held,
        "ready": ready,
        "in_settlement": in_settlement,
        "paid": paid,
    }
    assert [r.programme.id for r in rows] == [programme.id]
    assert expected(rows[0]) == want == expected(totals)
    assert totals.unpaid_fen == held + ready + in_settlement
    page_totals, page_rows = shown(client)
    assert page_totals == {
        "unpaid": held + ready + in_settlement,
        "held": held,
        "paid": paid,
        "reserved": FACE,
    }
    assert page_rows == {programme.id: want}


def test_money_moves_from_held_to_paid_and_the_page_follows(client, app, dbs, world):
    p, programme = world
    client.login(p.provider_owner.email)
    check(client, app, dbs, p, programme, held=FACE, ready=0, in_settlement=0, paid=0)
    page = client.text("/provider/settlements")
    assert "已核销、尚未支付" in page and "其中暂缓待核查" in page and "已预留、尚未验收" in page

    for flag in dbs.scalars(select(RiskFlag)).all():
        with services(app, dbs):
            risk.clear(flag, "已核实交付记录", p.official_actor)
    dbs.commit()
    check(client, app, dbs, p, programme, held=0, ready=FACE, in_settlement=0, paid=0)

    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
    dbs.commit()
    check(client, app, dbs, p, programme, held=0, ready=0, in_settlement=FACE, paid=0)

    with services(app, dbs):
        settlement.cancel(s, "账号有误，重新编制", p.official_actor)
    dbs.commit()
    check(client, app, dbs, p, programme, held=0, ready=FACE, in_settlement=0, paid=0)

    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
        settlement.approve(s, s.total_fen, "已核对", p.official2_actor)
    dbs.commit()
    check(client, app, dbs, p, programme, held=0, ready=0, in_settlement=FACE, paid=0)

    with services(app, dbs):
        settlement.mark_paid(s, "HX-MONEY-1", p.official_actor)
    dbs.commit()
    check(client, app, dbs, p, programme, held=0, ready=0, in_settlement=0, paid=FACE)


def test_the_figures_are_explained_in_english(client, world):
    p, _programme = world
    client.login(p.provider_owner.email)
    client.form("/language", {"lang": "en"})
    page = client.text("/provider/settlements")
    for words in (
        "Redeemed, not yet paid",
        "of which held for review",
        "Paid to you",
        "Set aside, not yet accepted",
        "Waiting for a settlement",
        "In a settlement, not yet paid",
    ):
        assert words in page


def test_another_provider_sees_none_of_it(client, app, dbs, world):
    other = pilot(app, dbs, tag="money-other")
    client.login(other.provider_owner.email)
    totals, rows = shown(client)
    assert rows == {} and set(totals.values()) == {0}
