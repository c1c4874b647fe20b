"""Catalogue search: Chinese text, every filter, sorting, pages, shareable URLs, compare."""

import re

import pytest

from marketplace.catalog import services as catalog
from marketplace.pool.models import PoolStatus
from tests.functional.catalog_helpers import (
    OUTCOME,
    SUBSCRIPTION,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
)


def publish(app, dbs, provider, owner, plans=(SUBSCRIPTION,), **changes):
    return published_package(app, dbs, provider, owner, plans=plans, **changes)


@pytest.fixture
def market(app, dbs):
    sjz, _ = agency_with_official("s@search.cn")
    xm, _ = agency_with_official("x@search.cn")
    a, a_owner = provider_with_owner("a@search.cn")
    b, b_owner = provider_with_owner("b@search.cn", integrator=True)
    membership(dbs, a, sjz)
    membership(dbs, b, xm)
    one_time = catalog.PlanFields(kind="one_time", name="买断", amount_fen=80_000_00)
    packages = {
        "board": publish(
            app,
            dbs,
            a,
            a_owner,
            title="车间生产看板",
            summary="订单进度一目了然",
            category_code="production_visualisation",
            industry_codes=["textile"],
            size_tiers=["micro"],
            deployment="saas",
            go_live_days=5,
        ),
        "gateway": publish(
            app,
            dbs,
            a,
            a_owner,
            plans=(one_time,),
            title="设备联网网关",
            summary="PLC 数据采集",
            category_code="equipment_networking",
            industry_codes=["machining"],
            size_tiers=["small", "medium"],
            deployment="hybrid",
            go_live_days=30,
        ),
        "oee": publish(
            app,
            dbs,
            b,
            b_owner,
            trial_days=14,
            plans=(OUTCOME,),
            title="OEE 提升服务",
            summary="按效果付费的看板与改善",
            category_code="mes",
            industry_codes=["machining", "auto_parts"],
            size_tiers=["medium"],
            deployment="on_premises",
            go_live_days=60,
        ),
    }
    return {"sjz": sjz, "xm": xm, "a": a, "b": b, **packages}


def titles(client, query=""):
    page = client.text("/catalog" + query)
    found = re.findall(r'<h2><a href="/packages/\d+">(.*?)</a></h2>', page)
    return [re.sub(r"</?mark>", "", title) for title in found]


def test_chinese_text_search(client, market):
    assert titles(client, "?q=看板") == ["车间生产看板", "OEE 提升服务"]  # title match ranks first
    assert titles(client, "?q=联网") == ["设备联网网关"]
    assert titles(client, "?q=看板 订单") == ["车间生产看板"]  # every word must match
    assert titles(client, "?q=不存在的词") == []
    assert "没有符合条件的转型包" in client.text("/catalog?q=不存在的词")
    assert titles(client, "?q=%25") == []  # a LIKE wildcard is just a character


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?category=mes", {"OEE 提升服务"}),
        ("?industry=textile", {"车间生产看板"}),
        ("?size_tier=small", {"设备联网网关"}),
        ("?pricing=outcome", {"OEE 提升服务"}),
        ("?pricing=one_time", {"设备联网网关"}),
        ("?deployment=hybrid", {"设备联网网关"}),
        ("?max_go_live_days=30", {"车间生产看板", "设备联网网关"}),
        ("?provider_type=integrator", {"OEE 提升服务"}),
        ("?min_price=30000", {"设备联网网关"}),  # entry prices: 24,000 / 80,000 / 5,000 (base fee)
        ("?max_price=10000", {"OEE 提升服务"}),
        (
            "?min_price=90000&max_price=1000",
            {"OEE 提升服务", "车间生产看板", "设备联网网关"},
        ),  # swapped, and said so (test_visitor)
        ("?industry=machining&max_go_live_days=40", {"设备联网网关"}),
        ("?trial=1", {"OEE 提升服务"}),  # 可试用: only a package offering a trial
        ("?trial=1&q=看板", {"OEE 提升服务"}),
        ("?trial=1&industry=textile", set()),
    ],
)
def test_filters(client, market, query, expected):
    assert set(titles(client, query)) == expected


def test_pool_filter(client, market):
    assert set(titles(client, f"?pool={market['sjz'].id}")) == {"车间生产看板", "设备联网网关"}
    assert set(titles(client, f"?pool={market['xm'].id}")) == {"OEE 提升服务"}


