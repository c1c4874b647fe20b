"""The catalogue's full-text search (issue 19): what a Chinese buyer types finds what they
mean, on both databases (the expected results are written out, so the SQLite and the
PostgreSQL runs of this file check the same answers)."""

import re

import pytest
from sqlalchemy import func, select, text

from marketplace.audit import AuditEntry
from marketplace.catalog import reviews, search_index
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Category, SearchSynonym
from marketplace.db import db
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

PACKAGES = {
    key: dict(title=title, summary=summary, category_code=category, **more)
    for key, title, summary, category, more in [
        (
            "compressor",
            "基于振动分析的空压机预测性维护",
            "振动与电流数据，提前两周预警故障。",
            "predictive_maintenance",
            {},
        ),
        ("health", "设备健康管理", "点检、保养与备件一张表。", "predictive_maintenance", {}),
        ("board", "车间生产看板", "订单进度一目了然。", "production_visualisation", {}),
        (
            "gateway",
            "注塑车间数据采集网关",
            "七天接入注塑机。",
            "equipment_networking",
            {"tags": "数采, OEE"},
        ),
        ("energy", "能耗监测与节能分析", "分项计量，峰谷用电。", "energy_management", {}),
        ("trace", "批次追溯系统", "原料到成品的质量记录。", "quality_traceability", {}),
        (
            "opc",
            "OPC UA 协议转换服务",
            "老设备接入 MES 的桥梁。",
            "equipment_networking",
            {"description": "把 Modbus 设备转换为 OPC UA，向制造执行系统推送工单数据。"},
        ),
    ]
}


@pytest.fixture
def market(app, dbs):
    agency, official = agency_with_official("o@fts.cn")
    provider, owner = provider_with_owner("p@fts.cn")
    provider.name = "苏州云智工业软件有限公司"
    dbs.commit()
    membership(dbs, provider, agency)
    made = {
        key: published_package(app, dbs, provider, owner, **fields)
        for key, fields in PACKAGES.items()
    }
    return {"agency": agency, "official": official, "provider": provider, "owner": owner, **made}


def found(client, query, path="/catalog"):
    """The titles the catalogue lists for ``query`` (highlighting taken out), in order."""
    args = {"q": query} if isinstance(query, str) else query
    page = client.text(path, query_string=args, follow_redirects=True)  # to the clean URL
    titles = re.findall(r'<h2><a href="/packages/\d+">(.*?)</a></h2>', page)
    return [re.sub(r"</?mark>", "", t) for t in titles]


def draft_fields(draft, **changes):
    """A draft's fields as its edit form would send them, with ``changes``."""
    fields = dict(
        title=draft.title,
        summary=draft.summary,
        description=draft.description,
        category_code=draft.category_code,
        industry_codes=[i.code for i in draft.industries],
        size_tiers=[t.value for t in draft.size_tiers],
        deployment=draft.deployment.value,
        go_live_days=draft.go_live_days,
        sla_response_hours=draft.sla_response_hours,
        enterprise_provides="",
    )
    return catalog.VersionFields(**{**fields, **changes})


def named(*keys):
    return {PACKAGES[k]["title"] for k in keys}


def test_tokens_are_character_pairs_and_words():
    assert search_index.tokens("设备联网") == ["设备", "备联", "联网", "网"]
    assert search_index.tokens("ＭＥＳ系统，OPC-UA") == ["mes", "系统", "统", "opc", "ua"]
    assert search_index.tokens("  ，。!?") == []


