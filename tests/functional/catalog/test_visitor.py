"""The anonymous visitor's catalogue: comparing, ticks kept through filters and pages, the
last page, a reversed price range, clean URLs; the package page's "how to buy", its default
plan and an enterprise's price after vouchers."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from marketplace.catalog import services as catalog
from marketplace.orders.models import Bundle
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    OUTCOME,
    SUBSCRIPTION,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
)
from tests.functional.voucher_helpers import pilot


@pytest.fixture
def shelf(app, dbs):
    """Three packages of one admitted provider: 看板 (subscription ¥24,000 and an outcome plan
    with a ¥5,000 base fee, listed in that order), 网关 and MES."""
    agency, _ = agency_with_official("o@visitor.cn")
    provider, owner = provider_with_owner("p@visitor.cn")
    membership(dbs, provider, agency)
    return {
        "board": published_package(
            app,
            dbs,
            provider,
            owner,
            plans=(SUBSCRIPTION, OUTCOME),
            title="车间生产看板",
            category_code="production_visualisation",
        ),
        "gateway": published_package(app, dbs, provider, owner, title="设备联网网关"),
        "mes": published_package(app, dbs, provider, owner, title="轻量 MES", category_code="mes"),
        "provider": provider,
        "owner": owner,
    }


def in_english(client):
    client.form("/language", {"lang": "en", "next": "/"})


def query_of(location):
    return parse_qs(urlsplit(location).query)


def ticked(page):
    """The package ids the catalogue's form will send as ticked (checked boxes and the ticks
    kept from other pages)."""
    boxes = re.findall(
        r'<input type="checkbox" name="ids" value="(\d+)" form="catalogue-form" checked', page
    )
    kept = re.findall(r'<input type="hidden" name="ids" value="(\d+)" form="catalogue-form">', page)
    return {int(i) for i in boxes + kept}


# Compare


def test_comparing_one_package_explains_and_keeps_the_tick_and_filters(client, shelf):
    board = shelf["board"].id
    response = client.get(
        f"/compare?q=&category=production_visualisation&ids={board}&sort=relevance"
    )
    assert response.status_code == 302
    assert query_of(response.headers["Location"]) == {
        "category": ["production_visualisation"],
        "ids": [str(board)],
    }
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请至少勾选两个转型包（最多四个）再对比" in page
    assert ticked(page) == {board}
    assert "已勾选 1 个待对比" in page


def test_comparing_none_or_five_explains(client, shelf):
    none = client.get("/compare", follow_redirects=True).get_data(as_text=True)
    assert "请至少勾选两个转型包" in none
    ids = [shelf[k].id for k in ("board", "gateway", "mes")] + [900001, 900002]
    response = client.get("/compare?" + "&".join(f"ids={i}" for i in ids))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "最多对比四个转型包，您勾选了 5 个" in page
    assert ticked(page) == set(ids)  # nothing is dropped behind the visitor's back


def test_comparing_two_links_back_to_the_catalogue_as_it_was(client, shelf):
    a, b = shelf["board"].id, shelf["mes"].id
    page = client.text(f"/compare?q=看板&ids={a}&ids={b}")
    assert "车间生产看板" in page and "轻量 MES" in page
    back = re.search(r'<a href="([^"]+)">返回转型包目录</a>', page).group(1).replace("&amp;", "&")
    assert query_of(back) == {"q": ["看板"], "ids": [str(a), str(b)]}


def test_ticks_survive_filtering(client, shelf):
    board, mes = shelf["board"].id, shelf["mes"].id
    # ticked 看板 and MES, then chose the MES category: MES stays ticked on screen, 看板 is
    # carried along in the form though it is not shown
    page = client.text(f"/catalog?category=mes&ids={board}&ids={mes}")
    assert "轻量 MES" in page and "车间生产看板" not in page
    assert ticked(page) == {board, mes}
    assert f'<input type="hidden" name="ids" value="{board}" form="catalogue-form">' in page
    assert re.search(rf'name="ids" value="{mes}" form="catalogue-form" checked', page)
    fragment = client.get(
        f"/catalog?q=&category=mes&ids={board}&ids={mes}", headers={"HX-Request": "true"}
    )
    assert ticked(fragment.get_data(as_text=True)) == {board, mes}
    assert query_of(fragment.headers["HX-Push-Url"]) == {
        "category": ["mes"],
        "ids": [str(board), str(mes)],
    }
    # the compare button sends the same form to the compare page
    assert 'form="catalogue-form" formaction="/compare"' in page
    untick = re.search(r'<a class="small" href="([^"]+)">取消全部勾选</a>', page).group(1)
    assert query_of(untick.replace("&amp;", "&")) == {"category": ["mes"]}


def test_ticks_survive_paging(app, dbs, client, shelf):
    for n in range(30):
        published_package(app, dbs, shelf["provider"], shelf["owner"], title=f"网关{n:02d}")
    mes = shelf["mes"].id
    first = client.text(f"/catalog?ids={mes}")
    assert "第 1 页，共 2 页" in first
    second = client.text(f"/catalog?ids={mes}&page=2")
    assert "第 2 页，共 2 页" in second and ticked(second) == {mes}
    assert re.search(r'form="catalogue-form" name="page" value="1"', second)


# Pages


def test_a_page_past_the_last_goes_to_the_last(app, dbs, client, shelf):
    response = client.get("/catalog?q=网关&page=7")
    assert response.status_code == 302 and query_of(response.headers["Location"]) == {"q": ["网关"]}
    for n in range(31):
        published_package(app, dbs, shelf["provider"], shelf["owner"], title=f"看板{n:02d}")
    response = client.get("/catalog?category=equipment_networking&page=99")
    assert query_of(response.headers["Location"]) == {
        "category": ["equipment_networking"],
        "page": ["2"],
    }
    assert "第 2 页，共 2 页" in client.text(response.headers["Location"])


@pytest.mark.parametrize("page", ["0", "-3", "abc"])
def test_a_page_before_the_first_is_the_first(client, shelf, page):
    response = client.get(f"/catalog?page={page}", follow_redirects=True)
    assert response.status_code == 200
    assert len(re.findall(r'<h2><a href="/packages/', response.get_data(as_text=True))) == 3


# Prices


def test_a_reversed_price_range_is_said_and_swapped(client, shelf):
    page = client.text("/catalog?min_price=30000&max_price=1000")
    assert "您填写的最低价高于最高价，已将两者对调" in page
    assert "显示起价在 ¥1,000.00 至 ¥30,000.00 之间" in page
    # entry prices: 看板 5,000 (the outcome plan's base fee), the others 24,000
    assert len(re.findall(r'<h2><a href="/packages/', page)) == 3
    assert re.search(r'name="min_price"[^>]*value="1000"', page)  # the form shows them in order
    assert re.search(r'name="max_price"[^>]*value="30000"', page)
    in_english(client)
    english = client.text("/catalog?min_price=30000&max_price=1000")
    assert "so the two were swapped: showing entry prices from ¥1,000.00 to ¥30,000.00" in english
    in_order = client.text("/catalog?min_price=1000&max_price=30000")
    assert "对调" not in in_order


# Clean URLs


def test_urls_carry_only_the_parameters_in_use(client, shelf):
    response = client.get(
        "/catalog?q=看板&category=&industry=&size_tier=&pricing=&deployment=&provider_type="
        "&pool=&min_price=&max_price=&max_go_live_days=&min_rating=&sort=relevance"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/catalog?q=%E7%9C%8B%E6%9D%BF"
    assert client.get("/catalog?sort=newest&category=mes").status_code == 200  # in use: kept
    fragment = client.get(
        "/catalog?q=看板&category=&min_price=&sort=relevance", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert fragment.headers["HX-Push-Url"] == "/catalog?q=%E7%9C%8B%E6%9D%BF"


# The package page


def test_a_visitor_is_told_how_to_buy(client, shelf):
    package_id = shelf["board"].id
    page = client.text(f"/packages/{package_id}")
    assert "如何购买" in page
    assert f'href="/login?next=/packages/{package_id}"' in page
    assert 'href="/register/enterprise"' in page
    in_english(client)
    english = client.text(f"/packages/{package_id}")
    assert "How to buy" in english and "Register as an enterprise" in english


def test_a_signed_in_user_is_not_told_to_sign_in(client, shelf):
    client.login("p@visitor.cn")
    assert "如何购买" not in client.text(f"/packages/{shelf['board'].id}")


def test_the_from_price_is_the_lowest_plan_and_preselected(client, dbs, shelf):
    package_id = shelf["board"].id
    card = client.text("/catalog?q=看板")
    assert "¥5,000.00 起" in card  # the outcome plan's base fee, though listed second
    page = client.text(f"/packages/{package_id}")
    plans = page.split('id="plans"', 1)[1].split("</section>", 1)[0]
    assert "¥5,000.00 起" in plans
    default = re.findall(
        r'<div class="plan( plan-default)?">\s*<p class="plan-head">.*?<strong>(.*?)</strong>',
        plans,
        re.S,
    )
    assert default == [("", "年度订阅"), (" plan-default", "按效果付费")]
    assert "默认方案：起价最低" in plans
    enterprise = OrganisationFactory()
    UserFactory(org=enterprise, email="buyer@visitor.cn")
    client.login("buyer@visitor.cn")
    page = client.text(f"/packages/{package_id}")
    selected = re.search(r'<option value="(\d+)" selected>([^<]*)</option>', page)
    assert (
        selected
        and "按效果付费" in selected.group(2)
        and "（默认方案：起价最低）" in selected.group(2)
    )
    # a quick add from the catalogue (no plan chosen) takes the same plan
    assert client.form("/my-bundles/add", {"package_id": str(package_id)}).status_code in (200, 302)
    dbs.expire_all()
    bundle = dbs.scalar(select(Bundle).where(Bundle.enterprise_id == enterprise.id))
    assert [item.plan.name for item in bundle.items] == ["按效果付费"]
    assert int(selected.group(1)) == bundle.items[0].plan_id


def test_an_enterprise_with_a_voucher_sees_its_price_after_vouchers(app, dbs, client):
    p = pilot(app, dbs, tag="vis")  # a one-time plan of ¥60,000
    page = client.text(f"/packages/{p.package.id}")
    assert "使用您的转型券后" not in page  # a visitor has no vouchers
    client.login("owner@vis.cn")
    assert "使用您的转型券后" not in client.text(f"/packages/{p.package.id}")  # none issued yet
    programme = p.programme()  # 50 % of the price, a ¥20,000 voucher
    p.issue_to(programme)
    page = client.text(f"/packages/{p.package.id}")
    assert "使用您的转型券后，您需支付 ¥40,000.00" in page
    assert f"{programme.name} 抵扣 ¥60,000.00 中的 ¥20,000.00" in page
    in_english(client)
    english = client.text(f"/packages/{p.package.id}")
    assert "With your vouchers: you pay ¥40,000.00" in english


def test_a_voucher_of_another_category_does_not_lower_the_price(app, dbs, client):
    p = pilot(app, dbs, tag="vis2")
    programme = p.programme(category_codes=["mes"])  # the package is equipment networking
    p.issue_to(programme)
    client.login("owner@vis2.cn")
    assert "使用您的转型券后" not in client.text(f"/packages/{p.package.id}")


def test_default_plan_is_the_first_of_equal_lowest(app, dbs, shelf):
    cheap = catalog.PlanFields(kind="one_time", name="买断", amount_fen=5_000_00)
    package = published_package(
        app, dbs, shelf["provider"], shelf["owner"], plans=(SUBSCRIPTION, OUTCOME, cheap)
    )
    version = package.published_version
    assert version.default_plan.name == "按效果付费"  # ¥5,000 both; the first listed wins
    assert version.entry_price_fen == 5_000_00


def test_each_plan_is_priced_against_the_whole_voucher(app, dbs, client):
    """The plans are alternatives: a ¥20,000 voucher lowers each of two plans by ¥20,000,
    not the first by ¥20,000 and the second by what is left."""
    p = pilot(app, dbs, tag="vis3")
    plans = (
        catalog.PlanFields(kind="one_time", name="标准版买断", amount_fen=60_000_00),
        catalog.PlanFields(kind="one_time", name="精简版买断", amount_fen=50_000_00),
    )
    package = published_package(app, dbs, p.provider, p.provider_owner, plans=plans)
    p.issue_to(p.programme())
    client.login("owner@vis3.cn")
    page = client.text(f"/packages/{package.id}")
    assert "使用您的转型券后，您需支付 ¥40,000.00" in page
    assert "使用您的转型券后，您需支付 ¥30,000.00" in page
