"""A diagnosis report (issue 21): maturity by dimension against the industry's peers, the
answers that pulled each dimension down, a phased roadmap (quick wins first, then what builds
on them), printable on A4 and shared with an agency, revocably, each opening audited."""

import re

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.catalog import services as catalog
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import report as reports
from marketplace.diagnosis import services as diagnosis
from marketplace.diagnosis.models import ReportShare
from marketplace.money import format_fen
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.voucher_helpers import pilot

QUALITY_BY_HAND = (("consumes", "csv_excel", "quality_records"),)


def answers(value=1, **overrides):
    return {**{q.code: value for q in qn.QUESTIONS}, **overrides}


def diagnose(app, dbs, org, value=1, pains=(), budget="200k_1m", **overrides):
    user = UserFactory(org=org)
    with services(app, dbs):
        return diagnosis.diagnose(
            org, answers(value, **overrides), list(pains), budget, Actor(user.id, org.id, None)
        )


def build(app, dbs, d):
    with services(app, dbs):
        return reports.build(d, "zh")


@pytest.fixture
def firm(dbs):
    org = OrganisationFactory(industry_code="machining")
    UserFactory(org=org, email="boss@report.cn")
    return org


# 1. peers


def test_peer_median_and_quartiles_from_each_peers_latest_diagnosis(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, 1)  # 25 in every area
    peers = [OrganisationFactory(industry_code="machining") for _ in range(5)]
    diagnose(app, dbs, peers[4], 0)  # an older diagnosis: not counted
    for value, peer in enumerate(peers):  # 0, 25, 50, 75, 100
        diagnose(app, dbs, peer, value)
    diagnose(app, dbs, OrganisationFactory(industry_code="textile"), 4)  # another industry
    diagnose(app, dbs, firm, 4)  # the enterprise itself is no peer, even later

    figures = build(app, dbs, d).peers
    assert (figures.count, figures.same_industry) == (5, True)
    assert figures.spreads["equipment"] == reports.Spread(25, 50, 75)

    client.login("boss@report.cn")
    page = client.text(f"/diagnosis/{d.id}/report")
    assert "与平台上 5 家同行业其他企业的最新诊断相比" in page
    row = re.search(r'<tr id="peer-equipment">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<td class="num">(?:<strong>)?([\d.]+)', row) == ["25", "25", "50", "75"]


def test_fewer_than_three_peers_of_the_industry_compares_with_all(app, english, dbs, firm):
    d = diagnose(app, dbs, firm, 2)
    diagnose(app, dbs, OrganisationFactory(industry_code="machining"), 0)
    diagnose(app, dbs, OrganisationFactory(industry_code="textile"), 4)
    diagnose(app, dbs, OrganisationFactory(industry_code="textile"), 4)

    figures = build(app, dbs, d).peers
    assert (figures.industry_count, figures.same_industry, figures.count) == (1, False, 3)
    assert figures.spreads["data"] == reports.Spread(50, 100, 100)

    english.login("boss@report.cn")
    page = english.text(f"/diagnosis/{d.id}/report")
    assert "Only 1 other enterprise of the same industry has diagnosed itself, fewer than 3" in page
    assert "Compared with the latest diagnoses of 3 other enterprises of any industry" in page


def test_no_peer_at_all_shows_dashes(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, 2)
    assert build(app, dbs, d).peers.spreads["data"] is None
    client.login("boss@report.cn")
    assert client.get(f"/diagnosis/{d.id}/report").status_code == 200


# 2. reasons


def test_the_answers_that_pulled_each_area_down_costliest_first(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, 4, eq_connected=3, eq_maintenance=0)
    found = build(app, dbs, d).reasons
    assert [(r.question.code, r.lost) for r in found["equipment"]] == [
        ("eq_maintenance", 4),
        ("eq_connected", 1),
    ]
    assert found["quality"] == []
    client.login("boss@report.cn")
    page = client.text(f"/diagnosis/{d.id}/report")
    reasons = re.search(r'id="reasons-equipment">(.*?)</ul>', page, re.S).group(1)
    assert reasons.index("坏了再修") < reasons.index("大部分")
    assert "扣 4 分" in reasons
    assert "每项回答都是最佳实践。" in page


# 3. roadmap