def test_every_category_name_finds_at_least_what_its_filter_finds(client, dbs, market):
    categories = list(dbs.scalars(select(Category)))
    assert len(categories) >= 14
    for category in categories:
        by_filter = set(found(client, {"category": category.code}))
        for name in (category.name_zh, category.name_en):
            assert by_filter <= set(found(client, name)), name


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("预测性维护", named("compressor", "health")),  # the title, and the category's name
        ("预测维护", named("compressor", "health")),  # the thesaurus: 预测维护 → 预测性维护
        ("设备联网", named("gateway", "opc")),  # the category's name
        ("上云", named("gateway", "opc")),  # the thesaurus: 上云 → 设备联网
        ("质量 追溯", named("trace")),  # words apart: each must be found
        ("质量追溯", named("trace")),  # the category's name
        ("能源", named("energy")),  # a word inside the category's name 能源管理
        ("看板", named("board")),  # title; and the thesaurus: 看板 → 可视化 (its category)
        ("可视化", named("board")),
        ("数采", named("gateway")),  # the provider's tag
        ("oee", named("gateway")),
        ("MES", named("opc")),  # the summary; and 制造执行系统 in its description
        ("ｍｅｓ", named("opc")),  # full-width letters
        ("opc ua", set(named(*PACKAGES))),  # every package here consumes OPC UA
        ("Modb", named("opc")),  # a Latin word's prefix
        ("云智", set(named(*PACKAGES))),  # the provider's name
        ("predictive maintenance", named("compressor", "health")),  # the English name
        ("振", named("compressor")),  # one character
        ("sbjk", named("health")),  # pinyin initials of the title: 设备健康(管理)
        ("jkgl", named("health")),  # from a later character on: (设备)健康管理
        ("ycxwh", named("compressor", "health")),  # of the category's name: 预测性维护
        ("SBLW", named("gateway", "opc")),  # of 设备联网, in capitals
        ("sb", set()),  # two letters are too few to be read as initials
        ("不存在的词", set()),
    ],
)
def test_what_a_buyer_means(client, market, query, expected):
    assert set(found(client, query)) == expected


@pytest.mark.parametrize(
    "query",
    [
        "质",
        "预" * 500,
        "！？。，、；：",
        '"',
        "*",
        "NEAR",
        "OR",
        "-",
        "预测 OR 看板",
        '"预测',
        "NEAR(预测 维护)",
        "{title}: 看板",
        "看板*",
        "-看板",
        "^看板",
        "'; DROP TABLE packages; --",
        "%_\\",
        "ＭＥＳ mes Ｍes",
        "看板 " * 50,
    ],
)
def test_hostile_queries_answer_results_or_an_empty_state(client, market, query):
    page = client.get("/catalog", query_string={"q": query})
    assert page.status_code == 200
    api = client.get("/api/v1/packages", query_string={"q": query})
    assert api.status_code == 200, api.get_data(as_text=True)


def test_only_punctuation_finds_nothing_and_says_so(client, market):
    page = client.text("/catalog", query_string={"q": "！？。"})
    assert "没有符合条件的转型包" in page


def test_relevance_title_then_category_then_summary_then_the_rest(client, market):
    assert found(client, "预测性维护") == [PACKAGES["compressor"]["title"], "设备健康管理"]
    # 设备 is in every package's interfaces (设备运行数据), so all match; by field first
    assert found(client, "设备") == [
        "设备健康管理",  # title
        "OPC UA 协议转换服务",  # category 设备联网 (same evidence and price: newest first)
        "注塑车间数据采集网关",
        "批次追溯系统",  # elsewhere only, newest first
        "能耗监测与节能分析",
        "车间生产看板",
        PACKAGES["compressor"]["title"],
    ]
    # the summary above the rest: 记录 is the summary of one, nowhere else
    assert found(client, "质量") == ["批次追溯系统"]


def test_one_character_finds_every_token_it_begins_in_relevance_order(client, market):
    """One character is a prefix (FTS5's one-character prefix index on SQLite, a lexeme of
    each token's first character on PostgreSQL): 备 is in 设备, everywhere, and ranks as 设备
    does (the title, then the category's name ...); 振 only in one title and summary."""
    assert found(client, "备") == found(client, "设备")
    assert found(client, {"q": "备", "max_go_live_days": "730"}) == found(client, "设备")
    assert found(client, "振") == [PACKAGES["compressor"]["title"]]
    assert found(client, "振 备") == [PACKAGES["compressor"]["title"]]


