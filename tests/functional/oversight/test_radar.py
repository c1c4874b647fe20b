"""The demand radar (issue 21): an official sees, by industry × district, the weakest dimensions
and most chosen pain points of their enterprises' latest diagnoses, against the supply of their
pool per category, with the gaps flagged. Figures hand-computed on two industries × two
districts; another agency's enterprises and pool are not counted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketplace.diagnosis.models import Diagnosis
from marketplace.oversight import radar
from marketplace.pool.models import PoolStatus
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    membership,
    provider_with_owner,
    published_package,
    services,
)

DIMS = ("equipment", "data", "production", "quality", "supply_chain")


def diagnosed(dbs, enterprise, scores, pains):
    d = Diagnosis(
        enterprise_id=enterprise.id,
        answers={},
        pain_points=list(pains),
        budget="under_50k",
        dimension_scores=dict(zip(DIMS, scores, strict=True)),
        overall=sum(scores) // 5,
        level=2,
    )
    dbs.add(d)
    dbs.commit()
    return d


@pytest.fixture
def city(app, dbs):
    """Shijiazhuang's agency with five diagnosed enterprises in two industries and two
    districts, and a pool: equipment networking from two providers, MES from one (a third,
    suspended, does not count); Xiamen's agency with its own enterprise and pool."""
    agency = OrganisationFactory(agency=True, region_code="130100")
    official = UserFactory(org=agency, email="radar@sjz.cn")
    xiamen = OrganisationFactory(agency=True, region_code="350200")
    UserFactory(org=xiamen, email="radar@xm.cn")

    def firm(industry, district):
        return OrganisationFactory(industry_code=industry, region_code=district)

    a = firm("machining", "130102")
    diagnosed(dbs, a, (90, 90, 90, 90, 90), ["energy"])  # an older diagnosis: not counted
    diagnosed(dbs, a, (20, 40, 60, 80, 50), ["downtime", "quality"])
    diagnosed(dbs, firm("machining", "130102"), (40, 30, 60, 70, 50), ["downtime"])
    diagnosed(dbs, firm("textile", "130102"), (60, 60, 20, 50, 40), ["late_delivery"])
    diagnosed(dbs, firm("textile", "130104"), (70, 50, 40, 30, 60), ["quality", "inventory"])
    diagnosed(dbs, firm("machining", "130104"), (50, 50, 50, 50, 10), ["sales"])
    firm("machining", "130102")  # not diagnosed: not counted
    diagnosed(dbs, firm("machining", "350203"), (0, 90, 90, 90, 90), ["energy"])  # Xiamen's

    first, first_owner = provider_with_owner("p1@radar.cn")
    second, second_owner = provider_with_owner("p2@radar.cn")
    suspended, suspended_owner = provider_with_owner("p3@radar.cn")
    theirs, theirs_owner = provider_with_owner("p4@radar.cn")
    membership(dbs, first, agency)
    membership(dbs, second, agency)
    membership(dbs, suspended, agency, PoolStatus.SUSPENDED)
    membership(dbs, suspended, xiamen)  # admitted elsewhere: its packages are visible
    membership(dbs, theirs, xiamen)
    published_package(app, dbs, first, first_owner)  # equipment networking, ¥24,000
    published_package(app, dbs, first, first_owner, category_code="mes", title="车间 MES（轻量版）")
    published_package(app, dbs, second, second_owner, title="设备联网 云网关")
    published_package(app, dbs, suspended, suspended_owner, category_code="mes", title="MES 甲")
    published_package(
        app, dbs, theirs, theirs_owner, category_code="quality_traceability", title="质量追溯"
    )
    return agency, official, xiamen


def test_the_grid_on_fixed_data(app, dbs, city):
    agency, _official, _xiamen = city
    with services(app, dbs):
        found = radar.radar(agency, radar.Filters())
    assert [(c.industry, c.district, c.enterprises) for c in found.cells] == [
        ("machining", "130102", 2),
        ("machining", "130104", 1),
        ("textile", "130102", 1),
        ("textile", "130104", 1),
    ]
    assert found.industries == ["machining", "textile"]
    assert found.districts == ["130102", "130104"]
    cell = found.cell("machining", "130102")
    assert cell is not None
    # averages of the latest diagnoses (20, 40) and (40, 30) ...: the weakest first
    assert cell.dimensions == [
        ("equipment", Decimal("30.0")),
        ("data", Decimal("35.0")),
        ("supply_chain", Decimal("50.0")),
        ("production", Decimal("60.0")),
        ("quality", Decimal("75.0")),
    ]
    assert cell.weakest == [("equipment", Decimal("30.0")), ("data", Decimal("35.0"))]
    assert cell.pain_points == [("downtime", 2), ("quality", 1)]  # not the old "energy"
    ties = found.cell("machining", "130104")
    assert ties is not None and ties.weakest == [
        ("supply_chain", Decimal("10.0")),
        ("equipment", Decimal("50.0")),  # ties in the questionnaire's order
    ]
    assert found.total.enterprises == 5
    assert found.total.pains["quality"] == 2 and found.total.pains["energy"] == 0


