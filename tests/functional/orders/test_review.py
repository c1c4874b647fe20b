"""The review step before ordering: what the page shows, what its form sends, and that a
bundle is ordered once however often the form is sent."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.db import local_today
from marketplace.money import format_fen
from marketplace.orders import bundles, review
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers import spending
from marketplace.vouchers.models import Reservation, Voucher
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import OUTCOME, SUBSCRIPTION, published_package, services
from tests.functional.order_helpers import accept_delivery
from tests.functional.voucher_helpers import pilot

SYSTEM = Actor(None, None, "cli")


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="rev")


def review_path(bundle) -> str:
    return f"/my-bundles/{bundle.id}/review"


def order_form(page: str) -> dict[str, str]:
    """The review page's order form as a browser sends it (without the CSRF token, which
    ``client.form`` adds)."""
    start = page.index('class="checkout"')
    form = page[start : page.index("</form>", start)]
    return {
        name: value
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
        if name != "csrf_token"
    }


def orders_count(dbs) -> int:
    return dbs.scalar(select(func.count(Order.id))) or 0


def test_the_review_shows_each_line_its_vouchers_when_it_is_paid_and_the_terms(app, client, dbs, p):
    monthly = published_package(
        app,
        dbs,
        p.provider,
        p.provider_owner,
        title="设备看板按月订阅",
        plans=(replace(SUBSCRIPTION, billed_monthly=True),),  # ¥2,000 × 12
    )
    outcome = published_package(
        app, dbs, p.provider, p.provider_owner, title="能效按效果付费", plans=(OUTCOME,)
    )
    programme = p.programme(face_value_fen=100_000_00, cap_fen=100_000_00)  # pays 50 %
    p.issue_to(programme)
    bundle = p.bundle()
    with services(app, dbs):
        bundles.add(bundle, monthly.id, None, p.enterprise_actor)
        bundles.add(bundle, outcome.id, None, p.enterprise_actor)
    client.login("owner@rev.cn")

    page = client.text(review_path(bundle))
    # every line: package, provider, plan, price
    for text in ("设备联网网关套件（标准版）", "设备看板按月订阅", "能效按效果付费"):
        assert text in page
    assert p.provider.name in page and "一次性买断" in page and "年度订阅" in page
    assert "每月 ¥2,000.00，共 12 个月：合计 ¥24,000.00" in page
    assert "基础费 ¥5,000.00" in page
    # the vouchers' part of each line, its programme, the co-payment
    assert "转型券支付 ¥30,000.00（2026 年中小企业数字化转型券）" in page
    assert "¥12,000.00" in page and "¥2,500.00" in page
    assert programme.name in page
    # what is paid when, as billing will do it
    assert "您验收交付时全额开具账单" in page and "接单后" not in page
    assert "您验收交付（上线）时开具第一个月的账单" in page
    assert "此后每 30 天开具一个月" in page and "第 1–12 个月：每月 ¥1,000.00" in page
    assert "另收 ¥30,000.00" in page and "90 天考核期" in page
    # totals: ¥89,000 committed, vouchers ¥44,500
    assert "¥89,000.00" in page and "−¥44,500.00" in page
    # the terms
    assert "14 天内既未验收也未提出异议，将自动验收" in page
    assert "提出异议" in page and "取消某一部分" in page
    assert "有异议的部分须待异议以验收了结后才开具" in page and "开具后 30 天内付清" in page
    # the three packages are of one kind: the interoperability warning
    assert "各部分可能无法协同工作" in page and "同类" in page
    # and the form: the key, the vouchers' part shown and the content reviewed
    form = order_form(page)
    assert form["subsidy_shown"] == str(44_500_00)
    assert form["reviewed"] == bundles.stamp(bundle)
    assert "skip_vouchers" not in form
    assert "确认下单" in page


def test_the_review_in_english(client, english, dbs, p):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    page = client.text(review_path(bundle))
    assert "Review your order" in page and "Place the order" in page
    assert "Invoiced in full when you accept the delivery (验收)." in page
    assert "payable within 30 days of its issue" in page
    assert "accepted automatically" in page


def test_the_monthly_amounts_shown_are_the_invoices_billed(app, client, dbs, p):
    """An amount that does not divide evenly: the page names each month's co-payment, and the
    invoices billed month by month from the enterprise's acceptance (验收) are exactly those."""
    odd = replace(SUBSCRIPTION, billed_monthly=True, monthly_fen=1_000_01, term_months=5)
    package = published_package(app, dbs, p.provider, p.provider_owner, plans=(odd,))
    programme = p.programme(rate_bp=3_333, face_value_fen=100_000_00, cap_fen=100_000_00)
    p.issue_to(programme)
    with services(app, dbs):
        bundle = bundles.create(p.enterprise, "按月", p.enterprise_actor)
        bundles.add(bundle, package.id, None, p.enterprise_actor)
    client.login("owner@rev.cn")
    with services(app, dbs):
        due = review.review(bundle).dues[0]
    shown = [m.copay_fen for m in due.months for _ in range(m.first, m.last + 1)]
    assert len(shown) == 5 and len(set(shown)) > 1  # the rounding shows
    page = client.text(review_path(bundle))
    for m in due.months:
        assert format_fen(m.copay_fen) in page

    placed = client.form(f"/my-bundles/{bundle.id}/checkout", order_form(page))
    assert "/orders/" in placed.headers["Location"]
    line = dbs.scalar(select(Order)).lines[0]
    with services(app, dbs):
        accept_delivery(line)
        orders.bill_due_periods(SYSTEM, today=local_today() + timedelta(days=400))
    invoices = dbs.scalars(select(Invoice).order_by(Invoice.period))
    assert [i.amount_fen for i in invoices] == shown


