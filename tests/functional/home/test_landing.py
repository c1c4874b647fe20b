"""The landing page for a visitor: a search box, the categories with their package counts
and the curated bundles on offer."""

import re

from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.pool.models import PoolStatus
from marketplace.security import Actor
from tests.functional.catalog_helpers import (
    OUTCOME,
    SUBSCRIPTION,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)


def category_counts(page):
    """{category name: (linked, count text)} as the landing page lists them."""
    found = re.findall(
        r"<li>(?:<a href=\"/catalog\?category=(\w+)\">([^<]+)</a>|<span class=\"muted\">([^<]+)</span>)"
        r"\s*<span class=\"count\">([^<]+)</span></li>",
        page,
    )
    return {linked or plain: (code, count) for code, linked, plain, count in found}


def test_the_landing_page_has_a_search_box(client, dbs):
    page = client.text("/")
    form = re.search(
        r'<form method="get" action="/catalog" role="search"[^>]*>(.*?)</form>', page, re.S
    )
    assert form and 'name="q"' in form.group(1)
    assert "搜索转型包" in page


def test_categories_with_the_catalogues_counts(app, dbs, client, count_queries):
    agency, _ = agency_with_official("o@landing.cn")
    a, a_owner = provider_with_owner("a@landing.cn")
    b, b_owner = provider_with_owner("b@landing.cn")
    membership(dbs, a, agency)
    suspended = membership(dbs, b, agency)
    published_package(app, dbs, a, a_owner)  # equipment networking
    published_package(app, dbs, a, a_owner, title="第二个网关")
    published_package(app, dbs, a, a_owner, title="看板", category_code="production_visualisation")
    published_package(app, dbs, b, b_owner, category_code="mes")
    suspended.status = PoolStatus.SUSPENDED  # b's package leaves the catalogue
    dbs.commit()
    client.get("/")
    count_queries.count = 0
    page = client.text("/")
    before = count_queries.count
    counts = category_counts(page)
    assert counts["设备联网"] == ("equipment_networking", "2 个转型包")
    assert counts["生产可视化"] == ("production_visualisation", "1 个转型包")
    assert counts["制造执行系统（MES）"][1] == "0 个转型包"
    assert counts["制造执行系统（MES）"][0] == ""  # nothing to find there: no link
    assert len(counts) == len(catalog_categories(app, dbs))
    # the same figures the filtered catalogue shows
    assert "2 个转型包" in client.text("/catalog?category=equipment_networking")
    published_package(app, dbs, a, a_owner, title="第三个网关")
    client.get("/")
    count_queries.count = 0
    client.get("/")
    assert count_queries.count == before  # one grouped query, however many packages


def catalog_categories(app, dbs):
    with services(app, dbs):
        return catalog.categories()


def test_curated_bundles_on_offer_with_their_totals(app, dbs, client):
    agency, _ = agency_with_official("o2@landing.cn")
    integrator, i_owner = provider_with_owner("i@landing.cn", integrator=True)
    a, a_owner = provider_with_owner("a2@landing.cn")
    b, b_owner = provider_with_owner("b2@landing.cn")
    for org in (integrator, a, b):
        membership(dbs, org, agency)
    one_time = catalog.PlanFields(kind="one_time", name="买断", amount_fen=30_000_00)
    first = published_package(app, dbs, a, a_owner, plans=(one_time,))
    # subscription ¥24,000 listed first, outcome base fee ¥5,000: the part counts at ¥5,000
    second = published_package(app, dbs, b, b_owner, plans=(SUBSCRIPTION, OUTCOME), title="看板")
    actor = Actor(i_owner.id, integrator.id, None)
    fields = curated_bundles.BundleFields(
        "工厂上云套餐", "", "machining", "small", 8_000_00, [first.id, second.id]
    )
    withdrawn = curated_bundles.BundleFields(
        "撤回的套餐", "", "machining", "small", 0, [first.id, second.id]
    )
    with services(app, dbs):
        bundle = curated_bundles.create_bundle(integrator, fields, actor)
        gone = curated_bundles.create_bundle(integrator, withdrawn, actor)
        curated_bundles.withdraw_bundle(gone, actor)
    page = client.text("/")
    assert f'href="/bundles/{bundle.id}">工厂上云套餐</a>' in page and "撤回的套餐" not in page
    assert "¥43,000.00" in page  # 30,000 + 5,000 + the integration fee 8,000
    assert "¥43,000.00" in client.text(f"/bundles/{bundle.id}")  # the bundle page's figure
    assert "¥8,000.00" in page


def test_no_bundle_yet_is_said(client, dbs):
    assert "目前没有在售的集成套餐。" in client.text("/")