def test_demand_against_supply_and_the_gaps(app, dbs, city):
    agency, _official, _xiamen = city
    with services(app, dbs):
        found = radar.radar(agency, radar.Filters())
    rows = {r.category: r for r in found.categories}
    # who needs what: a chosen pain point's categories or the weakest dimension's
    demand = {c: (r.demand, r.by_pain, r.by_dimension) for c, r in rows.items()}
    assert demand == {
        "mes": (3, 3, 1),
        "predictive_maintenance": (2, 2, 1),
        "equipment_networking": (2, 2, 1),
        "quality_traceability": (2, 2, 1),
        "wms": (2, 1, 1),
        "erp": (2, 2, 1),
        "aps": (1, 1, 1),
        "production_visualisation": (1, 0, 1),
        "energy_management": (1, 0, 1),
        "crm": (1, 1, 1),
        "data_platform": (1, 0, 1),
    }
    assert found.categories[0].category == "mes"  # the most needed first
    networking = rows["equipment_networking"].supply
    assert (networking.providers, networking.packages) == (2, 2)
    assert networking.min_price_fen == networking.max_price_fen == 24_000_00
    mes = rows["mes"].supply
    assert (mes.providers, mes.packages) == (1, 1)  # the suspended provider's is not counted
    assert rows["quality_traceability"].supply.providers == 0  # Xiamen's pool, not theirs
    assert rows["equipment_networking"].gap is None
    assert [(r.category, r.gap) for r in found.gaps] == [
        ("mes", radar.THIN_SUPPLY),
        ("predictive_maintenance", radar.NO_SUPPLY),
        ("quality_traceability", radar.NO_SUPPLY),
        ("wms", radar.NO_SUPPLY),
        ("erp", radar.NO_SUPPLY),
        ("aps", radar.NO_SUPPLY),
        ("production_visualisation", radar.NO_SUPPLY),
        ("energy_management", radar.NO_SUPPLY),
        ("crm", radar.NO_SUPPLY),
        ("data_platform", radar.NO_SUPPLY),
    ]


def test_filters_narrow_to_a_cell(app, dbs, city):
    agency, _official, _xiamen = city
    with services(app, dbs):
        one = radar.radar(agency, radar.Filters(industry="textile", district="130104"))
        machining = radar.radar(agency, radar.Filters(industry="machining"))
        whole_city = radar.radar(agency, radar.Filters(district="130100"))
    assert [(c.industry, c.district) for c in one.cells] == [("textile", "130104")]
    assert one.total.dimensions[0] == ("quality", Decimal("30.0"))
    assert {r.category: r.demand for r in one.categories if r.demand} == {
        "quality_traceability": 1,
        "mes": 1,
        "wms": 1,
        "erp": 1,
    }
    assert machining.total.enterprises == 3
    assert whole_city.total.enterprises == 5


def test_another_agency_sees_only_its_own(app, dbs, city):
    _agency, _official, xiamen = city
    with services(app, dbs):
        found = radar.radar(xiamen, radar.Filters())
    assert [(c.industry, c.district, c.enterprises) for c in found.cells] == [
        ("machining", "350203", 1)
    ]
    assert [(d, str(score)) for d, score in found.cells[0].weakest] == [
        ("equipment", "0.0"),  # a score of nothing is a score, shown as such
        ("data", "90.0"),
    ]
    rows = {r.category: r for r in found.categories}
    assert rows["quality_traceability"].supply.providers == 1
    assert rows["mes"].supply.providers == 1  # admitted here, suspended in Shijiazhuang
    assert rows["energy_management"].gap == radar.NO_SUPPLY


