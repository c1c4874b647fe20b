"""Recommendations that explain themselves (issue 20, enterprise): each package tied to the
chosen pain points and the dimension it lifts, the level explained, the set checked for
interoperability (next candidates or an added package), its total before and after vouchers,
and the verified evidence that ranks it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.catalog import services as catalog
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnosis
from marketplace.money import format_fen
from marketplace.orders import recommended
from marketplace.orders.models import Bundle
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    OUTCOME,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

ONE_TIME = catalog.PlanFields(kind="one_time", name="买断", amount_fen=10_000_00)
SELF_FED = (("consumes", "csv_excel", "quality_records"),)  # fed by hand: needs no package
NEEDS_ORDERS = (("consumes", "rest_json", "production_orders"),)
MAKES_ORDERS = (
    ("consumes", "csv_excel", "customer_orders"),
    ("produces", "rest_json", "production_orders"),
)


def answers(value=1, **overrides):
    return {**{q.code: value for q in qn.QUESTIONS}, **overrides}


@pytest.fixture
def seller(app, dbs):
    agency, _ = agency_with_official("o@recs.cn")
    provider, owner = provider_with_owner("p@recs.cn")
    membership(dbs, provider, agency)

    def publish(title, category, interfaces=SELF_FED, price=10_000_00, **changes):
        plan = catalog.PlanFields(kind="one_time", name="买断", amount_fen=price)
        fields = {
            "industry_codes": ["textile"],
            "size_tiers": ["micro", "small"],
            "deployment": "saas",
            "go_live_days": 7,
            **changes,
        }
        return published_package(
            app,
            dbs,
            provider,
            owner,
            plans=[plan],
            interfaces=interfaces,
            title=title,
            category_code=category,
            **fields,
        )

    publish.agency = agency
    publish.provider = provider
    return publish


@pytest.fixture
def firm(dbs):
    org = OrganisationFactory(industry_code="textile", employees=12, annual_revenue_fen=200_000_000)
    user = UserFactory(org=org, email="boss@recs.cn")
    return org, user


def diagnose(app, dbs, firm, pains, budget="200k_1m", **overrides):
    org, user = firm
    with services(app, dbs):
        return diagnosis.diagnose(
            org, answers(**overrides), pains, budget, Actor(user.id, org.id, None)
        )


def chosen_set(app, dbs, firm, d):
    with services(app, dbs):
        return recommended.recommended_set(firm[0], d)


# 1. pain points and the weakest dimension


def test_each_package_names_the_pain_points_it_answers_and_the_dimension_it_lifts(
    app, client, dbs, seller, firm
):
    seller("车间看板", "production_visualisation")
    seller("质量追溯", "quality_traceability")
    seller("能耗管理", "energy_management")
    # quality is the weakest dimension (0); the others score 25
    d = diagnose(app, dbs, firm, ["visibility", "energy"], q_inspection=0, q_traceability=0)
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    assert rec.weakest == ["quality"]
    by_title = {s.version.title: s for s in rec.starter}
    assert list(by_title) == ["车间看板", "能耗管理", "质量追溯"]
    assert by_title["车间看板"].pain_points == ["visibility"]
    assert (by_title["车间看板"].dimension, by_title["车间看板"].dimension_score) == ("data", 25)
    assert by_title["能耗管理"].pain_points == ["energy"]
    # the third place goes to the weakest dimension, which no pain point covered
    assert by_title["质量追溯"].pain_points == [] and by_title["质量追溯"].weakest

    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "您最薄弱的领域：质量管理（0 分，满分 100）" in page
    assert "对应您的痛点" in page
    assert page.count("您最薄弱的领域</span>") == 1  # the quality package's card
    client.form("/language", {"lang": "en", "next": "/"})
    english = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "Your weakest area: Quality management (0 of 100)." in english
    assert "Answers your pain points" in english and "High energy costs" in english


def test_a_pain_point_nothing_answers_is_said(app, client, dbs, seller, firm):
    seller("车间看板", "production_visualisation")
    d = diagnose(app, dbs, firm, ["security", "visibility"])
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    assert rec.unanswered == ["security"]
    client.login("boss@recs.cn")
    assert "目录中暂无针对“担心网络安全”的转型包" in client.text(
        f"/diagnosis/{d.id}/recommendations"
    )


# 2. the level explained


def test_the_level_is_explained_from_the_dimension_scores(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, [], eq_connected=0, eq_maintenance=0)  # 10 of 48 points
    explained = qn.explain(d.answers, d.dimension_scores)
    assert (explained.points, explained.possible, explained.overall) == (10, 48, d.overall)
    assert (explained.level, explained.lowest, explained.highest) == (d.level, 20, 39)
    equipment = next(a for a in explained.areas if a.dimension == "equipment")
    assert (equipment.points, equipment.possible, equipment.score) == (0, 8, 0)
    # L3 starts at 40: 19 of 48 points round to 40, so 9 more
    assert (explained.next_level, explained.next_lowest, explained.points_needed) == (3, 40, 9)
    assert sum(s.to - s.now for s in explained.steps) == 9
    # the lowest answers first: the weakest area's two questions are raised
    assert {s.question.code for s in explained.steps} >= {"eq_connected", "eq_maintenance"}
    raised = {**d.answers, **{s.question.code: s.to for s in explained.steps}}
    assert qn.score(raised)[2] == 3  # the steps do reach the next level

    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}")
    assert "L2 级的含义" in page and "记录：关键数据有纸面或表格记录" in page
    assert "10 / 48" in page and "总分在 20 至 39 之间为 L2 级" in page
    assert "需要总分达到 40：在满分 48 分中再多得 9 分" in page
    assert "从“坏了再修”提升到“" in page
    client.form("/language", {"lang": "en", "next": "/"})
    english = client.text(f"/diagnosis/{d.id}")
    assert "Overall scores from 20 to 39 are level L2." in english
    assert "It needs an overall score of 40: 9 more points of 48." in english


def test_the_top_level_needs_nothing_more(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, [], **{q.code: 4 for q in qn.QUESTIONS})
    explained = qn.explain(d.answers, d.dimension_scores)
    assert (explained.level, explained.next_level, explained.steps) == (5, None, [])
    client.login("boss@recs.cn")
    assert "这已是最高等级" in client.text(f"/diagnosis/{d.id}")


# 3. the total before and after vouchers


def test_the_set_shows_its_total_before_and_after_the_enterprises_vouchers(app, client, dbs, firm):
    from tests.functional.voucher_helpers import Pilot, pilot

    p = pilot(app, dbs, "recs")  # the package: equipment networking, ¥60,000 one-time
    org, user = firm
    p = Pilot(**{**p.__dict__, "enterprise": org, "owner": user})
    d = diagnose(app, dbs, firm, ["downtime"])
    before = chosen_set(app, dbs, firm, d)
    assert [pick.version.package_id for pick in before.picks] == [p.package.id]
    assert before.totals.committed_fen == 60_000_00 and before.subsidy_fen == 0
    assert before.copay_fen == 60_000_00

    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "您目前的转型券都不能用于这些转型包" in page

    p.issue_to(p.programme())  # 50%, ¥20,000 a voucher
    after = chosen_set(app, dbs, firm, d)
    assert after.subsidy_fen == 20_000_00 and after.copay_fen == 40_000_00
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    totals = page[page.index('id="totals"') :]
    assert "使用转型券前合计</dt><dd><strong>" + format_fen(60_000_00) in totals
    assert "−" + format_fen(20_000_00) in totals
    assert "使用转型券后合计</dt><dd><strong>" + format_fen(40_000_00) in totals
    # the same figures as the bundle taking the set would show
    taken = client.form(f"/diagnosis/{d.id}/bundle")
    bundle_page = client.text(taken.headers["Location"])
    assert format_fen(40_000_00) in bundle_page and format_fen(20_000_00) in bundle_page


# 4. interoperability


def test_a_first_pick_that_does_not_fit_in_gives_way_to_the_next_candidate(
    app, client, dbs, seller, firm
):
    # the best-ranked board reads production orders nothing in the set produces
    lonely = seller("看板甲", "production_visualisation", interfaces=NEEDS_ORDERS)
    lonely.results_met = 3
    seller("看板乙", "production_visualisation")
    seller("质量追溯", "quality_traceability")
    dbs.flush()
    d = diagnose(app, dbs, firm, ["visibility", "quality"])
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    assert [s.version.title for s in rec.starter] == ["看板甲", "质量追溯"]
    chosen = chosen_set(app, dbs, firm, d)
    assert [p.version.title for p in chosen.picks] == ["看板乙", "质量追溯"]
    assert chosen.picks[0].instead_of.version.title == "看板甲"
    assert chosen.interop.ok and chosen.swapped
    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "代替“看板甲”入选" in page and "可以：每个转型包都能以它支持的协议获得所需数据" in page
    assert "看板甲" in page[page.index("备选方案") :]  # still shown, as an alternative


def test_a_package_is_added_when_no_candidate_fits_in_and_the_bundle_takes_it(
    app, client, dbs, seller, firm
):
    seller("看板", "production_visualisation", interfaces=NEEDS_ORDERS)
    seller("质量追溯", "quality_traceability")
    seller("云 ERP", "erp", interfaces=MAKES_ORDERS)  # answers no pain point of the firm
    d = diagnose(app, dbs, firm, ["visibility", "quality"], budget="200k_1m")
    chosen = chosen_set(app, dbs, firm, d)
    titles = [(p.version.title, p.added) for p in chosen.picks]
    assert titles == [("看板", False), ("质量追溯", False), ("云 ERP", True)]
    assert chosen.interop.ok
    erp = chosen.picks[2]
    assert [(link.data_object, link.consumer.title) for link in erp.feeds] == [
        ("production_orders", "看板")
    ]
    assert chosen.totals.committed_fen == 30_000_00  # three one-time prices

    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "为使各转型包互联互通而加入" in page and "已加入转型包" in page
    before = dbs.scalar(select(func.count(Bundle.id)))
    taken = client.form(f"/diagnosis/{d.id}/bundle")
    assert taken.status_code == 302
    assert dbs.scalar(select(func.count(Bundle.id))) == before + 1
    bundle_page = client.text(taken.headers["Location"])
    assert (
        "云 ERP" in bundle_page and "可以：每个转型包都能以它支持的协议获得所需数据" in bundle_page
    )


def test_gaps_nothing_closes_are_shown_and_nothing_is_added(app, client, dbs, seller, firm):
    seller("看板", "production_visualisation", interfaces=NEEDS_ORDERS)
    seller("质量追溯", "quality_traceability")
    d = diagnose(app, dbs, firm, ["visibility", "quality"])
    chosen = chosen_set(app, dbs, firm, d)
    assert [p.version.title for p in chosen.picks] == ["看板", "质量追溯"]
    assert not chosen.interop.ok and [g.data_object for g in chosen.interop.unmatched] == [
        "production_orders"
    ]
    client.login("boss@recs.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "尚不能：仍有以下缺口" in page
    assert "看板 需要 " in page and "但组合中没有转型包产生这类数据" in page


# 5. evidence and ranking


def test_ratings_rank_after_relevance_and_are_cited(app, dbs, seller, firm):
    seller("看板便宜", "production_visualisation", price=5_000_00)
    rated = seller("看板好评", "production_visualisation", price=8_000_00)
    few = seller("看板两评", "production_visualisation", price=6_000_00)
    rated.rating_sum, rated.rating_count = 14, 3
    few.rating_sum, few.rating_count = 10, 2  # too few ratings to rank by
    dbs.flush()
    d = diagnose(app, dbs, firm, ["visibility"])
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    ranked = [s.version.title for s in rec.ranked["production_visualisation"]]
    assert ranked == ["看板好评", "看板便宜", "看板两评"]
    by_title = {s.version.title: s for s in rec.ranked["production_visualisation"]}
    assert by_title["看板好评"].evidence == ["3 位已核实买家评分 4.7 分（满分 5 分）"]
    assert by_title["看板两评"].evidence == [
        "2 位已核实买家评分 5.0 分（满分 5 分）",
        "评分少于 3 条，不参与排序",
    ]
    assert by_title["看板便宜"].evidence == []


# 6. verified results and evaluation verdicts rank and are cited (issue 21)


def enterprise(industry="machining", employees=50, revenue=5_000_000_00):
    org = OrganisationFactory(
        industry_code=industry, employees=employees, annual_revenue_fen=revenue
    )
    return org, Actor(UserFactory(org=org).id, org.id, None)


def contract_on(app, dbs, p, package, buyer, value, days=125):
    """An OEE contract (baseline 60, target +5) on ``package`` for ``buyer``, measured once
    ``days`` - 3 days after its window opened (confirmed) and settled: met at 65 or more."""
    from marketplace.db import local_today
    from marketplace.orders import bundles
    from marketplace.orders import services as orders
    from marketplace.orders.models import LineEvent
    from marketplace.outcomes import services as outcomes
    from tests.functional.outcomes.test_outcomes import (
        KIND,
        SYSTEM,
        contract_of,
        day,
        measuring_since,
        reading,
    )

    org, actor = buyer
    today = local_today()
    with services(app, dbs):
        b = bundles.create(org, f"效果方案 {org.id}-{package.id}", actor)
        bundles.add(b, package.id, None, actor)
        line = orders.checkout(org, b, actor).lines[0]
        for event in (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER):
            orders.transition(line, event, "", SYSTEM, KIND[event])
    contract = contract_of(dbs, line)
    with services(app, dbs):
        outcomes.propose_baseline(
            contract, "60", today - timedelta(days=30), today, "MES 记录", p.official_actor
        )
        outcomes.agree_baseline(contract, line, actor)
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    measuring_since(dbs, contract, days)
    with services(app, dbs):
        m, _ = outcomes.submit(contract, reading(1, value, day(3)), SYSTEM)
        outcomes.confirm(m, SYSTEM)
        outcomes.settle(contract, SYSTEM, today=contract.window_end + timedelta(days=1))
    return contract


@pytest.fixture
def market(app, dbs):
    return two_providers(app, dbs)


def two_providers(app, dbs):
    """Two providers in one pool, each with an OEE package (outcome plan) for machining."""
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "rank")
    rival, owner = provider_with_owner("rival@rank.cn")
    membership(dbs, rival, p.agency)

    def package(provider, user, title, price=10_000_00):
        plans = (OUTCOME, catalog.PlanFields(kind="one_time", name="买断", amount_fen=price))
        return published_package(app, dbs, provider, user, plans=plans, title=title)

    p.first = package(p.provider, p.provider_owner, "设备联网甲")
    p.second = package(rival, owner, "设备联网乙")
    p.rival = rival
    return p


def machining_firm(dbs):
    org = OrganisationFactory(industry_code="machining", employees=50)
    return org, UserFactory(org=org, email="boss@rank.cn")


def titles(app, dbs, firm, d):
    """The recommendation and the ranked titles of the two packages (the pilot's own
    equipment-networking package left out)."""
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    ranked = [
        s
        for s in rec.ranked["equipment_networking"]
        if s.version.title in ("设备联网甲", "设备联网乙")
    ]
    rec.ranked["equipment_networking"] = ranked
    return rec, [s.version.title for s in ranked]


def test_met_contracts_in_the_same_industry_outrank_missed_ones_and_are_cited(
    app, client, dbs, market
):
    firm = machining_firm(dbs)
    d = diagnose(app, dbs, firm, ["downtime"])
    rec, ranked = titles(app, dbs, firm, d)
    assert ranked == ["设备联网甲", "设备联网乙"]  # alike: the older first
    # the first one's buyers missed their targets; the second one's met them
    for _ in range(2):
        contract_on(app, dbs, market, market.first, enterprise(), "62")
    for value in ("66", "67", "68"):
        contract_on(app, dbs, market, market.second, enterprise(), value)
    rec, ranked = titles(app, dbs, firm, d)
    assert ranked == ["设备联网乙", "设备联网甲"]
    second, first = rec.ranked["equipment_networking"]
    assert (second.results_points, first.results_points) == (6 + 1, -4)  # +11.7 %: one point
    assert second.merit == second.score + 7 and first.merit == first.score - 4
    # three small machining firms like this one: OEE +7.0 points (the median) in 4 months
    assert second.evidence[0] == (
        "3 家与您同规模的机械加工企业达标：设备综合效率（OEE） +7.0 个百分点，用时 4 个月"
    )
    assert "3 个按效果付费合约中有 3 个经核实的效果数据证明达标" in second.evidence
    assert first.evidence[:2] == [
        "机械加工行业尚无达标合约",
        "2 家机械加工企业未达标",
    ]

    client.login("boss@rank.cn")
    page = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "为什么这样排序" in page and "每个达标的按效果付费合约加 2 分" in page
    assert "用时 4 个月" in page
    assert f"排序得分 {second.merit} = 匹配度 {second.score}、经核实的效果 +7、考核 +0" in page
    client.form("/language", {"lang": "en", "next": "/"})
    english = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "Why this order" in english
    assert "3 Machining firms of your size met their target: OEE +7.0 points in 4 months" in (
        english
    )


def test_fewer_than_three_cases_of_the_size_cite_the_wider_base_and_say_so(app, dbs, market):
    firm = machining_firm(dbs)
    d = diagnose(app, dbs, firm, ["downtime"])
    # one small firm and one medium firm met their targets with the first package
    contract_on(app, dbs, market, market.first, enterprise(), "70", days=65)
    medium = enterprise(employees=400, revenue=30_000_000_00)
    contract_on(app, dbs, market, market.first, medium, "66", days=65)
    contract_on(app, dbs, market, market.first, enterprise(industry="textile"), "62")
    rec, _ = titles(app, dbs, firm, d)
    first = rec.ranked["equipment_networking"][0]
    assert first.version.title == "设备联网甲"
    assert first.evidence[:2] == [
        "2 家机械加工企业（含各种规模；与您同规模的不足三家）达标："
        "设备综合效率（OEE） +8.0 个百分点，用时 2 个月",
        "不足三例：只是初步迹象，尚不能证明",
    ]
    # the textile firm's miss counts in the package's record, not among the peers
    assert "3 个按效果付费合约中有 2 个经核实的效果数据证明达标" in first.evidence
    # and a package without any verified result says nothing it does not have
    second = rec.ranked["equipment_networking"][1]
    assert second.evidence == [] and second.results_points == 0


def test_a_provider_that_failed_an_evaluation_ranks_lower_and_a_suspended_one_not_at_all(
    app, client, dbs, market
):
    from datetime import date

    from marketplace.pool.models import PoolMembership, PoolStatus
    from tests.functional.oversight.test_track_record import evaluation

    firm = machining_firm(dbs)
    d = diagnose(app, dbs, firm, ["downtime"])
    evaluation(dbs, market.agency, market.provider, "2026 年一季度", date(2026, 3, 31), True, 800)
    evaluation(dbs, market.agency, market.provider, "2026 年二季度", date(2026, 6, 30), False, 500)
    evaluation(dbs, market.agency, market.rival, "2026 年二季度", date(2026, 6, 30), True, 750)
    rec, ranked = titles(app, dbs, firm, d)
    assert ranked == ["设备联网乙", "设备联网甲"]
    second, first = rec.ranked["equipment_networking"]
    assert (first.verdict_points, second.verdict_points) == (2 - 3, 2)
    assert "服务商考核：通过 1 轮，未通过 1 轮" in first.evidence
    # suspended from the pool: out of the catalogue, so out of the recommendations
    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == market.rival.id))
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    rec, ranked = titles(app, dbs, firm, d)
    assert ranked == ["设备联网甲"]


# access and bad input


def test_recommendations_are_the_enterprises_own(app, client, dbs, seller, firm):
    d = diagnose(app, dbs, firm, ["visibility"])
    UserFactory(email="other@recs.cn")
    client.login("other@recs.cn")
    assert client.get(f"/diagnosis/{d.id}/recommendations").status_code == 404
    assert client.form(f"/diagnosis/{d.id}/bundle").status_code == 404
    client.form("/logout")
    client.login("p@recs.cn")
    assert client.get(f"/diagnosis/{d.id}/recommendations").status_code == 403
    assert client.get("/diagnosis/999999/recommendations").status_code == 403
    client.form("/logout")
    client.login("boss@recs.cn")
    assert client.get("/diagnosis/999999/recommendations").status_code == 404


def test_with_nothing_to_recommend_the_page_says_so_and_taking_stores_nothing(
    app, client, dbs, firm
):
    d = diagnose(app, dbs, firm, ["visibility"])
    client.login("boss@recs.cn")
    assert "目录中暂时没有合适的转型包" in client.text(f"/diagnosis/{d.id}/recommendations")
    before = dbs.scalar(select(func.count(Bundle.id)))
    response = client.form(f"/diagnosis/{d.id}/bundle")
    assert response.headers["Location"].endswith(f"/diagnosis/{d.id}/recommendations")
    assert dbs.scalar(select(func.count(Bundle.id))) == before


def test_the_recommendations_page_does_not_grow_with_the_catalogue(
    app, client, dbs, seller, firm, count_queries
):
    """The candidates, the packages that may close a gap, the check and the vouchers: the
    same number of queries with one candidate per place as with many."""
    seller("看板", "production_visualisation", interfaces=NEEDS_ORDERS)
    seller("质量追溯", "quality_traceability")
    seller("云 ERP", "erp", interfaces=MAKES_ORDERS)
    d = diagnose(app, dbs, firm, ["visibility", "quality"])
    client.login("boss@recs.cn")
    path = f"/diagnosis/{d.id}/recommendations"

    def measure():
        client.get(path)
        count_queries.count = 0
        assert client.get(path).status_code == 200
        return count_queries.count

    few = measure()
    for n in range(3):
        seller(f"看板{n}", "production_visualisation", interfaces=NEEDS_ORDERS, price=11_000_00)
        seller(f"追溯{n}", "quality_traceability", price=11_000_00)
        seller(f"ERP{n}", "erp", interfaces=MAKES_ORDERS, price=11_000_00)
        seller(f"MES{n}", "mes", interfaces=NEEDS_ORDERS, price=11_000_00)
    assert measure() == few


def test_a_lower_is_better_metric_is_cited_going_down_and_in_english(app, client, dbs, market):
    from dataclasses import replace

    defects = replace(
        OUTCOME, metric_code="defect_rate", target_kind="relative", target_value=Decimal("20")
    )
    plans = (defects, catalog.PlanFields(kind="one_time", name="买断", amount_fen=10_000_00))
    package = published_package(
        app, dbs, market.provider, market.provider_owner, plans=plans, title="设备联网丙"
    )
    for value in ("45", "42", "40"):  # from a baseline of 60 %
        contract_on(app, dbs, market, package, enterprise(), value)
    firm = machining_firm(dbs)
    d = diagnose(app, dbs, firm, ["downtime"])
    with services(app, dbs):
        rec = diagnosis.recommend(firm[0], d)
    cited = next(s for s in rec.ranked["equipment_networking"] if s.version.title == "设备联网丙")
    assert cited.evidence[0] == (
        "3 家与您同规模的机械加工企业达标：不良率 −18.0 个百分点，用时 4 个月"
    )
    client.login("boss@rank.cn")
    client.form("/language", {"lang": "en", "next": "/"})
    english = client.text(f"/diagnosis/{d.id}/recommendations")
    assert "3 Machining firms of your size met their target: Defect rate −18.0 points" in english
