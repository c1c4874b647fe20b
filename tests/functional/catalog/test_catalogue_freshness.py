"""Rendered catalogue results are reused, and never outlive a change a visitor could see."""

import re

from sqlalchemy import select

from marketplace.catalog import freshness, reviews
from marketplace.catalog import services as catalog
from marketplace.catalog.models import CatalogueStamp
from marketplace.pool import services as pool
from marketplace.pool.models import PoolEvent
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

SEARCH = "/catalog?q=%E7%9C%8B%E6%9D%BF"  # 看板


def listed(client, url=SEARCH, **kwargs):
    """The page with the search's highlighting taken out."""
    return re.sub(r"</?mark>", "", client.text(url, **kwargs))


def results_of(page):
    return page[page.index('<div id="results"') : page.index("</main>")]


def market(app, dbs):
    agency, official = agency_with_official("o@fresh.cn")
    provider, owner = provider_with_owner("p@fresh.cn")
    m = membership(dbs, provider, agency)
    package = published_package(app, dbs, provider, owner, title="车间看板 Alpha")
    return agency, official, provider, owner, m, package


def test_a_repeated_search_is_served_from_the_cache(app, client, dbs, count_queries):
    market(app, dbs)
    listed(client, "/catalog?q=网关")  # session and CSRF set up, the thesaurus read
    count_queries.count = 0
    first = listed(client)
    searched = count_queries.count
    assert "车间看板 Alpha" in first
    count_queries.count = 0
    count_queries.statements.clear()
    again = listed(client)
    # the same results (the rest of the page carries a CSRF token that changes each second)
    assert results_of(again) == results_of(first)
    # no count, no page of ids, no cards: the stamps alone
    assert count_queries.count < searched
    assert not [s for s in count_queries.statements if "search_index" in s]
    assert not [s for s in count_queries.statements if "package_versions" in s]


def test_a_delisted_package_leaves_the_results_at_once(app, client, dbs):
    agency, official, _provider, _owner, _m, package = market(app, dbs)
    assert "车间看板 Alpha" in listed(client)
    with services(app, dbs):
        catalog.delist(package, "数据造假", Actor(official.id, agency.id, None))
    assert "车间看板 Alpha" not in listed(client)


def test_a_suspended_provider_leaves_the_results_at_once(app, client, dbs):
    agency, official, _provider, _owner, m, _package = market(app, dbs)
    assert "车间看板 Alpha" in listed(client)
    with services(app, dbs):
        pool.decide(m, PoolEvent.SUSPEND, "考核不合格", Actor(official.id, agency.id, None))
    assert "车间看板 Alpha" not in listed(client)


def test_new_versions_ratings_and_names_show_at_once(app, client, dbs):
    _agency, _official, provider, owner, _m, package = market(app, dbs)
    assert "车间看板 Alpha" in listed(client)
    published_package(app, dbs, provider, owner, title="车间看板 Beta")
    assert "车间看板 Beta" in listed(client)

    with services(app, dbs):
        reviews.record_rating(package.id, 4)  # a bulk update, outside the ORM's flush
    assert "★ 4" in listed(client)

    provider.name = "改名后的服务商有限公司"
    dbs.commit()
    assert "改名后的服务商有限公司" in listed(client)