@pytest.fixture
def seller(app, dbs):
    agency, _ = agency_with_official("o@report.cn")
    provider, owner = provider_with_owner("p@report.cn")
    membership(dbs, provider, agency)

    def publish(title, category, price=10_000_00, days=7):
        plan = catalog.PlanFields(kind="one_time", name="买断", amount_fen=price)
        return published_package(
            app,
            dbs,
            provider,
            owner,
            plans=[plan],
            interfaces=QUALITY_BY_HAND,
            title=title,
            category_code=category,
            industry_codes=["machining"],
            size_tiers=["micro", "small"],
            deployment="saas",
            go_live_days=days,
        )

    return publish


def phases_of(report):
    return {s.category: p.number for p in report.phases for s in p.steps}


def test_roadmap_puts_quick_wins_first_then_what_builds_on_them(app, client, dbs, seller, firm):
    seller("设备联网网关", "equipment_networking", price=8_000_00, days=7)
    seller("设备联网平台", "equipment_networking", price=30_000_00, days=20)
    seller("车间看板", "production_visualisation", days=10)
    seller("预测性维护", "predictive_maintenance", days=14)
    seller("质量追溯", "quality_traceability", price=20_000_00, days=15)
    # every area scores 25 (below "in place"); the chosen pain point: downtime
    d = diagnose(app, dbs, firm, 1, pains=["downtime"])
    report = build(app, dbs, d)
    phase = phases_of(report)
    assert phase["equipment_networking"] == 1  # light, builds on nothing: a quick win
    assert phase["quality_traceability"] == 1
    assert phase["production_visualisation"] == 2  # needs the networked equipment's data
    assert phase["predictive_maintenance"] == 3  # needs the dashboards' history
    assert phase["mes"] == 2  # no package in the catalogue: not a quick win
    assert phase["aps"] == 3  # plans on the MES's work orders
    assert report.phases[0].quick_wins and not report.phases[1].quick_wins
    first = report.phases[0].steps[0]
    assert (first.category, first.pain_points) == ("equipment_networking", ["downtime"])
    assert (first.packages, first.price_low_fen, first.price_high_fen) == (2, 8_000_00, 30_000_00)
    assert (first.go_live_low, first.go_live_high) == (7, 20)
    maintenance = next(s for s in report.phases[2].steps if s.category == "predictive_maintenance")
    assert maintenance.builds_on == ["设备联网", "生产可视化"]

    client.login("boss@report.cn")
    page = client.text(f"/diagnosis/{d.id}/report")
    order = re.findall(r'data-category="([a-z_]+)"', page)
    assert order.index("equipment_networking") < order.index("production_visualisation")
    assert order.index("production_visualisation") < order.index("predictive_maintenance")
    assert f"{format_fen(8_000_00)} 至 {format_fen(30_000_00)}" in page
    assert "7 至 20 天上线" in page


def test_an_area_in_place_is_no_step_and_no_foundation(app, dbs, seller, firm):
    seller("车间看板", "production_visualisation", days=10)
    # equipment in place (100), data weakest (0): dashboards without a networking step
    d = diagnose(app, dbs, firm, 3, eq_connected=4, eq_maintenance=4, data_capture=0, data_use=0)
    phase = phases_of(build(app, dbs, d))
    assert "equipment_networking" not in phase
    assert phase["production_visualisation"] == 1


def test_a_package_over_half_the_budget_or_slow_is_no_quick_win(app, dbs, seller, firm):
    seller("质量追溯", "quality_traceability", price=40_000_00, days=7)  # budget under ¥50,000
    seller("仓储管理", "wms", price=5_000_00, days=60)
    d = diagnose(app, dbs, firm, 1, budget="under_50k")
    steps = {s.category: s for p in build(app, dbs, d).phases for s in p.steps}
    assert not steps["quality_traceability"].quick
    assert not steps["wms"].quick


# 4. print


def test_the_report_prints_as_a4_without_navigation_or_buttons(app, client, dbs, firm):
    d = diagnose(app, dbs, firm, 1)
    client.login("boss@report.cn")
    page = client.text(f"/diagnosis/{d.id}/report")
    assert "data-print hidden" in page and "js/print.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script (CSP)
    assert page.count('class="card report-section') == 4  # peers, reasons, roadmap, share
    css = client.text("/static/css/app.css")
    assert "@page { size: A4;" in css
    printed = "".join(re.findall(r"@media print \{(.*?)\n\}", css, re.S))
    assert ".site-header, .site-footer" in printed and "button" in printed
    assert ".report .report-section { break-before: page; }" in printed


# 5. sharing


