"""A quote's price is the price the enterprise pays: the bundle made from an accepted quote,
its totals, the review, the order lines and the vouchers' reservations all use it, until the
enterprise changes what was quoted."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.catalog import services as catalog
from marketplace.catalog.models import PlanKind, PricePlan
from marketplace.errors import DomainError
from marketplace.orders import bundles
from marketplace.orders.models import Bundle, Need, Order, OrderLine, Quote
from marketplace.orders.quote_prices import Price, spread
from marketplace.security import Actor
from marketplace.vouchers.models import Reservation
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import published_package, services
from tests.functional.orders.test_review import order_form
from tests.functional.voucher_helpers import pilot

MONTHLY = catalog.PlanFields(
    kind="subscription", name="标准订阅", monthly_fen=1_000_00, term_months=12
)
BOARD_ONCE = catalog.PlanFields(kind="one_time", name="买断", amount_fen=15_000_00)


# --- the pure function, by hand ------------------------------------------------------------


def plan(kind: str, **fen: int) -> PricePlan:
    return PricePlan(kind=PlanKind(kind), name=kind, **fen)


def test_spread_by_hand_the_remainder_on_the_last_plan_that_is_not_a_subscription() -> None:
    once = plan("one_time", amount_fen=10_000)
    monthly = plan("subscription", monthly_fen=3_333, term_months=12)  # 39,996 fen
    outcome = plan("outcome", base_fee_fen=20_001, success_fee_fen=50_000)
    # list 69,997 fen, quoted 50,000:
    # once    50,000 × 10,000 // 69,997 = 7,143
    # monthly 50,000 × 39,996 // 69,997 = 28,569 → whole months: 28,560 = 2,380 × 12
    # outcome (the carrier) 50,000 − 7,143 − 28,560 = 14,297
    assert spread(50_000, [once, monthly, outcome]) == [
        Price(7_143, None, 7_143, 10_000, quoted=True),
        Price(None, 2_380, 28_560, 39_996, quoted=True),
        Price(14_297, None, 14_297, 20_001, quoted=True),
    ]


def test_spread_of_subscriptions_only_never_exceeds_the_quote() -> None:
    long = plan("subscription", monthly_fen=10_000, term_months=12)  # 120,000
    short = plan("subscription", monthly_fen=5_000, term_months=6)  # 30,000
    # long: 100,001 × 120,000 // 150,000 = 80,000 → 79,992 = 6,666 × 12
    # short (the carrier): 100,001 − 79,992 = 20,009 → 3,334 × 6 = 20,004 (5 fen not charged)
    prices = spread(100_001, [long, short])
    assert [(p.monthly_fen, p.committed_fen) for p in prices] == [(6_666, 79_992), (3_334, 20_004)]
    assert sum(p.committed_fen for p in prices) == 99_996


def test_spread_at_the_list_price_changes_nothing() -> None:
    once = plan("one_time", amount_fen=30_000_00)
    monthly = plan("subscription", monthly_fen=1_000_00, term_months=12)
    prices = spread(42_000_00, [once, monthly])
    assert [(p.amount_fen, p.monthly_fen, p.committed_fen) for p in prices] == [
        (30_000_00, None, 30_000_00),
        (None, 1_000_00, 12_000_00),
    ]


# --- through the pages ---------------------------------------------------------------------


@pytest.fixture
def world(app, dbs):
    p = pilot(app, dbs, tag="qp")  # the provider's 60,000 one-time package, an enterprise
    board = published_package(
        app,
        dbs,
        p.provider,
        p.provider_owner,
        plans=(MONTHLY, BOARD_ONCE),
        title="生产看板",
        category_code="production_visualisation",
    )
    programme = p.programme(face_value_fen=200_000_00, cap_fen=200_000_00)
    p.issue_to(programme)
    return p, board


def plan_ids(package) -> list[int]:
    return [pl.id for pl in package.published_version.plans]


def quoted_bundle(client, dbs, p, board, price="54000", only_gateway=False) -> tuple[Bundle, Quote]:
    """The enterprise posts a need, the provider quotes the gateway (60,000 one-time) and the
    board (1,000 × 12 months) for ``price``, the enterprise accepts: the bundle."""
    client.get("/logout")
    client.login("owner@qp.cn")
    need_form = {
        "category_code": "equipment_networking",
        "description": "冲压车间 12 台设备联网，数据进生产看板。",
        "budget": "60000",
        "deadline": "2099-12-31",
        "site": "石家庄市藁城区工业园",
    }
    assert client.form("/needs", need_form).status_code == 302
    need = dbs.scalar(select(Need).order_by(Need.id.desc()))
    client.get("/logout")
    client.login("provider@qp.cn")
    sent = client.form(
        f"/needs/board/{need.id}",
        {
            "plan_ids": [str(plan_ids(p.package)[0])]
            + ([] if only_gateway else [str(plan_ids(board)[0])]),
            "price": price,
            "delivery_days": "30",
            "message": "含现场调试",
        },
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    client.get("/logout")
    q = dbs.scalar(select(Quote).where(Quote.need_id == need.id))
    client.login("owner@qp.cn")
    assert client.form(f"/needs/{need.id}/accept", {"quote_ids": [str(q.id)]}).status_code == 302
    dbs.expire_all()
    return dbs.get(Bundle, dbs.get(Need, need.id).bundle_id), q


def test_the_quoted_price_binds_the_bundle_the_review_the_order_and_the_vouchers(
    client, dbs, world
):
    p, board = world
    bundle, q = quoted_bundle(client, dbs, p, board)
    assert [item.quote_id for item in bundle.items] == [q.id, q.id]

    # 54,000 of 72,000 listed: the board's 12,000 → 9,000 (750 a month), the gateway the rest
    page = client.text(f"/my-bundles/{bundle.id}")
    assert "报价 ¥45,000.00（目录价 ¥60,000.00）" in page
    assert "报价 ¥9,000.00（目录价 ¥12,000.00）" in page
    totals = page[page.index('id="bundle-totals"') :]
    assert "¥54,000.00" in totals and "¥72,000.00" not in totals

    review_page = client.text(f"/my-bundles/{bundle.id}/review")
    assert "¥750.00" in review_page and "¥9,000.00" in review_page
    assert "目录价 ¥60,000.00" in review_page and "目录价 ¥12,000.00" in review_page
    assert "¥54,000.00" in review_page
    # vouchers pay half of the quoted amounts (the programme's rate), not of the list
    assert "¥27,000.00" in review_page

    placed = client.form(f"/my-bundles/{bundle.id}/checkout", order_form(review_page))
    assert "/orders/ZX" in placed.headers["Location"]
    order = dbs.scalar(select(Order))
    lines = dbs.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    ).all()
    assert [(ol.amount_fen, ol.monthly_fen, ol.term_months, ol.committed_fen) for ol in lines] == [
        (45_000_00, None, None, 45_000_00),
        (None, 750_00, 12, 9_000_00),
    ]
    reserved = dbs.scalars(select(Reservation).order_by(Reservation.order_line_id)).all()
    assert [(r.line_amount_fen, r.amount_fen) for r in reserved] == [
        (45_000_00, 22_500_00),
        (9_000_00, 4_500_00),
    ]


def test_the_comparison_no_longer_says_list_prices(client, dbs, world):
    p, board = world
    _bundle, q = quoted_bundle(client, dbs, p, board)
    page = client.text(f"/needs/{q.need_id}")
    assert "订单按价格方案的目录价下单" not in page and "请与服务商另行结算" not in page
    assert "¥54,000.00" in page


def test_changing_a_quoted_plan_drops_the_quote_for_its_items(client, dbs, world):
    p, board = world
    bundle, q = quoted_bundle(client, dbs, p, board)
    board_item = bundle.items[1]
    once = plan_ids(board)[1]
    response = client.form(f"/my-bundles/{bundle.id}/items/{board_item.id}/plan", {"plan_id": once})
    assert response.status_code == 302
    page = client.text(f"/my-bundles/{bundle.id}")
    assert page.count(f"需求 #{q.need_id} 的报价已不再适用") == 2
    assert "报价 ¥" not in page
    totals = page[page.index('id="bundle-totals"') :]
    assert "¥75,000.00" in totals  # 60,000 + 15,000 at list
    dbs.expire_all()
    with services(p.app, dbs):
        lines = bundles.lines(dbs.get(Bundle, bundle.id))
        assert [line.price.committed_fen for line in lines] == [60_000_00, 15_000_00]
        assert all(not line.price.quoted and line.lapsed_quote for line in lines)

    # with htmx the other line of the quote is told too (out of band)
    monthly = plan_ids(board)[0]
    fragment = client.form(
        f"/my-bundles/{bundle.id}/items/{board_item.id}/plan",
        {"plan_id": monthly},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    # back to exactly what was quoted: the quote applies again
    assert len(re.findall(r'id="quote-\d+"', fragment)) == 2
    assert "报价 ¥45,000.00（目录价 ¥60,000.00）" in fragment


def test_removing_a_quoted_item_drops_the_quote(client, dbs, world):
    p, board = world
    bundle, q = quoted_bundle(client, dbs, p, board)
    board_item = bundle.items[1]
    client.form(f"/my-bundles/{bundle.id}/items/{board_item.id}/delete")
    page = client.text(f"/my-bundles/{bundle.id}")
    assert f"需求 #{q.need_id} 的报价已不再适用" in page
    totals = page[page.index('id="bundle-totals"') :]
    assert "¥60,000.00" in totals


def test_a_quote_cannot_be_applied_to_another_enterprises_bundle(app, client, dbs, world):
    p, board = world
    _bundle, q = quoted_bundle(client, dbs, p, board)
    other = OrganisationFactory()
    user = UserFactory(org=other)
    actor = Actor(user.id, other.id, None)
    with services(app, dbs):
        theirs = bundles.create(other, "别家的方案", actor)
        with pytest.raises(DomainError):
            bundles.add(theirs, p.package.id, plan_ids(p.package)[0], actor, quote=q)
        assert theirs.items == []
        # even pointed at it behind the service's back, the quote prices nothing there
        bundles.add(theirs, p.package.id, plan_ids(p.package)[0], actor)
        bundles.add(theirs, board.id, plan_ids(board)[0], actor)
        for item in theirs.items:
            item.quote_id = q.id
        dbs.flush()
        lines = bundles.lines(theirs)
        assert [line.price.committed_fen for line in lines] == [60_000_00, 12_000_00]
        assert bundles.totals(lines).committed_fen == 72_000_00
        assert [c.amount_fen for c in bundles.voucher_claims(lines, None)] == [
            60_000_00,
            12_000_00,
        ]


def test_quoted_bundles_pages_do_not_grow_with_the_quoted_items(client, dbs, world, count_queries):
    p, board = world
    small, _q = quoted_bundle(client, dbs, p, board, price="50000", only_gateway=True)
    client.get("/logout")
    big, _q = quoted_bundle(client, dbs, p, board)

    def counts() -> list[int]:
        found = []
        for b in (small, big):
            for path in (f"/my-bundles/{b.id}", f"/my-bundles/{b.id}/review"):
                client.get(path)
                count_queries.count = 0
                assert client.get(path).status_code == 200
                found.append(count_queries.count)
        return found

    quoted = counts()
    for b in (small, big):
        for item in b.items:
            item.quote_id = None
    dbs.flush()
    # the quotes cost the same few statements whatever the number of items they price (the
    # pages' own statements may differ between a one- and a two-package bundle)
    listed = counts()
    assert [q - n for q, n in zip(quoted, listed, strict=True)] == [2, 2, 2, 2]