def test_evidence_breaks_ties_within_a_field(app, client, dbs, market):
    # both match in the category's name only; the one with a verified result ranks first
    before = found(client, "设备联网")
    assert set(before) == named("gateway", "opc")
    with services(app, dbs):
        reviews.record_result(market["opc"].id, met=True)
    assert found(client, "设备联网") == ["OPC UA 协议转换服务", "注塑车间数据采集网关"]
    with services(app, dbs):
        for _ in range(2):
            reviews.record_result(market["gateway"].id, met=True)
    assert found(client, "设备联网") == ["注塑车间数据采集网关", "OPC UA 协议转换服务"]


def test_other_orders_stay_available(client, market):
    newest = found(client, {"q": "设备联网", "sort": "newest"})
    assert newest == ["OPC UA 协议转换服务", "注塑车间数据采集网关"]


def test_matched_words_are_highlighted_and_escaped(client, market):
    page = client.text("/catalog", query_string={"q": "看板"})
    assert "车间生产<mark>看板</mark>" in page
    page = client.text("/catalog", query_string={"q": "<script>"})
    assert "<script>" not in page.split("<main", 1)[1].split("</main>")[0]


def test_an_empty_result_suggests_the_nearest_categories(client, market):
    page = client.text("/catalog", query_string={"q": "能源计量"})
    assert "没有符合条件的转型包" in page
    results = page.split('id="results"', 1)[1]
    assert results.index("category=energy_management") < results.index("category=erp")


def test_the_api_searches_the_same_index(client, market):
    body = client.get("/api/v1/packages", query_string={"q": "预测维护"}).get_json()
    assert {item["title"] for item in body["items"]} == named("compressor", "health")


def test_the_index_follows_every_change(app, client, dbs, market):
    provider, owner = market["provider"], market["owner"]
    actor = Actor(owner.id, provider.id, None)
    board = market["board"]
    with services(app, dbs):
        draft = catalog.new_version(board, actor)
        fields = draft_fields(draft, title="车间电子看板（第二版）", tags="安灯")
        catalog.update_draft(board, fields, actor)
    assert found(client, "安灯") == []  # a draft is not searched
    with services(app, dbs):
        catalog.submit(board, actor)
        catalog.publish(board, actor)
    assert found(client, "安灯") == ["车间电子看板（第二版）"]
    # the superseded version left the index (生产看板 alone would still find the new one's
    # category, 生产可视化, through the thesaurus: 看板 → 可视化)
    assert found(client, "车间生产看板") == []
    with services(app, dbs):
        provider.name = "杭州数智科技有限公司"
    assert found(client, "云智") == []
    assert len(found(client, "数智")) == len(PACKAGES)
    with services(app, dbs):
        db.session.get(Category, "energy_management").name_zh = "能碳管理"
    assert found(client, "能碳") == [PACKAGES["energy"]["title"]]
    with services(app, dbs):
        catalog.delist(
            market["energy"], "数据造假", Actor(market["official"].id, market["agency"].id, None)
        )
    assert found(client, "能碳") == []


def test_a_rebuild_writes_the_same_index(app, client, dbs, market):
    queries = ["预测维护", "设备联网", "质量 追溯", "看板", "mes", "云智"]
    before = [found(client, q) for q in queries]
    with services(app, dbs):
        written = search_index.rebuild()
    assert written == len(PACKAGES)
    with services(app, dbs):
        assert search_index.count() == len(PACKAGES)
    assert [found(client, q) for q in queries] == before


def test_too_many_or_too_long_tags_are_refused(app, dbs, market):
    with pytest.raises(Exception, match=r"最多 10 个标签|At most 10 tags"):
        catalog.clean_tags(" ".join(f"t{i}" for i in range(11)))
    assert catalog.clean_tags("注塑，OEE、 注塑 ,数采") == "注塑 OEE 数采"


# The thesaurus, kept by officials and the platform admin


