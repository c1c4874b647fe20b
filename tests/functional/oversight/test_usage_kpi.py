"""Evaluation KPIs read from reported usage (issue 23): where a provider's subscriptions are
on pay-by-use plans, data coverage and digitalisation rate come from the usage records, the
hand-typed reports stay for the other lines, and a hand-typed value that disagrees with the
metered one is flagged for the officials."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from marketplace.db import LOCAL_ZONE, local_today
from marketplace.orders import services as orders
from marketplace.outcomes import usage
from marketplace.oversight import evaluation, kpi, usage_kpi
from marketplace.security import Actor
from marketplace.vouchers.models import Reservation
from tests.functional.catalog_helpers import published_package, services
from tests.functional.order_helpers import accept_delivery
from tests.functional.outcomes.test_usage import subscribed, usage_pilot
from tests.functional.voucher_helpers import ONE_TIME, pilot
from tests.functional.vouchers.test_vouchers import accepted_order

ONLY_KPIS = dict.fromkeys(evaluation.DEFAULT_WEIGHTS, 0) | {"coverage": 50, "digital": 50}


def last_month():
    """The last ended month: YYYYMM, its first and last days, and noon on its first day."""
    last_day = local_today().replace(day=1) - timedelta(days=1)
    first_day = last_day.replace(day=1)
    noon = datetime.combine(first_day, time(12), LOCAL_ZONE)
    return usage.month_of(first_day), first_day, last_day, noon


def provider_with_two_usage_lines_and_a_typed_one(app, dbs, tag, typed_on_usage):
    """Two pay-by-use subscriptions (plan includes 100 devices a month) accepted last month:
    A reports 60 devices, B reports nothing; A has a hand-typed report ``typed_on_usage``
    (coverage, digital) for the month, and a one-time line C has one of 80 / 70."""
    p = usage_pilot(app, dbs, tag=tag)
    _month, first_day, _last_day, noon = last_month()
    a = subscribed(app, dbs, p, noon)
    b = subscribed(app, dbs, p, noon)
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        usage.report(a, usage.Report("a-1", "devices", 40, first_day, first_day), provider)
        usage.report(a, usage.Report("a-2", "devices", 20, first_day, first_day), provider)
        kpi.report(a, kpi.Figures(first_day, *typed_on_usage, 10_000_00), p.enterprise_actor)
    with services(app, dbs):  # the month's billing job: the vouchers pay their share
        usage.bill_line(a.id, provider)
        usage.bill_line(b.id, provider)
    p.package = published_package(app, dbs, p.provider, p.provider_owner, plans=(ONE_TIME,))
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        c = accept_delivery(order.lines[0])
    with services(app, dbs):
        kpi.report(c, kpi.Figures(first_day, 80, 70, 30_000_00), p.enterprise_actor)
    return p, (a, b, c)


def test_kpis_are_read_from_usage_records_as_computed_by_hand(client, app, dbs):
    p, _lines = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "ka", (90, 95))
    month, first_day, last_day, _noon = last_month()
    with services(app, dbs):
        found = usage_kpi.metered([p.provider.id], first_day, last_day)[p.provider.id]
    m = found.months[month]
    # A: usage 60 > 0 → coverage 100; 60 of 100 included → digital 60.
    # B: nothing reported → 0 and 0. The provider's month: the mean of the two.
    assert (m.lines, m.coverage_pct, m.digital_pct) == (2, 50.0, 30.0)
    # the hand-typed report on A for the same month, beside it: 90 / 95, flagged (> 20 points)
    assert (m.typed, m.typed_coverage_pct, m.typed_digital_pct) == (1, 90.0, 95.0)
    assert (m.disagreeing, m.flagged) == (1, True)  # A's digital: 95 typed, 60 metered

    # The evaluation reads the metered figures for A and B and the hand-typed one for C
    # (one-time plan): coverage (100 + 0 + 80) / 3 = 60.0, digital (60 + 0 + 70) / 3 = 43.3;
    # savings from both hand-typed reports: (10 000 + 30 000) / 2 = 20 000 yuan.
    with services(app, dbs):
        rnd = evaluation.open_round(
            p.agency,
            evaluation.Terms("上月", first_day, last_day, 60, weights=ONLY_KPIS),
            None,
            p.official_actor,
        )
        raw = evaluation.measure(rnd, [p.provider.id])[p.provider.id]
    assert raw["coverage"] == {"raw": 60.0, "n": 3, "metered": 2, "typed": 1}
    assert raw["digital"] == {"raw": 43.3, "n": 3, "metered": 2, "typed": 1}
    assert raw["savings"] == {"raw_fen": 20_000_00, "n": 2}
    with services(app, dbs):
        evaluation.close(rnd, p.official_actor, despite_missing=True)
    entry = rnd.entries[0]
    assert entry.components["scores"]["coverage"] == 60.0
    assert entry.score_tenths == 516  # (60.0 + 43.3) / 2 = 51.65, in tenths (float 51.649…)
    # the published breakdown says where the figure came from
    client.login(p.official.email)
    page = client.get(f"/agency/evaluations/{rnd.id}")
    assert "平均值 60.0%：2 个订阅月来自平台计量，1 份人工填报" in page.text


def test_a_provider_without_usage_keeps_its_hand_typed_reports(app, dbs, monkeypatch):
    """Fallback: no pay-by-use subscription, the hand-typed reports are the figure."""
    p = pilot(app, dbs, tag="kb")
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    _month, first_day, last_day, _noon = last_month()
    with services(app, dbs):
        kpi.report(line, kpi.Figures(first_day, 70, 40, 5_000_00), p.enterprise_actor)
        assert usage_kpi.metered([p.provider.id], first_day, last_day)[p.provider.id].lines == 0
        rnd = evaluation.open_round(
            p.agency,
            evaluation.Terms("上月", first_day, last_day, 60, weights=ONLY_KPIS),
            None,
            p.official_actor,
        )
        raw = evaluation.measure(rnd, [p.provider.id])[p.provider.id]
    assert raw["coverage"] == {"raw": 70.0, "n": 1, "metered": 0, "typed": 1}
    assert raw["digital"]["raw"] == 40.0


def test_a_close_hand_typed_value_is_not_flagged_and_the_month_not_ended_is_typed(app, dbs):
    p, (a, _b, _c) = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "kc", (95, 70))
    month, first_day, _last_day, _noon = last_month()
    this_month = local_today().replace(day=1)
    with services(app, dbs):
        # a report for this month, not ended: no metered figure yet, the typed one counts
        kpi.report(a, kpi.Figures(this_month, 10, 10, 0), p.enterprise_actor)
        found = usage_kpi.metered([p.provider.id], first_day, local_today())[p.provider.id]
    assert list(found.months) == [month]  # the month under way is not metered
    m = found.months[month]
    # compared with its own subscription A (100 and 60), not the provider's mean (50 and 30):
    # 95 vs 100 and 70 vs 60 are within 20 points
    assert (m.typed_coverage_pct, m.coverage_pct, m.disagreeing, m.flagged) == (
        95.0,
        50.0,
        0,
        False,
    )
    with services(app, dbs):
        rnd = evaluation.open_round(
            p.agency,
            evaluation.Terms("近两月", first_day, local_today(), 60, weights=ONLY_KPIS),
            None,
            p.official_actor,
        )
        raw = evaluation.measure(rnd, [p.provider.id])[p.provider.id]
    # metered A 100, B 0; typed C 80 and A-this-month 10: (100 + 0 + 80 + 10) / 4 = 47.5
    assert raw["coverage"] == {"raw": 47.5, "n": 4, "metered": 2, "typed": 2}


def test_officials_see_metered_kpis_beside_hand_typed_ones_with_the_flag(client, app, dbs):
    p, _lines = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "kd", (90, 95))
    month, *_rest = last_month()
    programme = dbs.scalar(select(Reservation.programme_id))
    client.login(p.official.email)
    page = client.get(f"/agency/programmes/{programme}/usage")
    assert page.status_code == 200
    section = page.text.split('id="kpis"', 1)[1]
    assert p.provider.name in section
    assert usage.month_start(month).strftime("%Y-%m") in section
    assert "50.0%" in section and "30.0%" in section and "来自平台计量" in section
    assert "数据采集率 90.0%，数字化率 95.0%（1 份人工填报）" in section
    assert "1 份与该订阅的上报用量相差过大，待复核" in section and "data-flagged" in section
    assert "相差超过 20 个百分点" in section


def test_the_line_kpi_page_shows_the_metered_months_beside_the_typed_report(client, app, dbs):
    p, (a, _b, c) = provider_with_two_usage_lines_and_a_typed_one(app, dbs, "ke", (90, 95))
    month, *_rest = last_month()
    client.login(p.owner.email)
    page = client.get(f"/order-lines/{a.id}/kpi")
    assert page.status_code == 200
    section = page.text.split('id="metered"', 1)[1]
    assert usage.month_start(month).strftime("%Y-%m") in section
    assert "100.0%" in section and "60.0%" in section and "来自平台计量" in section
    assert "90% / 95%" in section and "与上报用量相差过大" in section
    # a line on a one-time plan has only its hand-typed reports
    other = client.get(f"/order-lines/{c.id}/kpi")
    assert other.status_code == 200 and 'id="metered"' not in other.text
