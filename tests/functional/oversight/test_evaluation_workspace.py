"""The evaluation pages as officials and assessors use them (issue 20): results sorted by
score, verdict or provider; the scoring form with the provider's evidence beside the score
(figures from the service that computes the round's parts); rounds filtered open / closed;
a reversed period in the audit trail is said."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from marketplace.db import local_today
from marketplace.orders import aftercare
from marketplace.oversight import evaluation, kpi
from marketplace.security import Actor
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import membership, services
from tests.functional.oversight.test_evaluation import ONLY_ASSESSOR, terms
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="ws")


def as_assessor(assessor):
    org, user = assessor
    return Actor(user.id, org.id, None)


@pytest.fixture
def closed_round(app, dbs, p, assessor):
    """A closed round over three providers: 乙 failed (40), 甲 passed (90), 丙 passed (70)."""
    providers = {"甲服务商": 90, "乙服务商": 40, "丙服务商": 70}
    made = []
    for name in providers:
        org = OrganisationFactory(provider=True, name=name)
        membership(dbs, org, p.agency)
        made.append(org)
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms(1), assessor[0].id, p.official_actor)
        for entry in rnd.entries:
            score = providers.get(entry.provider.name)
            if score is not None:
                evaluation.score(entry, score, "", as_assessor(assessor))
        evaluation.close(rnd, p.official_actor, despite_missing=True)
    return rnd


def order_of(page, names):
    return sorted(names, key=page.index)


def test_results_are_sorted_by_score_verdict_or_provider(client, dbs, p, closed_round):
    client.login("official@ws.cn")
    url = f"/agency/evaluations/{closed_round.id}"
    names = ["甲服务商", "乙服务商", "丙服务商"]
    by_score = client.text(url)
    assert order_of(by_score, names) == ["甲服务商", "丙服务商", "乙服务商"]
    assert "按得分</a>" in by_score and 'aria-current="page">按得分' in by_score
    by_verdict = client.text(url + "?sort=verdict")
    assert order_of(by_verdict, names) == ["乙服务商", "甲服务商", "丙服务商"]  # failed first
    by_name = client.text(url + "?sort=provider")
    assert order_of(by_name, names) == sorted(names)
    # an unknown order is by score, never an error
    assert order_of(client.text(url + "?sort=drop"), names) == order_of(by_score, names)
    # the provider without a score (the pilot's own, no data) comes last by score
    assert by_score.index("丙服务商") < by_score.index(p.provider.name)


def test_the_scoring_form_shows_the_providers_evidence(app, client, dbs, p, assessor, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    month = local_today().replace(day=1)
    with services(app, dbs):
        aftercare.review(line, 4, "上线顺利，培训到位", p.enterprise_actor)
        kpi.report(line, kpi.Figures(month, 80, 60, 25_000_00), p.enterprise_actor)
        rnd = evaluation.open_round(
            p.agency,
            evaluation.Terms(
                "2026 Q4", local_today() - timedelta(days=60), local_today(), pass_mark=60
            ),
            assessor[0].id,
            p.official_actor,
        )
    entry = rnd.entries[0]
    with services(app, dbs):
        raw = evaluation.measure(rnd, [p.provider.id])[p.provider.id]
    client.login("assessor@eval.cn")
    page = client.text(f"/assessor/evaluations/{entry.id}")
    assert "服务商在考核期内的依据" in page
    assert raw["rating"] == {"raw": 4.0, "n": 1}
    assert "上线顺利，培训到位" in page  # the review itself
    assert "数据采集覆盖率 80%，数字化率 60%，每月节约 ¥25,000.00" in page  # the KPI report
    rating_row = re.search(r'data-part="rating".*?</tr>', page, re.S).group(0)
    assert "75.0" in rating_row  # 4 stars of 5, as closing will compute it
    assert "考核期内没有已结算的按效果付费合约" in page
    assert 'name="score"' in page  # the score beside the evidence


def test_assessors_filter_rounds_open_and_closed(app, client, dbs, p, assessor, closed_round):
    with services(app, dbs):
        open_rnd = evaluation.open_round(
            p.agency, terms(2, name="第2期"), assessor[0].id, p.official_actor
        )
    client.login("assessor@eval.cn")
    both = client.text("/assessor/evaluations")
    assert "第1期" in both and "第2期" in both
    opened = client.text("/assessor/evaluations?status=open")
    assert "第2期" in opened and "第1期" not in opened
    assert f"评分进行中的考核 ({len(open_rnd.entries)})" in opened
    closed = client.text("/assessor/evaluations?status=closed")
    assert "第1期" in closed and "第2期" not in closed
    assert client.get("/assessor/evaluations?status=bogus").status_code == 200


def test_rounds_filter_in_english(app, english, dbs, p, assessor, closed_round):
    english.login("assessor@eval.cn")
    page = english.text("/assessor/evaluations?status=open")
    assert "Open rounds" in page and "No open round has a provider assigned to you." in page


def test_a_reversed_period_in_the_audit_trail_is_said(client, p):
    client.login("official@ws.cn")
    today = local_today()
    answer = client.get(
        "/agency/audit",
        query_string={"since": today.isoformat(), "until": (today - timedelta(days=3)).isoformat()},
    )
    assert answer.status_code == 422 and "截止日须晚于起始日" in answer.text


def test_only_assessor_weight_rounds_still_sort(client, dbs, p, app, assessor):
    # a round where nothing but the assessor counts: unscored providers have no verdict
    with services(app, dbs):
        rnd = evaluation.open_round(
            p.agency, terms(1, weights=ONLY_ASSESSOR), assessor[0].id, p.official_actor
        )
        evaluation.close(rnd, p.official_actor, despite_missing=True)
    client.login("official@ws.cn")
    assert client.get(f"/agency/evaluations/{rnd.id}?sort=verdict").status_code == 200