def test_voucher_holders_outside_the_jurisdiction_count(app, dbs):
    """An enterprise holding one of the agency's vouchers is its enterprise wherever it is."""
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "radarv")
    p.agency.region_code = "350200"  # the pilot's enterprise is in Shijiazhuang
    dbs.commit()
    diagnosed(dbs, p.enterprise, (50, 50, 50, 50, 50), [])
    with services(app, dbs):
        assert radar.radar(p.agency, radar.Filters()).cells == []
    p.issue_to(p.programme())
    with services(app, dbs):
        assert radar.radar(p.agency, radar.Filters()).total.enterprises == 1


def test_verified_results_come_from_the_track_record(app, dbs):
    from tests.functional.oversight.test_track_record import settled
    from tests.functional.voucher_helpers import pilot

    p = pilot(app, dbs, "radart")
    settled(app, dbs, p, "66")  # met
    line, _ = settled(app, dbs, p, "62")  # missed
    with services(app, dbs):
        rows = {r.category: r for r in radar.radar(p.agency, radar.Filters()).categories}
    supply = rows[line.category_code].supply
    assert (supply.contracts_met, supply.contracts_missed) == (1, 1)


def test_the_page(client, city):
    _agency, official, _xiamen = city
    client.login(official.email)
    html = client.text("/agency/demand")
    assert "需求雷达" in html
    assert 'href="/agency/demand"' in html and 'href="/cases"' in html  # the officials' menu
    grid = html.split('id="grid"', 1)[1].split("</section>", 1)[0]
    assert 'href="/agency/demand?industry=machining&amp;district=130102"' in grid
    assert 'data-enterprises="2"' in grid and "石家庄市长安区" in grid and "机械加工" in grid
    gaps = html.split('id="gaps"', 1)[1].split("</section>", 1)[0]
    assert gaps.index('data-category="mes"') < gaps.index('data-category="predictive_maintenance"')
    assert "供给不足" in gaps and "有需求无供给" in gaps
    assert 'data-category="equipment_networking"' not in gaps
    drill = client.text("/agency/demand?industry=machining&district=130102")
    detail = drill.split('id="detail"', 1)[1].split("</section>", 1)[0]
    assert "机械加工 · 石家庄市长安区" in detail
    assert detail.index('data-dimension="equipment"') < detail.index('data-dimension="data"')


def test_bad_filters_are_said(client, city):
    _agency, official, _xiamen = city
    client.login(official.email)
    page = client.get("/agency/demand?industry=spaceships")
    assert page.status_code == 422
    assert "不是有效的选项" in page.text or "无效" in page.text
    export = client.get("/agency/demand.csv?district=999999")
    assert export.status_code == 302 and "/agency/demand?district=999999" in export.location


def test_empty_state(client, dbs):
    agency = OrganisationFactory(agency=True, region_code="420100")
    official = UserFactory(org=agency, email="radar@wh.cn")
    client.login(official.email)
    page = client.get("/agency/demand")
    assert page.status_code == 200
    assert 'id="empty"' in page.text and 'id="grid"' not in page.text
    export = client.get("/agency/demand.csv")
    assert export.get_data(as_text=True).count("\r\n") == 1  # the header alone


def test_the_csv(client, city):
    _agency, official, _xiamen = city
    client.login(official.email)
    export = client.get("/agency/demand.csv?industry=machining")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("所属行业,区县,已诊断企业,最薄弱维度,选择最多的痛点,")
    assert lines[0].endswith(",行业代码,区县代码")
    assert len(lines) == 3
    assert lines[1].startswith("机械加工,石家庄市长安区,2,设备联网 30.0; 数据采集与应用 35.0,")
    assert lines[1].endswith(",machining,130102")
    client.set_cookie("lang", "en")
    english = client.get("/agency/demand.csv?industry=machining").get_data(as_text=True)
    assert english.lstrip("\ufeff").startswith(
        "industry,district,diagnosed_enterprises,weakest_dimensions,top_pain_points,"
        "score_equipment,"
    )


@pytest.mark.parametrize("email", ["owner@radar-e.cn", "owner@radar-p.cn"])
def test_enterprises_and_providers_may_not(client, dbs, email):
    if "radar-e" in email:
        UserFactory(org=OrganisationFactory(), email=email)
    else:
        provider_with_owner(email)
    client.login(email)
    assert client.get("/agency/demand").status_code == 403
    assert client.get("/agency/demand.csv").status_code == 403