def test_ordering_from_the_review(client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    bundle = p.bundle()
    client.login("owner@rev.cn")
    assert "/review" in client.text(f"/my-bundles/{bundle.id}")  # the bundle page leads there
    form = order_form(client.text(review_path(bundle)))
    response = client.form(f"/my-bundles/{bundle.id}/checkout", form)
    assert "/orders/ZX" in response.headers["Location"]
    order = dbs.scalar(select(Order))
    assert order.bundle_id == bundle.id and order.idempotency_key == form["key"]
    assert dbs.scalar(select(func.sum(Reservation.amount_fen))) == 20_000_00
    assert "已下单" in client.text(response.headers["Location"])


def test_two_tabs_a_reload_and_a_double_click_place_one_order(client, dbs, p):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    first_tab = order_form(client.text(review_path(bundle)))
    second_tab = order_form(client.text(review_path(bundle)))
    without_vouchers = order_form(client.text(review_path(bundle) + "?vouchers=0"))
    assert first_tab["key"] == second_tab["key"] == without_vouchers["key"]

    placed = client.form(f"/my-bundles/{bundle.id}/checkout", first_tab)
    again = client.form(f"/my-bundles/{bundle.id}/checkout", second_tab, follow_redirects=True)
    assert orders_count(dbs) == 1
    number = dbs.scalar(select(Order.number))
    assert placed.headers["Location"].endswith(f"/orders/{number}")
    assert again.request.path == f"/orders/{number}"
    page = again.get_data(as_text=True)
    assert f"该订单已经下过（订单 {number}），没有重复下单" in page
    client.form(f"/my-bundles/{bundle.id}/checkout", without_vouchers)
    client.form(f"/my-bundles/{bundle.id}/checkout", first_tab)
    assert orders_count(dbs) == 1


def test_an_ordered_bundle_links_its_order_and_is_ordered_again_only_on_purpose(
    app, client, dbs, p
):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    client.form(f"/my-bundles/{bundle.id}/checkout", order_form(client.text(review_path(bundle))))
    number = dbs.scalar(select(Order.number))
    link = f'href="/orders/{number}"'
    for path in (f"/my-bundles/{bundle.id}", "/my-bundles"):
        page = client.text(path)
        assert f"已下单 · 订单 {number}" in page and link in page

    # the review says so; ordering the same again is behind an explicit choice, with a new key
    page = client.text(review_path(bundle))
    assert "您已订购此组合方案" in page and number in page and link in page
    assert "确认下单" not in page and "再次订购同一组合方案" in page
    again = order_form(page)
    assert again["key"] != dbs.scalar(select(Order.idempotency_key))
    client.form(f"/my-bundles/{bundle.id}/checkout", again)
    client.form(f"/my-bundles/{bundle.id}/checkout", again)
    assert orders_count(dbs) == 2

    # once the bundle changes, it is offered as a new order again
    extra = published_package(app, dbs, p.provider, p.provider_owner, title="质量追溯")
    with services(app, dbs):
        bundles.add(dbs.merge(bundle), extra.id, None, p.enterprise_actor)
    page = client.text(review_path(bundle))
    assert "您已订购此组合方案" not in page and "确认下单" in page
    assert "改动之前的内容已下单" in page
    assert "此后组合方案已有改动" in client.text(f"/my-bundles/{bundle.id}")


def test_the_choice_not_to_use_vouchers_is_made_on_the_review(client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    bundle = p.bundle()
    client.login("owner@rev.cn")
    page = client.text(review_path(bundle))
    assert f'href="/my-bundles/{bundle.id}/review?vouchers=0"' in page
    page = client.text(review_path(bundle) + "?vouchers=0")
    assert "转型券支付" not in page and "本订单不使用转型券" in page
    assert "如使用，转型券将支付本订单的 ¥20,000.00" in page
    assert "¥60,000.00" in page
    form = order_form(page)
    assert form["skip_vouchers"] == "1" and form["subsidy_shown"] == "0"
    client.form(f"/my-bundles/{bundle.id}/checkout", form)
    assert orders_count(dbs) == 1
    assert dbs.scalar(select(func.count(Reservation.id))) == 0


def test_an_order_is_refused_when_the_vouchers_changed_since_the_review(app, client, dbs, p):
    programme = p.programme()
    voucher = p.issue_to(programme)
    bundle = p.bundle()
    client.login("owner@rev.cn")
    form = order_form(client.text(review_path(bundle)))
    assert form["subsidy_shown"] == str(20_000_00)
    with services(app, dbs):
        spending.revoke(dbs.get(Voucher, voucher.id), "重复发放", p.official_actor)

    response = client.form(f"/my-bundles/{bundle.id}/checkout", form)
    assert response.headers["Location"].endswith(review_path(bundle))
    page = client.text(response.headers["Location"])
    assert "现在可支付 ¥0.00。请核对自付金额后重新下单" in page
    assert orders_count(dbs) == 0 and dbs.scalar(select(func.count(Reservation.id))) == 0
    # the page shows the new amount, and its form sends it
    assert order_form(page)["subsidy_shown"] == "0"
    client.form(f"/my-bundles/{bundle.id}/checkout", order_form(page))
    assert orders_count(dbs) == 1


def test_an_order_is_refused_when_the_bundle_changed_since_the_review(app, client, dbs, p):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    form = order_form(client.text(review_path(bundle)))
    extra = published_package(app, dbs, p.provider, p.provider_owner, title="质量追溯")
    with services(app, dbs):
        bundles.add(dbs.merge(bundle), extra.id, None, p.enterprise_actor)  # in another tab

    response = client.form(f"/my-bundles/{bundle.id}/checkout", form, follow_redirects=True)
    assert response.request.path == review_path(bundle)
    assert "核对之后组合方案有了改动" in response.get_data(as_text=True)
    assert orders_count(dbs) == 0


def test_scripts_may_post_a_key_of_their_own(client, dbs, p):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    for _ in range(2):
        response = client.form(f"/my-bundles/{bundle.id}/checkout", {"key": "bench-1-2-000003"})
        assert "/orders/ZX" in response.headers["Location"]
    assert orders_count(dbs) == 1


def test_bad_input(app, client, dbs, p):
    bundle = p.bundle()
    client.login("owner@rev.cn")
    # a tampered form: a key or a stamp of the wrong shape is refused, nothing is ordered
    form = order_form(client.text(review_path(bundle)))
    for tampered in ({"key": "short"}, {"key": "a/b" * 8}, {"reviewed": "XYZ"}):
        response = client.form(f"/my-bundles/{bundle.id}/checkout", {**form, **tampered})
        assert response.headers["Location"].endswith(review_path(bundle))
        assert "表单已过期" in client.text(response.headers["Location"])
    assert orders_count(dbs) == 0

    # an empty bundle: said plainly, and no order button
    empty = client.form("/my-bundles", {"name": "空方案"}).headers["Location"]
    page = client.text(empty + "/review")
    assert "组合方案是空的" in page and 'class="checkout"' not in page

    # another enterprise's bundle and another enterprise's order key are not found
    other = OrganisationFactory()
    UserFactory(org=other, email="other@rev.cn")
    with services(app, dbs):
        theirs = bundles.create(other, "别家的", Actor(None, other.id, None))
        bundles.add(theirs, p.package.id, None, Actor(None, other.id, None))
    assert client.get(review_path(theirs)).status_code == 404
    assert client.form(f"/my-bundles/{theirs.id}/checkout", form).status_code == 404
    client.form(f"/my-bundles/{bundle.id}/checkout", form)
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("other@rev.cn")
    stolen = client.form(f"/my-bundles/{theirs.id}/checkout", {"key": form["key"]})
    assert stolen.status_code == 404
    assert orders_count(dbs) == 1


def test_members_review_but_only_the_owner_orders(client, dbs, p):
    bundle = p.bundle()
    UserFactory(org=p.enterprise, email="member@rev.cn", member=True)
    client.login("member@rev.cn")
    page = client.text(review_path(bundle))
    assert "¥60,000.00" in page and "只有本单位的负责人可以下单" in page
    assert 'class="checkout"' not in page


def test_the_review_and_the_lists_do_not_grow_with_the_orders(app, client, dbs, p, count_queries):
    """The review page, the bundle page and the list of bundles ask the same number of
    queries however many orders were placed from the bundles."""
    bundle = p.bundle()
    client.login("owner@rev.cn")
    paths = [review_path(bundle), f"/my-bundles/{bundle.id}", "/my-bundles"]

    def measure() -> list[int]:
        found = []
        for path in paths:
            client.get(path)
            count_queries.count = 0
            assert client.get(path).status_code == 200
            found.append(count_queries.count)
        return found

    client.form(f"/my-bundles/{bundle.id}/checkout", order_form(client.text(paths[0])))
    once = measure()
    for _ in range(3):
        client.form(f"/my-bundles/{bundle.id}/checkout", order_form(client.text(paths[0])))
        with services(app, dbs):
            orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    assert orders_count(dbs) == 7
    assert measure() == once
