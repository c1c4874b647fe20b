"""Track records (issue 21) from a small known world: four outcome contracts of one provider,
each on its own package, settled through the outcomes services; tickets, an evaluation round and
accepted lines around them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from marketplace.db import utcnow
from marketplace.orders import tickets
from marketplace.orders.models import Bundle, Order, OrderLine, Ticket
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import ContractStatus
from marketplace.oversight import track_record
from marketplace.oversight.models import EvaluationEntry, EvaluationRound, RoundStatus
from marketplace.security import Actor
from tests.functional.catalog_helpers import services
from tests.functional.outcomes.test_outcomes import day, measuring, measuring_since, reading
from tests.functional.voucher_helpers import pilot

SYSTEM = Actor(None, None, None)


def settled(app, dbs, p, *values, rejected=None, settle=True):
    """A contract (baseline OEE 60) measured ``values`` (confirmed), plus a ``rejected`` value
    the assessor threw out, settled after its window unless told not to."""
    line, contract = measuring(app, dbs, p)
    for bundle in dbs.scalars(select(Bundle).where(Bundle.name == "效果方案")):
        bundle.name = f"效果方案 {bundle.id}"  # the helper names each one so
    measuring_since(dbs, contract, 30)
    with services(app, dbs):
        for n, value in enumerate(values, start=1):
            m, _ = outcomes.submit(contract, reading(n, value, day(n)), SYSTEM)
            outcomes.confirm(m, SYSTEM)
        if rejected is not None:
            m, _ = outcomes.submit(contract, reading(99, rejected, day(20)), SYSTEM)
            outcomes.dispute(m, "数据有误", SYSTEM)
            outcomes.verify(m, False, "现场核查：数据有误", SYSTEM)
        if settle:
            outcomes.settle(contract, SYSTEM, today=contract.window_end + timedelta(days=1))
    return line, contract


def of_providers(app, dbs, ids):
    with services(app, dbs):
        return track_record.for_providers(ids)


def of_packages(app, dbs, ids):
    with services(app, dbs):
        return track_record.for_packages(ids)


@pytest.fixture
def world(app, dbs):
    p = pilot(app, dbs, tag="trk")
    a = settled(app, dbs, p, "66", rejected="95")  # +6: met; the rejected 95 does not count
    b = settled(app, dbs, p, "67")  # +7: met
    c = settled(app, dbs, p, "62")  # +2: missed (target +5 points)
    d = settled(app, dbs, p, "90", settle=False)  # still measuring: not in any figure
    return p, a, b, c, d


def test_contracts_met_and_missed_and_the_median_improvement(app, dbs, world):
    p, a, b, c, d = world
    assert [x[1].status for x in (a, b, c, d)] == [
        ContractStatus.MET,
        ContractStatus.MET,
        ContractStatus.MISSED,
        ContractStatus.MEASURING,
    ]
    record = of_providers(app, dbs, [p.provider.id])[p.provider.id]
    assert (record.contracts_met, record.contracts_missed) == (2, 1)
    assert record.contracts.cases == 3 and not record.contracts.thin
    [oee] = record.metrics
    assert oee.metric.code == "oee"
    # +6, +7, +2: the median is +6 points, the rejected 95 and the unsettled 90 ignored
    assert (oee.change.value, oee.change.cases) == (Decimal("6.0"), 3)
    # 6/60, 7/60, 2/60 of the baseline: the median is 10 %
    assert record.improvement_pct == track_record.Figure(Decimal("10.0"), 3)


def test_a_missed_contract_counts_on_its_package(app, dbs, world):
    _p, a, _b, c, d = world
    records = of_packages(app, dbs, [x[0].package_id for x in (a, c, d)])
    missed = records[c[0].package_id]
    assert (missed.contracts_met, missed.contracts_missed) == (0, 1)
    assert missed.metrics[0].change.value == Decimal("2.0")
    measuring_only = records[d[0].package_id]
    assert (measuring_only.contracts_met, measuring_only.contracts_missed) == (0, 0)
    assert measuring_only.metrics == [] and measuring_only.improvement_pct.value is None


def test_a_figure_from_fewer_than_three_cases_says_so(app, dbs, world):
    _p, a, _b, _c, _d = world
    record = of_packages(app, dbs, [a[0].package_id])[a[0].package_id]
    assert record.contracts == track_record.Figure(Decimal("100.0"), 1)
    assert record.contracts.thin
    assert record.metrics[0].change.thin
    nothing = track_record.Figure(None, 0)
    assert not nothing.thin  # no case: no figure at all, not a thin one


def test_unverified_measurements_are_ignored(app, dbs):
    p = pilot(app, dbs, tag="trku")
    # confirmed 61 and a rejected 99: achieved 61, +1 (missed), never +39
    line, _contract = settled(app, dbs, p, "61", rejected="99")
    record = of_packages(app, dbs, [line.package_id])[line.package_id]
    assert record.metrics[0].change.value == Decimal("1.0")
    assert (record.contracts_met, record.contracts_missed) == (0, 1)


def test_delivery_on_time_against_the_go_live_promise(app, dbs, world):
    p, _a, b, c, _d = world
    line = dbs.get(OrderLine, c[0].id)
    order = dbs.get(Order, line.order_id)
    line.delivered_at = order.created_at + timedelta(days=line.version.go_live_days, hours=1)
    other = dbs.get(OrderLine, b[0].id)  # delivered in time, accepted late: on time
    other.accepted_at = order.created_at + timedelta(days=other.version.go_live_days + 30)
    dbs.flush()
    record = of_providers(app, dbs, [p.provider.id])[p.provider.id]
    assert record.on_time == track_record.Figure(Decimal("75.0"), 4)
    late = of_packages(app, dbs, [line.package_id])[line.package_id]
    assert late.on_time == track_record.Figure(Decimal("0.0"), 1) and late.on_time.thin


def test_sla_adherence_from_tickets(app, dbs, world):
    p, a, b, c, d = world
    made = []
    with services(app, dbs):
        for x in (a, b, c, d):
            made.append(tickets.open_ticket(x[0], "normal", "数据不刷新", p.enterprise_actor))
    now = utcnow()
    kept, late_answer, late_fix, open_one = made
    kept.responded_at = kept.resolved_at = now
    late_answer.responded_at = late_answer.resolved_at = now
    late_answer.breached = True
    late_fix.responded_at = now
    late_fix.resolution_breached = True
    dbs.flush()  # open_one: answered by nobody yet, within its deadline: not judged
    record = of_providers(app, dbs, [p.provider.id])[p.provider.id]
    assert record.sla_response == track_record.Figure(Decimal("66.7"), 3)
    assert record.sla_resolution == track_record.Figure(Decimal("66.7"), 3)
    assert record.sla_met == track_record.Figure(Decimal("33.3"), 3)
    assert dbs.scalar(select(Ticket.id).where(Ticket.id == open_one.id))


def evaluation(dbs, agency, provider, name, end, passed, tenths, status=RoundStatus.CLOSED):
    rnd = EvaluationRound(
        agency_id=agency.id,
        name=name,
        period_start=end.replace(day=1),
        period_end=end,
        pass_mark=60,
        w_rating=20,
        w_outcomes=20,
        w_sla=20,
        w_coverage=10,
        w_digital=10,
        w_savings=10,
        w_assessor=10,
        savings_target_fen=10_000_00,
        waiting_days=7,
        status=status,
        closed_at=utcnow() if status is RoundStatus.CLOSED else None,
    )
    dbs.add(rnd)
    dbs.flush()
    dbs.add(
        EvaluationEntry(
            round_id=rnd.id, provider_id=provider.id, passed=passed, score_tenths=tenths
        )
    )
    dbs.flush()


def test_evaluation_verdicts_by_round_rating_and_enterprises_served(app, dbs, world):
    p, a, _b, _c, _d = world
    evaluation(dbs, p.agency, p.provider, "2026 上半年", date(2026, 6, 30), True, 782)
    evaluation(dbs, p.agency, p.provider, "2026 第三季度", date(2026, 9, 30), False, 514)
    evaluation(
        dbs, p.agency, p.provider, "进行中", date(2026, 12, 31), None, None, RoundStatus.OPEN
    )
    record = of_providers(app, dbs, [p.provider.id])[p.provider.id]
    assert [(v.round_name, v.passed, v.score) for v in record.verdicts] == [
        ("2026 上半年", True, 78.2),
        ("2026 第三季度", False, 51.4),
    ]
    assert (record.passed, record.failed) == (1, 1)
    # a package's record carries its provider's verdicts
    package_record = of_packages(app, dbs, [a[0].package_id])[a[0].package_id]
    assert (package_record.passed, package_record.failed) == (1, 1)
    # one enterprise, four accepted lines: served once, by its industry and size
    [served] = record.served
    assert served.enterprises == 1 and served.industry.code == p.enterprise.industry_code
    assert served.size_tier == p.enterprise.size_tier
    assert record.rating.cases == 0 and record.rating.value is None


def test_the_package_provider_and_compare_pages_show_the_record(app, client, world):
    p, a, _b, c, _d = world
    page = client.get(f"/packages/{c[0].package_id}").get_data(as_text=True)
    assert 'id="track-record"' in page
    assert "0 项达成，1 项未达成" in page
    assert "仅 1 例，参考有限" in page
    assert "/track-record/how#contracts" in page
    profile = client.get(f"/providers/{p.provider.id}").get_data(as_text=True)
    assert "2 项达成，1 项未达成" in profile
    assert "+6.0 个百分点" in profile and "3 例" in profile
    client.set_cookie("lang", "en")
    english = client.get(f"/providers/{p.provider.id}").get_data(as_text=True)
    assert "2 met, 1 missed" in english and "+6.0 points" in english
    assert "How track records are computed" in client.get("/track-record/how").get_data(
        as_text=True
    )
    client.set_cookie("lang", "zh")
    ids = "&".join(f"ids={x[0].package_id}" for x in (a, c))
    compare = client.get(f"/compare?{ids}").get_data(as_text=True)
    assert "1 项达成，0 项未达成" in compare and "0 项达成，1 项未达成" in compare
    how = client.get("/track-record/how")
    assert how.status_code == 200
    text = how.get_data(as_text=True)
    for anchor in (
        "contracts",
        "improvement",
        "delivery",
        "sla",
        "evaluations",
        "rating",
        "served",
    ):
        assert f'id="{anchor}"' in text
    assert "业绩记录的计算方法" in text


def test_the_api_gives_each_package_its_track_record_and_its_providers_evaluations(
    app, client, dbs, world
):
    p, a, _b, c, _d = world
    evaluation(dbs, p.agency, p.provider, "2026 上半年", date(2026, 6, 30), False, 420)
    listed = client.get("/api/v1/packages?limit=50").get_json()["items"]
    by_id = {item["id"]: item for item in listed}
    missed = by_id[c[0].package_id]
    assert missed["track_record"] == {
        "contracts_met": 0,
        "contracts_missed": 1,
        "median_improvement_pct": pytest.approx(3.3),  # +2 on a baseline of 60
        "on_time_delivery_pct": 100.0,
        "sla_met_pct": None,  # no ticket: no case
        "cases": {"contracts": 1, "improvement": 1, "delivery": 1, "sla": 0},
        "metrics": [{"metric": "oee", "median_change": 2.0, "cases": 1}],
    }
    assert missed["provider"]["evaluations"] == {"passed": 0, "failed": 1}
    untouched = by_id[p.package.id]  # the pilot's own package: never ordered here
    assert untouched["track_record"]["contracts_met"] == 0
    assert untouched["track_record"]["median_improvement_pct"] is None
    assert untouched["track_record"]["on_time_delivery_pct"] is None
    one = client.get(f"/api/v1/packages/{a[0].package_id}").get_json()
    assert one["track_record"]["contracts_met"] == 1
    assert one["track_record"]["median_improvement_pct"] == 10.0
    assert one["provider"]["evaluations"] == {"passed": 0, "failed": 1}
    assert "description" in one
    # the records are fresh though the list itself is cached until the catalogue changes
    evaluation(dbs, p.agency, p.provider, "2026 第三季度", date(2026, 9, 30), True, 800)
    again = client.get("/api/v1/packages?limit=50").get_json()["items"]
    assert {i["id"]: i for i in again}[c[0].package_id]["provider"]["evaluations"] == {
        "passed": 1,
        "failed": 1,
    }
