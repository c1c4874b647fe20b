"""Market concentration: shares, HHI and alerts with their history."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.oversight import concentration
from marketplace.oversight.concentration import Market, ProviderName, Share
from marketplace.oversight.models import HHI_LIMIT, ConcentrationAlert, ConcentrationReading
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    membership,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.voucher_helpers import ONE_TIME, pilot
from tests.functional.vouchers.test_vouchers import accepted_order


def market(*shares_bp):
    return Market.of(
        "mes", [Share(ProviderName(n + 1, f"P{n}"), bp, bp) for n, bp in enumerate(shares_bp)]
    )


def test_a_market_of_a_few_orders_raises_no_alert():
    programme = type("P", (), {"concentration_threshold_bp": 3_000})()
    tiny = Market.of("mes", [Share(ProviderName(1, "P"), 100, 1)])
    assert concentration.breaches(programme, [tiny]) == {}


def test_hhi_and_breaches_on_fixed_shares():
    m = market(5_000, 3_000, 2_000)
    assert m.hhi_value == 50**2 + 30**2 + 20**2 == 3_800
    programme = type("P", (), {"concentration_threshold_bp": 3_000})()
    crossed = concentration.breaches(programme, [m])
    assert set(crossed) == {
        ("mes", "value", "share", 1),
        ("mes", "orders", "share", 1),
        ("mes", "value", "hhi", 0),
        ("mes", "orders", "hhi", 0),
    }
    even = market(2_500, 2_500, 2_500, 2_500)
    assert even.hhi_value == 2_500 and concentration.breaches(programme, [even]) == {}


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="hhi")


def test_one_provider_with_everything_raises_alerts_that_clear_and_stay_in_history(
    app, dbs, p, monkeypatch
):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 1)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        found = concentration.markets(programme)
        assert [m.category for m in found] == ["equipment_networking", "all"]
        assert found[-1].shares[0].value_bp == 10_000 and found[-1].hhi_value == 10_000
        assert concentration.scan(programme, p.official_actor) == (8, 0)
        assert concentration.scan(programme, p.official_actor) == (0, 0)  # already open
        concentration.set_threshold(programme, 10_000, p.official_actor)
        assert concentration.scan(programme, p.official_actor) == (0, 4)  # shares cleared
    assert dbs.scalar(select(func.count(ConcentrationAlert.id))) == 8  # the history stays
    assert (
        dbs.scalar(
            select(func.count(ConcentrationAlert.id)).where(ConcentrationAlert.cleared_at.is_(None))
        )
        == 4
    )


def test_the_concentration_page_and_its_check(client, dbs, p, app, monkeypatch):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 1)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    client.login("official@hhi.cn")
    page = client.text(f"/agency/programmes/{programme.id}/concentration")
    assert p.provider.name in page and "100.0%" in page
    assert client.form(f"/agency/programmes/{programme.id}/concentration/scan").status_code == 302
    assert dbs.scalar(select(func.count(ConcentrationAlert.id))) == 8
    bad = client.form(
        f"/agency/programmes/{programme.id}/concentration/threshold",
        {"threshold": "150"},
        follow_redirects=True,
    )
    assert "0.01" in bad.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["concentration-check"])
    assert result.exit_code == 0 and "raised or cleared: 0" in result.output
    other = OrganisationFactory(agency=True)
    UserFactory(org=other, email="other@hhi.cn")
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    client.login("other@hhi.cn")
    assert client.get(f"/agency/programmes/{programme.id}/concentration").status_code == 404


def test_the_transparency_page_is_public_and_shows_no_enterprise(client, dbs, p, app, monkeypatch):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    page = client.text(f"/transparency?agency={p.agency.id}")  # nobody logged in
    assert programme.name in page and p.provider.name in page and "10000" in page  # the HHI
    assert p.enterprise.name not in page and p.enterprise.credit_code not in page
    assert client.get("/transparency?agency=999999").status_code == 200


def test_integrator_and_open_modes_side_by_side(client, dbs, p, app, monkeypatch):
    from marketplace.oversight import modes
    from marketplace.vouchers.models import ProgrammeMode

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    programme = p.programme()  # open mode
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        integrator, open_mode = modes.compare(p.agency)
    assert integrator.mode is ProgrammeMode.INTEGRATOR and integrator.lines == 0
    assert integrator.price_per_module_fen is None  # nothing to compare yet: shown as —
    assert (open_mode.lines, open_mode.modules, open_mode.providers) == (1, 1, 1)
    assert open_mode.price_per_module_fen == 60_000_00 and open_mode.integration_share_bp == 0
    assert open_mode.median_days_to_delivery is not None
    client.login("official@hhi.cn")
    page = client.text("/agency/modes")
    assert "¥60,000.00" in page


def test_voucher_money_by_month_chart_table_and_csv(client, dbs, p, app):
    programme = p.programme()
    p.issue_to(programme)
    p.issue_to(programme)
    client.login("official@hhi.cn")
    page = client.text(f"/agency/programmes/{programme.id}/burn")
    assert "<svg" in page and "<script" not in page.split("<svg", 1)[1].split("</svg>")[0]
    assert "¥40,000.00" in page  # two vouchers issued this month, in the table
    export = client.get(f"/agency/programmes/{programme.id}/burn.csv")
    assert export.mimetype == "text/csv" and "40000.00" in export.get_data(as_text=True)
    from marketplace.oversight import charts

    svg = charts.bars(["<b>"], [("x&y", [5])], "t<itle")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "x&amp;y" in svg


def test_a_large_market_lists_its_largest_providers_and_sums_up_the_rest():
    m = market(*([10] * 20), 5_000)
    assert [s.provider.id for s in m.shown][:2] == [21, 1]
    assert len(m.shown) == concentration.SHOWN_PER_MARKET
    assert m.rest is not None and m.rest.providers == 6
    assert m.rest.value_fen == 60 and m.value_fen == 5_200 and m.orders == 5_200
    assert m.rest.value_bp == sum(s.value_bp for s in m.shares[concentration.SHOWN_PER_MARKET :])


def another_provider_sells(app, dbs, p, programme, tag):
    """A second provider of the pool sells one line to a second enterprise, paid in part by
    the programme's voucher: the first provider's shares fall from 100% to 50%."""
    provider, owner = provider_with_owner(f"provider@{tag}.cn")
    membership(dbs, provider, p.agency)
    package = published_package(app, dbs, provider, owner, plans=(ONE_TIME,))
    enterprise = OrganisationFactory()
    second = replace(
        p,
        provider=provider,
        provider_owner=owner,
        package=package,
        enterprise=enterprise,
        owner=UserFactory(org=enterprise, email=f"owner@{tag}.cn"),
    )
    second.issue_to(programme, enterprise)
    accepted_order(app, dbs, second)
    return provider


def share_alert(dbs, programme, provider_id, measure="value", category="all"):
    return dbs.scalars(
        select(ConcentrationAlert)
        .where(
            ConcentrationAlert.programme_id == programme.id,
            ConcentrationAlert.provider_id == provider_id,
            ConcentrationAlert.kind == "share",
            ConcentrationAlert.measure == measure,
            ConcentrationAlert.category == category,
        )
        .execution_options(populate_existing=True)
    ).one()


def section(page, heading):
    """The card of a page under ``heading`` (up to the card's end)."""
    start = page.index(heading)
    return page[start : page.index("</section>", start)]


WORDS = {
    "zh": {
        "dashboard": ">市场集中度预警<",
        "alerts": "<h2>预警</h2>",
        "active": "预警中",
        "cleared": "已清除",
        "history": "变更记录",
        "holds": "{} 占 {}%（上限 {}%）",
        "figure": "{}%（上限 {}%）",
    },
    "en": {
        "dashboard": ">Market concentration alerts<",
        "alerts": "<h2>Alerts</h2>",
        "active": "Active alert",
        "cleared": "Cleared",
        "history": "History",
        "holds": "{} holds {}% (limit {}%)",
        "figure": "{}% (limit {}%)",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_alert_shows_todays_figure_and_limit_and_keeps_its_history(
    client, dbs, p, app, monkeypatch, lang
):
    words = WORDS[lang]
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 1)
    client.set_cookie("lang", lang)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    client.login("official@hhi.cn")
    concentration_url = f"/agency/programmes/{programme.id}/concentration"
    client.form(f"{concentration_url}/threshold", {"threshold": "40"})
    alert = share_alert(dbs, programme, p.provider.id)
    assert (alert.value, alert.threshold, alert.cleared_at) == (10_000, 4_000, None)

    # new orders: the share falls to 50%, still over 40%; the check brings the alert to it
    other = another_provider_sells(app, dbs, p, programme, f"hhi2{lang}")
    assert client.form(f"{concentration_url}/scan").status_code == 302
    alert = share_alert(dbs, programme, p.provider.id)
    assert (alert.value, alert.threshold, alert.cleared_at) == (5_000, 4_000, None)
    assert [(r.event.value, r.value, r.threshold) for r in alert.readings] == [
        ("raised", 10_000, 4_000),
        ("changed", 5_000, 4_000),
    ]
    assert share_alert(dbs, programme, other.id).value == 5_000  # the newcomer is over too
    hhi = dbs.scalars(
        select(ConcentrationAlert).where(
            ConcentrationAlert.kind == "hhi", ConcentrationAlert.category == "all"
        )
    ).all()
    assert [(a.value, a.cleared_at) for a in hhi if a.measure == "value"] == [(5_000, None)]

    page = client.text(concentration_url)
    assert "50.0%" in page.split("<table", 1)[1]  # the concentration table
    alerts = section(page, words["alerts"])
    now = words["holds"].format(p.provider.name, "50.0", "40")
    first = words["figure"].format("100.0", "40")
    assert now in alerts and words["active"] in alerts and words["history"] in alerts
    assert first in alerts  # raised at 100%: the history
    assert words["holds"].format(p.provider.name, "100.0", "40") not in alerts
    dashboard = section(client.text("/agency/dashboard"), words["dashboard"])
    assert now in dashboard and "100.0" not in dashboard

    # a new threshold: the alert shows the new limit at once
    client.form(f"{concentration_url}/threshold", {"threshold": "45"})
    alert = share_alert(dbs, programme, p.provider.id)
    assert (alert.value, alert.threshold, alert.cleared_at) == (5_000, 4_500, None)
    assert [r.event.value for r in alert.readings] == ["raised", "changed", "changed"]
    now = words["holds"].format(p.provider.name, "50.0", "45")
    assert now in section(client.text(concentration_url), words["alerts"])
    assert now in section(client.text("/agency/dashboard"), words["dashboard"])

    # the share is now under the limit: cleared, and kept with its history
    client.form(f"{concentration_url}/threshold", {"threshold": "60"})
    alert = share_alert(dbs, programme, p.provider.id)
    assert alert.cleared_at is not None and (alert.value, alert.threshold) == (5_000, 6_000)
    assert [(r.event.value, r.value, r.threshold) for r in alert.readings] == [
        ("raised", 10_000, 4_000),
        ("changed", 5_000, 4_000),
        ("changed", 5_000, 4_500),
        ("cleared", 5_000, 6_000),
    ]
    alerts = section(client.text(concentration_url), words["alerts"])
    assert words["cleared"] in alerts and first in alerts
    dashboard = section(client.text("/agency/dashboard"), words["dashboard"])
    assert p.provider.name not in dashboard  # only the HHI alerts, still over 2500, are active
    assert "HHI 5000" in dashboard
    actions = set(
        dbs.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "programme"))
    )
    assert {
        "concentration.alert_raised",
        "concentration.alert_changed",
        "concentration.alert_cleared",
    } <= actions


def test_a_check_with_nothing_changed_writes_no_reading(app, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 1)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        concentration.scan(programme, p.official_actor)
        concentration.scan(programme, p.official_actor)
    assert dbs.scalar(select(func.count(ConcentrationReading.id))) == 8  # one each, when raised
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 2)  # too few orders now
    with services(app, dbs):
        assert concentration.scan(programme, p.official_actor) == (0, 8)
    cleared = dbs.scalars(
        select(ConcentrationReading).where(ConcentrationReading.event == "cleared")
    )
    assert {(r.value, r.threshold) for r in cleared} == {(10_000, 3_000), (10_000, HHI_LIMIT)}


def test_an_officials_to_do_names_each_market_with_alerts_once(client, dbs, p, app, monkeypatch):
    """One provider with everything raises eight alerts (its share and the HHI, by value and
    by orders, in its category and in all): the official's to-do list names each of the two
    markets once, not eight lines."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    monkeypatch.setitem(app.config, "CONCENTRATION_MIN_ORDERS", 1)
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        assert concentration.scan(programme, p.official_actor) == (8, 0)
    client.login("official@hhi.cn")
    page = client.text("/dashboard")
    items = re.findall(r'<li data-todo="concentration_alert"', page)
    assert len(items) == 2