def test_sorting(client, market):
    assert titles(client, "?sort=price_low") == ["OEE 提升服务", "车间生产看板", "设备联网网关"]
    assert titles(client, "?sort=price_high") == ["设备联网网关", "车间生产看板", "OEE 提升服务"]
    assert titles(client, "?sort=go_live") == ["车间生产看板", "设备联网网关", "OEE 提升服务"]


def test_bad_parameters_are_left_out_not_errors(client, market):
    response = client.get(
        "/catalog?category=bogus&industry=x&pool=99999999999&min_price=abc&max_go_live_days=-3&sort=evil&page=99999999999&size_tier=huge",
        follow_redirects=True,  # from a page past the last to the last
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "已失效" in page  # the note about filters that were left out
    assert len(titles(client, "?q=" + "看" * 500)) == 0


def test_fragment_for_htmx_keeps_the_url_state(client, market):
    fragment = client.get("/catalog?q=看板&sort=price_low", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "车间生产<mark>看板</mark>" in body
    assert "HX-Request" in fragment.headers["Vary"]
    full = client.text("/catalog?q=看板&sort=price_low")
    assert 'value="看板"' in full and '<option value="price_low" selected>' in full


def test_pages_keep_the_filters(app, dbs, client, market):
    for n in range(31):
        publish(app, dbs, market["a"], market["a"].users[0], title=f"看板{n:02d}")
    page = client.text("/catalog?q=看板&sort=price_low")
    assert "第 1 页，共 2 页" in page
    # the pager is a pair of buttons of the catalogue's form, which holds the filters
    assert re.search(r'<button type="submit" form="catalogue-form" name="page" value="2"', page)
    assert 'id="catalogue-form"' in page and 'value="看板"' in page
    assert '<option value="price_low" selected>' in page
    # what the browser sends for "Next": every field of the form, empty or not
    response = client.get(
        "/catalog?q=看板&category=&industry=&min_price=&sort=price_low&page=2",
        follow_redirects=True,
    )
    assert "第 2 页，共 2 页" in response.get_data(as_text=True)
    assert response.request.query_string.decode() == ("q=%E7%9C%8B%E6%9D%BF&sort=price_low&page=2")


def test_suspended_providers_leave_the_search(client, dbs, market):
    from sqlalchemy import select

    from marketplace.pool.models import PoolMembership

    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == market["b"].id))
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    assert "OEE 提升服务" not in titles(client, "?q=看板")


def test_compare_two_to_four(client, market):
    ids = [market["board"].id, market["gateway"].id, market["oee"].id]
    page = client.text("/compare?" + "&".join(f"ids={i}" for i in ids))
    assert all(t in page for t in ["车间生产看板", "设备联网网关", "OEE 提升服务"])
    assert "¥80,000.00" in page and "4 小时内" in page and "设备运行数据 · MQTT" in page
    one = client.get(f"/compare?ids={ids[0]}")  # explained in the catalogue (test_visitor)
    assert one.status_code == 302 and one.headers["Location"] == f"/catalog?ids={ids[0]}"
    five = client.get("/compare?" + "&".join(f"ids={i}" for i in [*ids, 900001, 900002]))
    assert five.status_code == 302
    unknown = client.get(f"/compare?ids={ids[0]}&ids=999999")
    assert unknown.status_code == 404


def test_search_uses_a_fixed_number_of_queries(app, dbs, client, market, count_queries):
    url = "/catalog?q=看板&industry=machining&pricing=outcome&sort=price_low"
    client.get(url)
    count_queries.count = 0
    client.get(url)
    small = count_queries.count
    for n in range(12):
        publish(
            app,
            dbs,
            market["b"],
            market["b"].users[0],
            plans=(OUTCOME,),
            title=f"看板 {n}",
            industry_codes=["machining"],
        )
    client.get(url)
    count_queries.count = 0
    client.get(url)
    assert count_queries.count == small


def test_the_trial_filter_is_a_box_that_keeps_its_state_and_ignores_nonsense(client, market):
    """可试用: a box in the filter panel, ticked when the link asks for it and carried by the
    pages' links; a value a box never sends is left out with the page's note, not an error."""
    page = client.text("/catalog?trial=1")
    assert re.search(r'<input id="f-trial" name="trial" type="checkbox" value="1" checked>', page)
    assert "可试用" in page
    assert "checked>" not in re.search(r'<input id="f-trial"[^>]*>', client.text("/catalog"))[0]
    nonsense = client.text("/catalog?trial=maybe")
    assert "链接中的部分筛选条件已失效" in nonsense
    assert set(titles(client, "?trial=maybe")) == {"OEE 提升服务", "车间生产看板", "设备联网网关"}