def test_an_official_keeps_the_thesaurus(client, dbs, market):
    client.login("o@fts.cn")
    assert found(client, "空压机保养") == []
    page = client.form("/admin/thesaurus", {"term": "空压机保养", "means": "预测性维护"})
    assert page.status_code == 302
    assert set(found(client, "空压机保养")) == named("compressor", "health")
    entry = dbs.scalar(select(SearchSynonym).where(SearchSynonym.term == "空压机保养"))
    assert dbs.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "search.synonym_added", AuditEntry.object_id == str(entry.id)
        )
    )
    assert client.form(f"/admin/thesaurus/{entry.id}/remove").status_code == 302
    assert found(client, "空压机保养") == []


@pytest.mark.parametrize(
    ("term", "means", "error"),
    [
        ("", "预测性维护", "必填"),
        ("！！", "预测性维护", "请输入由字母、数字或汉字组成的词"),
        ("看板", "看板", "一个词不能指它自己"),
        ("看 板", "可视化", "不能有空格"),
        ("看板", "可视化", "已经指"),  # already there (from the migration)
        ("长" * 31, "可视化", "30"),
    ],
)
def test_bad_thesaurus_entries_are_refused(client, dbs, market, term, means, error):
    client.login("o@fts.cn")
    count = dbs.scalar(select(func.count(SearchSynonym.id)))
    page = client.form("/admin/thesaurus", {"term": term, "means": means})
    assert page.status_code == 422
    assert error in page.get_data(as_text=True)
    assert dbs.scalar(select(func.count(SearchSynonym.id))) == count


def test_only_officials_and_the_platform_admin_edit_the_thesaurus(client, dbs, market):
    enterprise = OrganisationFactory()
    UserFactory(org=enterprise, email="e@fts.cn")
    client.login("e@fts.cn")
    assert client.get("/admin/thesaurus").status_code == 403
    assert client.form("/admin/thesaurus", {"term": "甲乙", "means": "丙丁"}).status_code == 403


def test_a_suspended_provider_leaves_the_index_and_returns(app, client, dbs, market):
    from marketplace.pool import services as pool
    from marketplace.pool.models import PoolEvent, PoolMembership

    membership_row = dbs.scalar(
        select(PoolMembership).where(PoolMembership.provider_id == market["provider"].id)
    )
    official = Actor(market["official"].id, market["agency"].id, None)
    with services(app, dbs):
        pool.decide(membership_row, PoolEvent.SUSPEND, "考核不合格", official)
    assert found(client, "看板") == []
    with services(app, dbs):
        assert search_index.count() == 0
        pool.decide(membership_row, PoolEvent.REINSTATE, "整改完成", official)
    assert found(client, "看板") == ["车间生产看板"]


@pytest.mark.parametrize("query", ["预测维护", "设备", "质量 追溯", "云智", "mes", "振"])
def test_the_index_alone_and_the_filtered_search_agree(client, market, query):
    """Words alone are answered by the index; any filter or other order joins the catalogue:
    both find the same packages."""
    alone = found(client, query)
    assert set(alone) == set(found(client, {"q": query, "sort": "newest"}))
    assert set(alone) == set(found(client, {"q": query, "max_go_live_days": "730"}))
    # the same order too, when the filter keeps everything
    assert alone == found(client, {"q": query, "max_go_live_days": "730", "sort": "relevance"})


def test_matches_are_counted_up_to_a_limit(client, market, monkeypatch):
    from marketplace.catalog import search

    monkeypatch.setattr(search, "MAX_COUNTED", 2)
    for query in ({"q": "云智"}, {"q": "云智", "sort": "newest"}, {}):
        page = client.text("/catalog", query_string=query)
        assert "超过 2 个转型包" in page
        assert len(found(client, query)) == len(PACKAGES)  # the page still lists them all
    assert "2 个转型包" in client.text("/catalog", query_string={"q": "预测性维护"})