@pytest.fixture
def shared_world(app, dbs):
    p = pilot(app, dbs, "rs")
    programme = p.programme()
    p.issue_to(programme)
    region_agency = OrganisationFactory(agency=True, region_code="130100")
    UserFactory(org=region_agency, email="city@rs.cn")
    stranger = OrganisationFactory(agency=True, region_code="350200")
    UserFactory(org=stranger, email="far@rs.cn")
    d = diagnose(app, dbs, p.enterprise, 1)
    return p, d, region_agency, stranger


def shares(dbs):
    return dbs.scalar(select(func.count()).select_from(ReportShare))


def test_share_with_the_programmes_agency_open_audited_then_revoke(app, client, dbs, shared_world):
    p, d, region_agency, stranger = shared_world
    client.login("owner@rs.cn")
    page = client.text(f"/diagnosis/{d.id}/report")
    assert p.agency.name in page and region_agency.name in page
    assert stranger.name not in page
    response = client.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(p.agency.id)})
    assert response.status_code == 302
    share = dbs.scalars(select(ReportShare)).one()
    assert (share.agency_id, share.active) == (p.agency.id, True)
    client.get("/logout")

    client.login("official@rs.cn")
    assert p.enterprise.name in client.text("/agency/diagnosis-reports")
    report = client.get(f"/agency/diagnosis-reports/{d.id}")
    assert report.status_code == 200
    assert "路线图" in report.get_data(as_text=True)
    assert 'id="share"' not in report.get_data(as_text=True)  # officials cannot reshare
    viewed = dbs.scalars(
        select(AuditEntry).where(AuditEntry.action == "diagnosis.report_viewed")
    ).one()
    assert (viewed.actor_org_id, viewed.object_id) == (p.agency.id, str(d.id))
    client.get("/logout")

    client.login("owner@rs.cn")
    revoked = client.form(f"/diagnosis/{d.id}/report/shares/{share.id}/revoke")
    assert revoked.status_code == 302
    dbs.refresh(share)
    assert not share.active
    client.get("/logout")
    client.login("official@rs.cn")
    assert client.get(f"/agency/diagnosis-reports/{d.id}").status_code == 404
    assert p.enterprise.name not in client.text("/agency/diagnosis-reports")


def test_the_regions_agency_may_be_shared_with(app, client, dbs, shared_world):
    _p, d, region_agency, _stranger = shared_world
    client.login("owner@rs.cn")
    client.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(region_agency.id)})
    client.get("/logout")
    client.login("city@rs.cn")
    assert client.get(f"/agency/diagnosis-reports/{d.id}").status_code == 200


def test_others_get_404(app, client, dbs, shared_world):
    p, d, _region_agency, _stranger = shared_world
    client.login("owner@rs.cn")
    client.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(p.agency.id)})
    client.get("/logout")
    # an agency it was not shared with
    client.login("far@rs.cn")
    assert client.get(f"/agency/diagnosis-reports/{d.id}").status_code == 404
    client.get("/logout")
    # another enterprise: neither the report nor its shares
    other = OrganisationFactory()
    UserFactory(org=other, email="other@rs.cn")
    client.login("other@rs.cn")
    assert client.get(f"/diagnosis/{d.id}/report").status_code == 404
    share_id = dbs.scalars(select(ReportShare.id)).one()
    assert client.form(f"/diagnosis/{d.id}/report/shares/{share_id}/revoke").status_code == 404
    assert (
        client.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(p.agency.id)}).status_code
        == 404
    )
    assert dbs.scalars(select(ReportShare)).one().active


@pytest.mark.parametrize("value", ["stranger", "abc", "", "99999999"])
def test_bad_agency_is_refused_and_stores_nothing(app, client, dbs, shared_world, value):
    _p, d, _region_agency, stranger = shared_world
    client.login("owner@rs.cn")
    agency_id = str(stranger.id) if value == "stranger" else value
    response = client.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": agency_id})
    assert response.status_code == 422
    assert "请选择您所在地区的主管部门" in response.get_data(as_text=True)
    assert shares(dbs) == 0


def test_sharing_twice_is_refused_in_english(app, english, dbs, shared_world):
    p, d, _region_agency, _stranger = shared_world
    english.login("owner@rs.cn")
    english.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(p.agency.id)})
    again = english.form(f"/diagnosis/{d.id}/report/shares", {"agency_id": str(p.agency.id)})
    assert again.status_code == 422
    assert "The report is already shared with this agency." in again.get_data(as_text=True)
    assert shares(dbs) == 1
