"""Provider evaluation (考核评价): rounds, assessor scores, KPI reports, results and the exit
rule (two consecutive failed rounds suspend a provider from the pool)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.orders import aftercare
from marketplace.oversight import evaluation, kpi
from marketplace.oversight.models import EvaluationRound, KpiReport, KpiStatus, RoundStatus
from marketplace.pool import services as pool
from marketplace.pool.models import PoolEvent, PoolStatus
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

ONLY_ASSESSOR = dict.fromkeys(evaluation.DEFAULT_WEIGHTS, 0) | {"assessor": 100}


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="eval")


def quarter(n: int) -> tuple[date, date]:
    """The n-th of consecutive 90-day periods, all in the past."""
    start = local_today() - timedelta(days=90 * (6 - n))
    return start, start + timedelta(days=89)


def terms(n: int, **changes) -> evaluation.Terms:
    start, end = quarter(n)
    base = evaluation.Terms(
        name=f"第{n}期", period_start=start, period_end=end, pass_mark=60, weights=ONLY_ASSESSOR
    )
    return replace(base, **changes)


def run_round(app, dbs, p, assessor, n: int, score: int | None):
    org, user = assessor
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(n), org.id, p.official_actor)
    if score is not None:
        with services(app, dbs):
            evaluation.score(rnd.entries[0], score, "现场核查", Actor(user.id, org.id, None))
    with services(app, dbs):
        suspended = evaluation.close(rnd, p.official_actor, despite_missing=True)
    return rnd, suspended


def test_bad_terms_are_refused_and_nothing_is_stored(app, dbs, p):
    bad = [
        terms(1, weights=ONLY_ASSESSOR | {"rating": 10}),  # 110%
        terms(1, weights=ONLY_ASSESSOR | {"assessor": 90}),  # 90%
        terms(1, pass_mark=101),
        terms(1, pass_mark=-1),
        terms(1, period_end=quarter(1)[0] - timedelta(days=1)),
        terms(1, name="  "),
    ]
    for t in bad:
        with services(app, dbs), pytest.raises(DomainError):
            evaluation.open_round(p.agency, t, None, p.official_actor)
    assert dbs.scalar(select(func.count(EvaluationRound.id))) == 0


def test_the_form_explains_weights_that_do_not_add_up(client, dbs, p):
    client.login(p.official.email)
    start, end = quarter(1)
    form = {
        "name": "2026 Q1",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "pass_mark": "60",
        "savings_target": "50000",
        "waiting_days": "180",
        "assessor": "0",
        **{f"w_{c}": "20" for c in evaluation.DEFAULT_WEIGHTS},
    }
    answer = client.form("/agency/evaluations/new", form)
    assert answer.status_code == 422
    assert "140%" in answer.text and "100%" in answer.text
    answer = client.form("/agency/evaluations/new", form | {"w_rating": "20", "pass_mark": "120"})
    assert answer.status_code == 422
    assert dbs.scalar(select(func.count(EvaluationRound.id))) == 0
    ok = form | {f"w_{c}": str(w) for c, w in evaluation.DEFAULT_WEIGHTS.items()}
    answer = client.form("/agency/evaluations/new", ok)
    assert answer.status_code == 302
    assert dbs.scalar(select(func.count(EvaluationRound.id))) == 1


def test_exit_rule_across_rounds(app, dbs, p, assessor):
    _rnd, suspended = run_round(app, dbs, p, assessor, 1, 40)  # fail
    assert suspended == []
    _rnd, suspended = run_round(app, dbs, p, assessor, 2, 80)  # pass
    assert suspended == []
    rnd3, suspended = run_round(app, dbs, p, assessor, 3, 30)  # fail after a pass: no exit
    assert suspended == [] and rnd3.entries[0].passed is False
    with services(app, dbs):
        m = pool.membership_in(p.agency.id, p.provider.id)
    assert m.status is PoolStatus.ADMITTED
    rnd4, suspended = run_round(app, dbs, p, assessor, 4, 50)  # the second fail in a row
    assert suspended == [p.provider.name]
    dbs.refresh(m)
    assert m.status is PoolStatus.SUSPENDED
    assert m.reapply_after == local_today() + timedelta(days=evaluation.DEFAULT_WAITING_DAYS)
    assert rnd4.entries[0].suspended
    reason = m.history[0].reason
    assert "第3期" in reason and "第4期" in reason
    assert dbs.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "pool.suspend"))
    kinds = set(dbs.scalars(select(Notification.kind).where(Notification.org_id == p.provider.id)))
    assert {"pool_suspended", "evaluation_published"} <= kinds
    # No reinstatement by hand, no new application before the waiting period ends.
    with services(app, dbs), pytest.raises(DomainError):
        pool.decide(m, PoolEvent.REINSTATE, "申诉", p.official_actor)
    q = pool.Qualification(5, 3, "甲\n乙\n丙", "", "能力说明", "王工", "138", "bd@p.cn")
    provider_actor = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs), pytest.raises(DomainError, match=str(m.reapply_after)):
        pool.apply(p.provider, p.agency.id, q, provider_actor)
    m.reapply_after = local_today()
    dbs.commit()
    with services(app, dbs):
        pool.apply(p.provider, p.agency.id, q, provider_actor)
    dbs.refresh(m)
    assert m.status is PoolStatus.APPLIED
    with services(app, dbs):
        pool.decide(m, PoolEvent.ADMIT, "整改完成", p.official_actor)
    assert m.status is PoolStatus.ADMITTED and m.reapply_after is None
    # Admitted again: the failure that led to the exit does not count a second time.
    _rnd, suspended = run_round(app, dbs, p, assessor, 5, 30)
    assert suspended == []
    _rnd, suspended = run_round(app, dbs, p, assessor, 6, 30)
    assert suspended == [p.provider.name]


def test_a_round_closes_once_and_takes_no_score_afterwards(app, dbs, p, assessor):
    rnd, _suspended = run_round(app, dbs, p, assessor, 1, 70)
    with services(app, dbs), pytest.raises(DomainError):
        evaluation.close(rnd, p.official_actor, despite_missing=True)
    with services(app, dbs), pytest.raises(DomainError):
        evaluation.score(rnd.entries[0], 10, "", Actor(assessor[1].id, assessor[0].id, None))
    assert rnd.entries[0].assessor_score == 70
    far = terms(2, period_end=date(9999, 12, 31))
    with services(app, dbs), pytest.raises(DomainError):
        evaluation.open_round(p.agency, far, None, p.official_actor)


def test_closing_with_missing_scores_warns_then_records_the_gap(app, dbs, p, assessor):
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(1), assessor[0].id, p.official_actor)
    with services(app, dbs), pytest.raises(evaluation.MissingScores):
        evaluation.close(rnd, p.official_actor)
    assert rnd.status is RoundStatus.OPEN
    with services(app, dbs):
        evaluation.close(rnd, p.official_actor, despite_missing=True)
    entry = rnd.entries[0]
    assert rnd.missing_scores == 1 and entry.assessor_missing
    assert entry.passed is None  # no data at all: no verdict, which is not a fail


def test_a_score_combines_ratings_kpis_and_the_assessor(app, dbs, p, assessor, monkeypatch):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    provider_actor = Actor(p.provider_owner.id, p.provider.id, None)
    month = local_today().replace(day=1)
    with services(app, dbs):
        aftercare.review(line, 5, "很好", p.enterprise_actor)
        kpi.report(line, kpi.Figures(month, 80, 60, 25_000_00), p.enterprise_actor)
        last = (month - timedelta(days=1)).replace(day=1)
        pending = kpi.report(line, kpi.Figures(last, 0, 0, 0), provider_actor)
    assert pending.status is KpiStatus.PENDING  # the provider's own figures wait
    with services(app, dbs):
        rnd = evaluation.open_round(
            p.agency,
            evaluation.Terms(
                "2026 Q4",
                local_today() - timedelta(days=60),
                local_today(),
                pass_mark=60,
            ),
            assessor[0].id,
            p.official_actor,
        )
        evaluation.score(rnd.entries[0], 70, "", Actor(assessor[1].id, assessor[0].id, None))
        evaluation.close(rnd, p.official_actor)
    scores = rnd.entries[0].components["scores"]
    assert scores["rating"] == 100.0
    assert scores["coverage"] == 80.0 and scores["digital"] == 60.0
    assert scores["savings"] == 50.0  # half the 50,000 yuan target
    assert scores["assessor"] == 70.0
    assert scores["outcomes"] is None and scores["sla"] is None  # no data: left out
    w = evaluation.DEFAULT_WEIGHTS
    expected = (
        w["rating"] * 100
        + w["coverage"] * 80
        + w["digital"] * 60
        + w["savings"] * 50
        + w["assessor"] * 70
    ) / (w["rating"] + w["coverage"] + w["digital"] + w["savings"] + w["assessor"])
    assert rnd.entries[0].score == pytest.approx(expected, abs=0.05)
    assert rnd.entries[0].passed is True


def test_kpi_reports_bad_input_and_confirmation(app, dbs, p, monkeypatch):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    month = local_today().replace(day=1)
    future = (month + timedelta(days=40)).replace(day=1)
    for figures in (
        kpi.Figures(month, 101, 0, 0),
        kpi.Figures(month, 0, -1, 0),
        kpi.Figures(month, 0, 0, -1),
        kpi.Figures(future, 10, 10, 10),
    ):
        with services(app, dbs), pytest.raises(DomainError):
            kpi.report(line, figures, p.enterprise_actor)
    stranger = OrganisationFactory()
    with services(app, dbs), pytest.raises(DomainError):
        kpi.report(line, kpi.Figures(month, 1, 1, 1), Actor(None, stranger.id, None))
    assert dbs.scalar(select(func.count(KpiReport.id))) == 0
    with services(app, dbs):
        r = kpi.report(line, kpi.Figures(month, 50, 40, 100_00), Actor(None, p.provider.id, None))
    with services(app, dbs), pytest.raises(DomainError):  # the same month twice
        kpi.report(line, kpi.Figures(month, 50, 40, 100_00), p.enterprise_actor)
    with services(app, dbs), pytest.raises(DomainError):  # declining needs a reason
        kpi.decide(r, False, "", p.enterprise_actor)
    with services(app, dbs), pytest.raises(DomainError):  # only the enterprise decides
        kpi.decide(r, True, "", Actor(None, p.provider.id, None))
    with services(app, dbs):
        kpi.decide(r, True, "", p.enterprise_actor)
    assert r.status is KpiStatus.CONFIRMED and r.confirmed_at is not None


def test_kpi_page_for_both_parties_and_nobody_else(client, dbs, p, app, monkeypatch):

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    client.login(p.provider_owner.email)
    month = local_today().strftime("%Y-%m")
    answer = client.form(
        f"/order-lines/{line.id}/kpi",
        {
            "month": "2026-13",
            "data_coverage_pct": "50",
            "digital_rate_pct": "40",
            "monthly_savings": "1000",
        },
    )
    assert answer.status_code == 422 and "YYYY-MM" in answer.text
    answer = client.form(
        f"/order-lines/{line.id}/kpi",
        {
            "month": month,
            "data_coverage_pct": "50",
            "digital_rate_pct": "40",
            "monthly_savings": "1000",
        },
    )
    assert answer.status_code == 302
    client.form("/logout")
    client.login(p.owner.email)
    page = client.get(f"/order-lines/{line.id}/kpi")
    assert page.status_code == 200 and "50%" in page.text
    report = dbs.scalar(select(KpiReport))
    assert client.form(f"/kpi-reports/{report.id}/confirm").status_code == 302
    dbs.refresh(report)
    assert report.status is KpiStatus.CONFIRMED
    client.form("/logout")
    other = UserFactory(org=OrganisationFactory(provider=True), email="other@eval.cn")
    client.login(other.email)
    assert client.get(f"/order-lines/{line.id}/kpi").status_code == 404


def test_assessors_score_only_their_assignments(client, dbs, p, assessor, app):
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(1), assessor[0].id, p.official_actor)
    entry = rnd.entries[0]
    client.login(assessor[1].email)
    assert p.provider.name in client.get("/assessor/evaluations").text
    assert client.form(f"/assessor/evaluations/{entry.id}", {"score": "101"}).status_code == 422
    assert client.form(f"/assessor/evaluations/{entry.id}", {"score": "75"}).status_code == 302
    dbs.refresh(entry)
    assert entry.assessor_score == 75
    client.form("/logout")
    other = OrganisationFactory(assessor=True, name="另一评估机构")
    UserFactory(org=other, email="other-assessor@eval.cn")
    client.login("other-assessor@eval.cn")
    assert client.get(f"/assessor/evaluations/{entry.id}").status_code == 404
    assert client.form(f"/assessor/evaluations/{entry.id}", {"score": "1"}).status_code == 404
    dbs.refresh(entry)
    assert entry.assessor_score == 75


def test_results_reach_the_provider_with_the_breakdown_and_the_public_page(
    client, dbs, p, assessor, app
):
    run_round(app, dbs, p, assessor, 1, 45)
    client.login(p.provider_owner.email)
    page = client.get("/provider/evaluations")
    assert page.status_code == 200
    assert "第1期" in page.text and "45.0" in page.text and "100%" in page.text
    client.form("/logout")
    public = client.get(f"/transparency?agency={p.agency.id}")
    assert "第1期" in public.text and p.provider.name in public.text
    assert "45.0" not in public.text  # verdicts only; the score stays with the provider


def test_another_agencys_round_is_not_found(client, dbs, p, assessor, app):
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(1), None, p.official_actor)
    other = OrganisationFactory(agency=True)
    UserFactory(org=other, email="official@other-eval.cn")
    client.login("official@other-eval.cn")
    assert client.get(f"/agency/evaluations/{rnd.id}").status_code == 404
    assert client.form(f"/agency/evaluations/{rnd.id}/close").status_code == 404
    assert rnd.status is RoundStatus.OPEN


def test_the_official_closes_a_round_through_the_page(client, dbs, p, assessor, app):
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(1), assessor[0].id, p.official_actor)
    client.login(p.official.email)
    answer = client.form(f"/agency/evaluations/{rnd.id}/close", follow_redirects=True)
    assert p.provider.name in answer.text  # warned: the missing score is named
    dbs.refresh(rnd)
    assert rnd.status is RoundStatus.OPEN
    client.form(f"/agency/evaluations/{rnd.id}/close", {"despite_missing": "y"})
    dbs.refresh(rnd)
    assert rnd.status is RoundStatus.CLOSED and rnd.missing_scores == 1
