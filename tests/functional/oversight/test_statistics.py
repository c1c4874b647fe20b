"""The officials' statistics: figures on fixed data, filters kept in the URL, charts with
their tables and CSV exports, and another agency's programme answered as not found."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from sqlalchemy import update

from marketplace.accounts.models import OrgKind
from marketplace.orders.models import OrderLine
from marketplace.oversight import stats
from marketplace.shared_cache import LocalCache
from tests.factories import OrganisationFactory, UserFactory, diagnosis
from tests.functional.catalog_helpers import services
from tests.functional.redis_helpers import instances, shared_redis
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order


@pytest.fixture
def served(app, dbs, monkeypatch):
    """One accepted line paid partly by a voucher: ordered, live 3 days later, accepted at 5."""

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="stats")
    programme = p.programme()
    p.issue_to(programme)
    line = accepted_order(app, dbs, p)
    ordered = line.created_at
    assert line.accepted_at is not None and line.category_code == "equipment_networking"
    # rewrites the line's past as its transitions would have written it: moments and days
    dbs.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id)
        .values(
            delivered_at=ordered + timedelta(days=3, hours=2),
            days_to_go_live=3,
            accepted_at=ordered + timedelta(days=5, hours=1),
            days_to_acceptance=5,
        )
    )
    for level in (2, 4):
        diagnosis(p.enterprise.id, level)
    dbs.commit()
    return p, programme


def test_median_of_a_histogram():
    assert stats.median([]) is None
    assert stats.median([(3, 1)]) == 3
    assert stats.median([(1, 1), (3, 1)]) == 2
    assert stats.median([(1, 2), (9, 1)]) == 1
    assert stats.median([(0, 1), (2, 2), (10, 1)]) == 2


def test_figures_on_fixed_data(app, dbs, served):
    p, programme = served
    with services(app, dbs):
        everything = stats.Filters()
        mine = stats.Filters(programme_id=programme.id)
        money = stats.money(p.agency, mine)
        assert money.rows == [(programme.name, 1_000_000_00, 20_000_00, 0, 20_000_00, 0)]
        assert stats.lead_times(p.agency, everything).rows == [
            ("equipment_networking", 3, 5),
            ("all", 3, 5),
        ]
        assert stats.orders_by_category(p.agency, mine).rows == [
            ("equipment_networking", 1, 60_000_00)
        ]
        industry = p.enterprise.industry_code
        assert stats.enterprises_by(p.agency, mine, "industry").rows == [(industry, 1)]
        assert stats.enterprises_by(p.agency, mine, "size").rows[0][1] == 1
        maturity = dict((r[0], r[1:]) for r in stats.maturity(p.agency, everything).rows)
        assert maturity[2] == (1, 0) and maturity[4] == (0, 1)
        burn = stats.burn(p.agency, mine)
        assert sum(r[1] for r in burn.rows) == 20_000_00
        # Filters narrow every figure.
        other = stats.Filters(category="quality_traceability")
        assert stats.orders_by_category(p.agency, other).rows == []
        assert stats.enterprises_by(p.agency, stats.Filters(region="350000"), "region").rows == []
        region = p.enterprise.region_code
        city = region[:4] + "00"
        assert stats.enterprises_by(p.agency, stats.Filters(region=city), "region").rows == [
            (region, 1)
        ]
        later = stats.Filters(since=p.enterprise.created_at.date() + timedelta(days=2))
        assert stats.lead_times(p.agency, later).rows == [("all", None, None)]


def test_an_agency_counts_its_own_jurisdictions_enterprises(app, dbs, served):
    """A Xiamen enterprise buying from a provider of Shijiazhuang's pool is Xiamen's to count:
    the Shijiazhuang agency's statistics leave it out (its jurisdiction: the division in its
    credit code, or its region)."""
    from marketplace.orders import services as orders
    from marketplace.security import Actor

    p, _programme = served
    elsewhere = OrganisationFactory(region_code="350203", industry_code="electronics")
    buyer = UserFactory(org=elsewhere, email="buyer@xm-stats.cn")
    with services(app, dbs):
        orders.checkout(elsewhere, p.bundle(elsewhere, buyer), Actor(buyer.id, elsewhere.id, None))
    p.agency.region_code = "130100"  # Shijiazhuang; without one, its credit code's division
    dbs.commit()
    assert p.agency.jurisdiction == "130100"
    with services(app, dbs):
        everything = stats.Filters()
        regions = dict(stats.enterprises_by(p.agency, everything, "region").rows)
        assert regions == {p.enterprise.region_code: 1}
        industries = dict(stats.enterprises_by(p.agency, everything, "industry").rows)
        assert "electronics" not in industries
        lines = sum(row[1] for row in stats.orders_by_category(p.agency, everything).rows)
        assert lines == 1  # the Xiamen order is not counted either
    registered = OrganisationFactory(kind=OrgKind.AGENCY, region_code=None)
    assert registered.jurisdiction == registered.credit_code[2:8] == "130102"


def test_the_statistics_page_with_filters_in_the_url(client, dbs, served):
    p, programme = served
    client.login(p.official.email)
    page = client.get(f"/agency/dashboard?programme={programme.id}&category=equipment_networking")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") >= 5 and "<script" not in html.split("<main", 1)[1]
    assert f'value="{programme.id}" selected' in html or f'value="{programme.id}"' in html
    for key in stats.SECTIONS:
        assert f'id="{key}"' in html
        assert f"/agency/dashboard/{key}.csv?programme={programme.id}" in html
    export = client.get(f"/agency/dashboard/orders_category.csv?programme={programme.id}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    body = export.get_data(as_text=True)
    # made in Chinese, read in Chinese: the category's name, its code in a last column
    assert body.startswith("\ufeff类别,订单行,订单金额（元）,类别代码\r\n")
    assert "设备联网,1,60000.00,equipment_networking" in body
    client.set_cookie("lang", "en")  # in English, the columns' names that scripts read
    english = client.get(f"/agency/dashboard/orders_category.csv?programme={programme.id}")
    text = english.get_data(as_text=True)
    assert text.startswith("\ufeffcategory,order_lines,committed_yuan,category_code\r\n")
    assert "Equipment networking,1,60000.00,equipment_networking" in text
    client.delete_cookie("lang")
    assert client.get("/agency/dashboard?since=2026-13-01").status_code == 422
    assert client.get("/agency/dashboard?since=2026-10-02&until=2026-10-01").status_code == 422
    assert client.get("/agency/dashboard/nothing.csv").status_code == 404
    assert client.get("/agency/dashboard?since=0001-01-01").status_code == 422
    assert client.get("/agency/dashboard?until=9999-12-31").status_code == 422
    assert client.get(f"/agency/dashboard?programme={10**20}").status_code == 404


def test_another_agencys_programme_is_not_found(client, dbs, served):
    _p, programme = served
    other = OrganisationFactory(agency=True)
    UserFactory(org=other, email="official@other-stats.cn")
    client.login("official@other-stats.cn")
    assert client.get(f"/agency/dashboard?programme={programme.id}").status_code == 404
    assert client.get(f"/agency/dashboard/money.csv?programme={programme.id}").status_code == 404
    whole = client.get("/agency/dashboard")
    assert whole.status_code == 200 and programme.name not in whole.text


def test_figures_are_reused_for_a_while(app, dbs, served, monkeypatch):
    p, _programme = served
    calls = []
    real = stats.every_section
    monkeypatch.setattr(stats, "every_section", lambda a, f: calls.append(f) or real(a, f))
    monkeypatch.setitem(app.extensions, "shared_cache", LocalCache())
    with services(app, dbs):
        first_at, first = stats.cached_sections(p.agency, stats.Filters(), 300)
        again_at, again = stats.cached_sections(p.agency, stats.Filters(), 300)
        stats.cached_sections(p.agency, stats.Filters(category="mes"), 300)
        stats.cached_sections(p.agency, stats.Filters(), 0)
    assert again == first and again_at == first_at
    assert len(calls) == 3  # the second view reused the first; other filters and 0 did not


def test_a_page_and_its_csv_read_one_snapshot_whichever_instance_answers(
    app, connection, dbs, database_url, served, monkeypatch
):
    p, _programme = served
    calls = []
    real = stats.every_section
    monkeypatch.setattr(stats, "every_section", lambda a, f: calls.append(f) or real(a, f))
    with shared_redis() as settings, instances(app, database_url) as make:
        one, two = (
            make(connection, STATS_CACHE_SECONDS=300, **settings).test_client() for _ in "12"
        )
        for client in (one, two):
            client.set_cookie("lang", "en")
            client.login(p.official.email)
        page = one.get("/agency/dashboard")
        export = two.get("/agency/dashboard/money.csv")
        again = one.get("/agency/dashboard/burn.csv")
    assert page.status_code == export.status_code == again.status_code == 200
    assert len(calls) == 1  # computed once, by the first instance
    at = export.last_modified
    assert at is not None and again.last_modified == at
    local = at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"money-{local:%Y%m%d-%H%M%S}.csv" in export.headers["Content-Disposition"]
    shown = format_datetime(at, "short", tzinfo=ZoneInfo("Asia/Shanghai"), locale="en")
    assert f"Figures as of {shown}" in page.text
