"""Dates at the calendar's ends (0001-01-01, 9999-12-31) overflow when the app adds a day or
applies the pilots' time zone. Every date the app takes is kept within 2000 to 2100, as the
statistics' period always was: the filters answer 422 with the reason, their CSV downloads
send the user back to the page that gives it."""

from __future__ import annotations

import pytest
from wtforms import DateTimeField

from marketplace.forms import FIRST_YEAR, LAST_YEAR
from tests.functional.test_forms_hostile import _build, app_forms
from tests.functional.voucher_helpers import pilot

EDGES = ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"]
MESSAGE_ZH = "请选择 2000 年至 2100 年之间的日期。"
MESSAGE_EN = "Choose a date from 2000 to 2100."


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="day")


@pytest.mark.parametrize("path", ["/agency/audit", "/agency/dashboard"])
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("day", EDGES)
def test_filters_refuse_dates_at_the_calendars_ends(client, p, path, name, day):
    client.login(p.official.email)
    answer = client.get(f"{path}?{name}={day}")
    assert answer.status_code == 422
    assert MESSAGE_ZH in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("download", "shown_at"),
    [
        ("/agency/audit.csv", "/agency/audit"),
        ("/agency/dashboard/money.csv", "/agency/dashboard"),
        ("/agency/dashboard/burn.csv", "/agency/dashboard"),
    ],
)
@pytest.mark.parametrize("query", ["since=0001-01-01", "until=9999-12-31"])
def test_downloads_send_a_bad_period_back_to_the_page(english, p, download, shown_at, query):
    english.login(p.official.email)
    answer = english.get(f"{download}?{query}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{shown_at}?{query}"
    shown = english.get(answer.headers["Location"])
    assert shown.status_code == 422 and MESSAGE_EN in shown.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/agency/audit",
        "/agency/audit.csv",
        "/agency/dashboard",
        "/agency/dashboard/money.csv",
    ],
)
def test_the_widest_period_allowed_is_answered(client, p, url):
    client.login(p.official.email)
    answer = client.get(f"{url}?since={FIRST_YEAR}-01-01&until={LAST_YEAR}-12-31")
    assert answer.status_code == 200


def test_every_date_field_of_every_form_refuses_the_calendars_ends(app):
    checked = 0
    for form_class in app_forms(app):
        with app.test_request_context():
            dates = [f.name for f in _build(form_class) if isinstance(f, DateTimeField)]
        for day in EDGES:
            with app.test_request_context(method="POST", data=dict.fromkeys(dates, day)):
                form = _build(form_class)
                form.validate()
                for name in dates:
                    assert MESSAGE_ZH in form[name].errors, (form_class, name, day)
                    checked += 1
    assert checked >= 4 * 10  # the filters and the forms of programmes, periods, grants, …


def test_a_kpi_month_at_the_calendars_ends_is_refused(client, dbs, p, app, monkeypatch):
    from marketplace.oversight.models import KpiReport
    from tests.functional.vouchers.test_vouchers import accepted_order

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    client.login(p.provider_owner.email)
    for month in ("0001-01", "1999-12"):
        answer = client.form(
            f"/order-lines/{line.id}/kpi",
            {
                "month": month,
                "data_coverage_pct": "50",
                "digital_rate_pct": "40",
                "monthly_savings": "1000",
            },
        )
        assert answer.status_code == 422 and MESSAGE_ZH in answer.get_data(as_text=True)
    assert dbs.query(KpiReport).count() == 0


def test_the_api_refuses_measurements_at_the_calendars_ends(client, app, dbs, p):
    from tests.functional.api.test_api import call, token_for
    from tests.functional.outcomes.test_outcomes import measuring

    _line, contract = measuring(app, dbs, p)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    url = f"/contracts/{contract.id}/measurements"
    for start, end in (("0001-01-01", "0001-01-01"), ("9999-12-31", "9999-12-31")):
        reading = {"external_id": start, "period_start": start, "period_end": end, "value": 1.0}
        answer = call(client, "POST", url, provider, reading)
        assert answer.status_code == 422, answer.get_data(as_text=True)