@pytest.mark.parametrize("per_page", [1, 2, 3])
@pytest.mark.parametrize("joined", [{}, {"max_go_live_days": "730"}], ids=["index", "joined"])
def test_pages_of_the_ranked_index_follow_each_other_across_tiers(
    app, client, market, monkeypatch, per_page, joined
):
    """A page is read tier by tier, each in rank order only as far as it needs: pages of any
    size, wherever they cut the tiers, list the whole order once, as the joined search does."""
    from marketplace.catalog import views

    whole = found(client, "设备")
    assert len(whole) == len(PACKAGES)
    monkeypatch.setattr(views, "PER_PAGE", per_page)
    app.extensions["catalogue_cache"].clear()
    pages = []
    for page in range(1, -(-len(whole) // per_page) + 1):
        pages += found(client, {"q": "设备", "page": str(page), **joined})
    assert pages == whole


@pytest.mark.parametrize("guess", ["none", "counted", "everything"])
@pytest.mark.parametrize(("few", "per_page"), [(1, 2), (2, 3), (2, 1), (0, 1), (0, 3)])
def test_common_words_tiers_are_walked_in_rank_order_with_the_same_pages(
    app, client, dbs, market, monkeypatch, few, per_page, guess
):
    """On PostgreSQL a tier of more than ``FEW`` matches is read in rank order instead of taken
    whole and sorted: with ``FEW`` made tiny, every page is the same as before. With 1 or 2,
    the titles that hold a word (one for 设备 and 备, two for 车间) are the page's first tier,
    read with the count when there are no more than ``FEW`` (and the page goes on from the
    category tier); with 0, or 车间 at 1, that title tier is walked. A page past the last
    reads no tier: it is sent to the last page. Whatever the guess of which words are common
    (none, the one ``refresh_common`` counts, or every title word), the pages are the same."""
    from marketplace.catalog import search, views

    words = {word: found(client, word) for word in ("设备", "备", "车间")}
    assert set(words["车间"][:2]) == {"车间生产看板", "注塑车间数据采集网关"}  # the title tier
    monkeypatch.setattr(search_index, "FEW", few)
    search_index.refresh_common(dbs)
    guessed = {
        "none": frozenset(),
        "counted": search_index.common_titles(dbs),
        "everything": frozenset(title_lexemes(dbs)),
    }[guess]
    monkeypatch.setattr(search, "_common_titles", lambda: guessed)
    monkeypatch.setattr(views, "PER_PAGE", per_page)
    app.extensions["catalogue_cache"].clear()
    read: list[tuple[object, ...]] = []  # tiers read for a page past the last
    for word, expected in words.items():
        pages = []
        last = -(-len(expected) // per_page)
        for page in range(1, last + 1):
            pages += found(client, {"q": word, "page": str(page)})
        assert pages == expected
        with monkeypatch.context() as m:
            m.setattr(search_index, "page_only", lambda *args, **_: read.append(args) or [])
            past = client.get("/catalog", query_string={"q": word, "page": str(last + 1)})
        assert past.status_code == 302 and read == []


def title_lexemes(dbs):
    """PostgreSQL: every title lexeme the heads hold (none on SQLite)."""
    if dbs.get_bind().dialect.name != "postgresql":
        return []
    return dbs.scalars(
        text(
            "SELECT word FROM ts_stat('SELECT head FROM search_index_heads')"
            " WHERE word LIKE 'A%' OR word LIKE '^A%'"
        )
    ).all()


def test_a_word_guessed_common_reads_its_title_tier_first(app, dbs, market, monkeypatch):
    """PostgreSQL: ``refresh_common`` lists the title words more than ``FEW`` titles hold
    (here one: 车间, in two titles; 设备 is in one). A word it lists reads its title tier
    first; when that tier has more than ``FEW``, and no more is asked for, it stands for the
    count and the documents are not read at all. The answer is the one the count-first
    statement gives. SQLite keeps no such list."""
    if dbs.get_bind().dialect.name != "postgresql":
        assert search_index.refresh_common(dbs) == 0
        assert search_index.common_titles(dbs) == frozenset()
        return
    monkeypatch.setattr(search_index, "FEW", 1)
    assert search_index.refresh_common(dbs) == len(search_index.common_titles(dbs)) > 0
    common = search_index.common_titles(dbs)
    assert "A车间" in common and "A设备" not in common
    car, dev = search_index.compile_query("车间"), search_index.compile_query("设备")
    assert search_index.in_common_titles(car, common)
    assert not search_index.in_common_titles(dev, common)
    with services(app, dbs):
        for limit, offset in [(1, 0), (1, 1), (2, 0), (3, 2)]:
            at_most = max(1, offset + limit) + 1  # as ``search.page_ids`` asks, with 1 counted
            guessed = search_index.page_and_count(car, limit, offset, at_most, common)
            assert guessed == search_index.page_and_count(car, limit, offset, at_most)

    def documents_read(at_most):
        plan = dbs.execute(
            text("EXPLAIN (ANALYZE, FORMAT JSON) " + search_index._TITLES_FIRST.text),
            search_index.page_parameters(car, 1, 0, at_most),
        ).scalar()
        nodes, loops = [plan[0]["Plan"]], 0
        while nodes:
            node = nodes.pop()
            nodes += node.get("Plans", [])
            if node.get("Relation Name") == search_index.TABLE:
                loops += node["Actual Loops"]
        return loops

    assert documents_read(at_most=2) == 0  # two titles: more than one match, uncounted
    assert documents_read(at_most=3) > 0  # more asked for: counted
    # a filtered search is never guessed: its titles would not stand for its count
    filtered = search_index.Match(car.terms, facets=(search_index.facet("category", "mes"),))
    assert not search_index.in_common_titles(filtered, common)


def test_the_catalogue_shows_a_word_guessed_common_as_the_count_says(
    app, client, dbs, market, monkeypatch
):
    """Through the catalogue, with one package counted and one title making a word common:
    车间, in two titles, reads its title tier for its count (PostgreSQL) and shows the same
    page and the same "more than" as when nothing is guessed; the hourly job lists it."""
    from marketplace import tasks
    from marketplace.catalog import freshness, search, views

    monkeypatch.setattr(search_index, "FEW", 1)
    monkeypatch.setattr(search, "MAX_COUNTED", 1)
    monkeypatch.setattr(views, "PER_PAGE", 1)
    postgresql = dbs.get_bind().dialect.name == "postgresql"
    with services(app, dbs):
        stamps = dict(freshness.stamps([freshness.COMMON_TITLES]))
        outcome = tasks.run_now("search_common_titles")
        assert outcome.due == (1 if postgresql else 0)
        assert ("A车间" in search_index.common_titles()) is postgresql
        assert (dict(freshness.stamps([freshness.COMMON_TITLES])) != stamps) is postgresql
    shown = {}
    for guess in (frozenset(), search_index.common_titles(dbs)):
        monkeypatch.setattr(search, "_common_titles", lambda guess=guess: guess)
        app.extensions["catalogue_cache"].clear()
        page = client.text("/catalog", query_string={"q": "车间"})
        head = re.search(r'<div class="results-head">\s*<p class="muted">([^<]*)', page)
        shown[guess] = (tuple(found(client, "车间")), head.group(1).strip())
    assert len(set(shown.values())) == 1
    titles, head = next(iter(shown.values()))
    assert len(titles) == 1 and head in ("More than 1 packages", "超过 1 个转型包")


def test_the_api_lists_a_search_in_the_catalogues_order_page_by_page(client, market):
    """With words, ``/api/v1/packages`` is in relevance order (a search's best first, as in
    the catalogue), paged by its cursor; without words it stays in id order."""
    whole = found(client, "设备")
    listed, cursor = [], None
    while True:
        args = {"q": "设备", "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/packages", query_string=args).get_json()
        listed += [item["title"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert listed == whole
    ids = [i["id"] for i in client.get("/api/v1/packages").get_json()["items"]]
    assert ids == sorted(ids)
    bad = client.get("/api/v1/packages", query_string={"q": "设备", "cursor": "eyJza2lwIjogLTF9"})
    assert bad.status_code == 422


def test_pinyin_initials_are_kept_apart_from_words():
    assert search_index.initials("设备联网 MES") == ["0psblw", "0pblw", "0plw"]
    assert search_index.initials("OPC UA") == []
    # indexed in the title and the category's name, not in the summary or the rest
    assert "0psblw" in search_index.field_tokens("title", "设备联网")
    assert "0psblw" not in search_index.field_tokens("summary", "设备联网")


def test_filters_are_asked_of_the_index_with_the_words(client, dbs, market):
    """A filtered search asks the index for its words and its filters' facets together: the
    same packages as the words alone, kept by the filter."""
    doc = search_index.facet
    assert doc("category", "predictive_maintenance") == "0cpredictivemaintenance"
    everything = set(found(client, "设备"))
    assert set(found(client, {"q": "设备", "category": "equipment_networking"})) == named(
        "gateway", "opc"
    )
    assert set(found(client, {"q": "设备", "pool": str(market["agency"].id)})) == everything
    assert set(found(client, {"q": "设备", "pricing": "one_time"})) <= everything
    other = OrganisationFactory(agency=True)
    dbs.commit()
    assert found(client, {"q": "设备", "pool": str(other.id)}) == []


def expected_cards(dbs):
    """Every visible version's card as the catalogue's own tables say it."""
    from marketplace.catalog.search import Card
    from marketplace.catalog.services import visible_versions
    from marketplace.pool.models import PoolMembership, PoolStatus

    dbs.expire_all()  # a rating or a met contract is a bulk update the session did not see
    cards = {}
    for version in dbs.scalars(visible_versions()):
        package, provider = version.package, version.package.provider
        pools = dbs.scalars(
            select(PoolMembership.agency_id)
            .where(
                PoolMembership.provider_id == provider.id,
                PoolMembership.status == PoolStatus.ADMITTED,
            )
            .order_by(PoolMembership.agency_id)
        )
        cards[version.id] = Card(
            version_id=version.id,
            package_id=package.id,
            title=version.title,
            summary=version.summary,
            category_zh=version.category.name_zh,
            category_en=version.category.name_en,
            entry_price_fen=version.entry_price_fen,
            go_live_days=version.go_live_days,
            deployment=version.deployment,
            results_met=package.results_met,
            rating_sum=package.rating_sum,
            rating_count=package.rating_count,
            provider_id=provider.id,
            provider_name=provider.name,
            provider_type=provider.provider_type,
            trial_days=version.trial_days,
            trial_price_fen=version.trial_price_fen,
            plan_kinds=tuple(dict.fromkeys(p.kind for p in version.plans)),
            pool_ids=tuple(pools),
        )
    return cards


def test_the_index_keeps_every_visible_versions_card_as_the_catalogue_says(app, dbs, market):
    """The cards a results page reads from the index (``search_index_cards``) follow every
    change of what they show: a provider's name, a rating, a met contract, a new version with
    a trial and other plans, another pool admitting the provider, a pool suspending it."""
    from marketplace.catalog import search
    from marketplace.catalog.reviews import record_result
    from marketplace.pool import services as pool
    from marketplace.pool.models import PoolEvent, PoolMembership
    from tests.functional.catalog_helpers import OUTCOME

    postgresql = dbs.get_bind().dialect.name == "postgresql"

    def cards_agree():
        with services(app, dbs):
            expected = expected_cards(dbs)
            assert search.cards(list(expected)) == list(expected.values())
            kept = dbs.scalar(text(f"SELECT count(*) FROM {search_index.CARDS}"))
            assert kept == len(expected)
            for version_id, card in expected.items():
                # on PostgreSQL a word of few matches reads its page's cards with the page
                page = search.page_ids(search.Query(text=card.title))
                assert version_id in page.ids
                assert set(page.cards) == (set(page.ids) if postgresql else set())
                assert search.cards(page.ids, page.cards) == [expected[i] for i in page.ids]
        return expected

    assert len(cards_agree()) == len(PACKAGES)
    provider, owner = market["provider"], market["owner"]
    actor = Actor(owner.id, provider.id, None)
    with services(app, dbs):
        provider.name = "杭州数智科技有限公司"
        reviews.record_rating(market["board"].id, 4)
        record_result(market["trace"].id, met=True)
    assert {c.provider_name for c in cards_agree().values()} == {"杭州数智科技有限公司"}
    board = market["board"]
    with services(app, dbs):
        draft = catalog.new_version(board, actor)
        catalog.add_plan(board, OUTCOME, actor)
        catalog.update_draft(board, draft_fields(draft, trial_days=14), actor)
        catalog.submit(board, actor)
        catalog.publish(board, actor)
    cards = cards_agree()
    assert cards[draft.id].trial_days == 14 and len(cards[draft.id].plan_kinds) == 2
    xiamen, xiamen_official = agency_with_official("o@xm-cards.cn")
    in_xiamen = membership(dbs, provider, xiamen)
    assert {c.pool_ids for c in cards_agree().values()} == {
        tuple(sorted((market["agency"].id, xiamen.id)))
    }
    with services(app, dbs):
        pool.decide(
            in_xiamen, PoolEvent.SUSPEND, "考核不合格", Actor(xiamen_official.id, xiamen.id, None)
        )
    assert {c.pool_ids for c in cards_agree().values()} == {(market["agency"].id,)}
    first = dbs.scalar(
        select(PoolMembership).where(PoolMembership.agency_id == market["agency"].id)
    )
    with services(app, dbs):
        pool.decide(
            first,
            PoolEvent.SUSPEND,
            "考核不合格",
            Actor(market["official"].id, market["agency"].id, None),
        )
    assert cards_agree() == {}


def test_a_meaning_of_several_runs_finds_its_text(app, client, dbs, market):
    """A thesaurus meaning read as runs in a row finds the text as the index holds it: a
    Chinese run followed by a Latin word (化工进销存 → 化工 ERP, with the seeded 进销存 → erp),
    and Chinese runs written apart or together (云采 → 云端 采集)."""
    from marketplace.catalog import thesaurus

    provider, owner = market["provider"], market["owner"]
    for title in ("化工ERP套件", "云端 采集终端", "云端采集平台"):
        published_package(app, dbs, provider, owner, title=title)
    with services(app, dbs):
        if not dbs.scalar(select(SearchSynonym).where(SearchSynonym.term == "进销存")):
            thesaurus.add("进销存", "ERP", Actor(owner.id, provider.id, None))
        thesaurus.add("云采", "云端 采集", Actor(owner.id, provider.id, None))
    assert found(client, "化工进销存") == ["化工ERP套件"]
    assert set(found(client, "云采")) == {"云端 采集终端", "云端采集平台"}


def test_the_rebuild_command_writes_the_index_and_renews_what_workers_kept(
    app, client, dbs, market
):
    """``flask search rebuild`` writes every document and card again, and gives the packages
    a new stamp, so that cards and results the workers kept from the old index go."""
    from marketplace.catalog import freshness

    with services(app, dbs):
        before = dict(freshness.stamps([freshness.PACKAGES]))
        dbs.execute(text(f"DELETE FROM {search_index.CARDS}"))
        dbs.commit()
    result = app.test_cli_runner().invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert f"search index: {len(PACKAGES)} documents" in result.output
    with services(app, dbs):
        assert dict(freshness.stamps([freshness.PACKAGES])) != before
        kept = dbs.scalar(text(f"SELECT count(*) FROM {search_index.CARDS}"))
    assert kept == len(PACKAGES)
    assert "车间生产看板" in found(client, "看板")