def test_the_htmx_fragment_and_the_page_agree(app, client, dbs):
    market(app, dbs)
    page = listed(client)
    fragment = client.get(SEARCH, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers["Vary"]
    body = re.sub(r"</?mark>", "", fragment.get_data(as_text=True))
    assert "<html" not in body
    assert "车间看板 Alpha" in body
    assert body.strip() in page


def test_results_are_kept_apart_by_language_and_by_kind_of_visitor(app, client, dbs):
    market(app, dbs)
    assert "对比已勾选" in listed(client)
    client.set_cookie("lang", "en")
    assert "Compare ticked" in listed(client)  # not the Chinese fragment just cached
    client.set_cookie("lang", "zh")
    assert "加入组合方案" not in listed(client)
    UserFactory(org=OrganisationFactory(), email="e@fresh.cn")
    dbs.commit()
    client.login("e@fresh.cn")
    assert "加入组合方案" in listed(client)  # an enterprise gets the quick-add buttons


def test_an_unrelated_write_keeps_the_stamps(app, dbs):
    _agency, _official, provider, owner, m, _package = market(app, dbs)
    everything = freshness.catalogue_scopes(None)
    with services(app, dbs):
        before = freshness.stamps(everything)
        rows = dict(dbs.execute(select(CatalogueStamp.scope, CatalogueStamp.token)).all())
        owner.name = "王工"
        provider.description = "更多介绍"  # not on any card
        m.capability_statement = "更多能力"  # an application's text
        dbs.flush()
        assert freshness.stamps(everything) == before
        assert dict(dbs.execute(select(CatalogueStamp.scope, CatalogueStamp.token)).all()) == rows


def test_the_api_list_is_reused_until_the_catalogue_changes(app, client, dbs, count_queries):
    agency, official, _provider, _owner, _m, package = market(app, dbs)
    count_queries.count = 0
    first = client.get("/api/v1/packages?limit=10")
    listed_with = count_queries.count
    assert [p["id"] for p in first.get_json()["items"]] == [package.id]
    count_queries.count = 0
    assert client.get("/api/v1/packages?limit=10").data == first.data
    # no page query, no plans, their tiers, interfaces, industries, size tiers or packages
    assert count_queries.count == listed_with - 7
    with services(app, dbs):
        catalog.delist(package, "数据造假", Actor(official.id, agency.id, None))
    assert client.get("/api/v1/packages?limit=10").get_json()["items"] == []


def test_one_citys_pool_decision_changes_its_pool_alone_and_the_cards_tags(app, client, dbs):
    """Stamps per scope: a Xiamen decision changes the ``pool:<Xiamen>`` row alone, so what
    a search filtered by Shijiazhuang's pool matches keeps its key. The cards name every pool
    that admits their provider, so the cards and the results pages showing them are rendered
    again, with the tags right on either."""
    sjz, _sjz_official = agency_with_official("o@sjz-fresh.cn")
    xm, xm_official = agency_with_official("o@xm-fresh.cn")
    provider, owner = provider_with_owner("p@both-fresh.cn")
    membership(dbs, provider, sjz)
    in_xm = membership(dbs, provider, xm)
    published_package(app, dbs, provider, owner, title="车间看板 Gamma")
    sjz_only = f"{SEARCH}&pool={sjz.id}"
    before = listed(client, sjz_only)
    assert "车间看板 Gamma" in before
    assert sjz.name in results_of(before) and xm.name in results_of(before)
    with services(app, dbs):
        scopes_sjz = freshness.catalogue_scopes(sjz.id)
        scopes_all = freshness.catalogue_scopes(None)
        sjz_key, all_key = freshness.stamps(scopes_sjz), freshness.stamps(scopes_all)
        cards_key = freshness.stamps(freshness.CARD_SCOPES)
        rows = dict(dbs.execute(select(CatalogueStamp.scope, CatalogueStamp.token)).all())
        pool.decide(in_xm, PoolEvent.SUSPEND, "考核不合格", Actor(xm_official.id, xm.id, None))
    with services(app, dbs):
        assert freshness.stamps(scopes_sjz) == sjz_key
        assert freshness.stamps(scopes_all) != all_key
        assert freshness.stamps(freshness.CARD_SCOPES) != cards_key
    after = dict(dbs.execute(select(CatalogueStamp.scope, CatalogueStamp.token)).all())
    assert {s for s in after if after[s] != rows.get(s)} == {f"pool:{xm.id}"}
    again = listed(client, sjz_only)
    assert "车间看板 Gamma" in again
    assert sjz.name in results_of(again) and xm.name not in results_of(again)
    assert "车间看板 Gamma" in listed(client)  # still admitted in Shijiazhuang


def test_a_category_change_changes_its_scope_alone(app, dbs):
    from marketplace.catalog.models import Category

    market(app, dbs)
    with services(app, dbs):
        before = dict(freshness.stamps(freshness.catalogue_scopes(None)))
        category = dbs.get(Category, "mes")
        assert category is not None
        category.name_en = "MES (renamed)"
        dbs.flush()
        after = dict(freshness.stamps(freshness.catalogue_scopes(None)))
    assert {s for s in after if after[s] != before.get(s)} == {freshness.CATEGORIES}


def test_a_new_search_reuses_the_cards_already_rendered(app, client, dbs, count_queries):
    """Each card is rendered once per catalogue state, language and kind of visitor: a new
    query listing the same package loads and renders nothing for it, yet marks its own
    words; a change to the package renders it again."""
    _agency, _official, _provider, _owner, _m, package = market(app, dbs)
    listed(client, "/catalog?q=网关")  # session and CSRF set up, the thesaurus read
    cards = app.extensions["card_cache"]
    cards.clear()
    first = client.text("/catalog?q=看板")
    assert "车间<mark>看板</mark> Alpha" in first
    kept = len(cards)
    assert kept == 1
    count_queries.count = 0
    other = client.text("/catalog?q=Alpha")
    with_cards = count_queries.count
    assert "车间看板 <mark>Alpha</mark>" in other  # this search's word, not the last one's
    assert len(cards) == kept  # nothing rendered again
    # the cards' versions, plans and packages were not loaded for it
    cards.clear()
    count_queries.count = 0
    client.text("/catalog?q=车间")
    # the cards, from the search index's cards in one statement; on PostgreSQL a word of few
    # matches reads them with its page
    postgresql = dbs.get_bind().dialect.name == "postgresql"
    assert count_queries.count == with_cards + (0 if postgresql else 1)
    # English is another card; a rating renders the card again, with the rating on it
    client.set_cookie("lang", "en")
    assert "Go-live in" in client.text("/catalog?q=Alpha")
    client.set_cookie("lang", "zh")
    with services(app, dbs):
        reviews.record_rating(package.id, 5)
    assert "★ 5" in client.text("/catalog?q=Alpha")


def test_the_filter_panel_and_its_choices_are_kept_until_they_change(
    app, client, dbs, count_queries
):
    agency, _official, _provider, _owner, _m, _package = market(app, dbs)
    listed(client, "/catalog?q=网关")
    count_queries.statements.clear()
    page = listed(client, '/catalog?q=看板"<b>')
    # the categories, industries and agencies are not read again, the panel not rendered
    # again, and the search box still holds this search's words, escaped
    assert not [s for s in count_queries.statements if "FROM categories" in s]
    assert not [s for s in count_queries.statements if "FROM industries" in s]
    assert 'id="f-q" name="q" type="search" value="看板&#34;&lt;b&gt;"' in page
    assert f'<option value="{agency.id}" >{agency.name}</option>' in page

    agency.name = "改名后的工信局"
    dbs.commit()
    page = listed(client)
    assert f'<option value="{agency.id}" >改名后的工信局</option>' in page
    assert "改名后的工信局" in results_of(page)  # the cards' pool tags name it too
    assert 'id="f-q" name="q" type="search" value="看板"' in page
    assert f'<option value="{agency.id}" selected>改名后的工信局</option>' in listed(
        client, f"/catalog?q=看板&pool={agency.id}"
    )
