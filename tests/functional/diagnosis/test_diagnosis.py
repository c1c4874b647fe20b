"""Diagnosis: scores, levels, history, and explainable recommendations on fixed profiles."""

import pytest
from sqlalchemy import func, select

from marketplace.catalog import services as catalog
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services as diagnosis
from marketplace.diagnosis.models import Diagnosis
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    services,
)

ALL = {q.code: 0 for q in qn.QUESTIONS}


def answers(value=None, **overrides):
    base = {q.code: value for q in qn.QUESTIONS} if value is not None else dict(ALL)
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("value", "overall", "level"), [(0, 0, 1), (1, 25, 2), (2, 50, 3), (3, 75, 4), (4, 100, 5)]
)
def test_levels(value, overall, level):
    dimensions, got_overall, got_level = qn.score(answers(value))
    assert (got_overall, got_level) == (overall, level)
    assert set(dimensions) == set(qn.DIMENSIONS) and set(dimensions.values()) == {overall}


def test_dimension_scores():
    dimensions, _overall, _level = qn.score(
        answers(0, eq_connected=4, eq_maintenance=4, q_inspection=2)
    )
    assert (
        dimensions["equipment"] == 100 and dimensions["quality"] == 25 and dimensions["data"] == 0
    )


def form(**overrides):
    data = {q.code: "1" for q in qn.QUESTIONS}
    data.update({"pain_points": ["visibility", "quality"], "budget": "under_50k"})
    data.update(overrides)
    return data


def test_an_enterprise_diagnoses_itself_and_keeps_the_history(client, dbs):
    org = OrganisationFactory(industry_code="textile", employees=12, annual_revenue_fen=200_000_000)
    UserFactory(org=org, email="e@diag.cn")
    client.login("e@diag.cn")
    response = client.form("/diagnosis/new", form())
    assert response.status_code == 302
    page = client.text(response.headers["Location"])
    assert "数字化水平 L2" in page and "25" in page
    client.form("/diagnosis/new", form(**{q.code: "3" for q in qn.QUESTIONS}))
    rows = dbs.scalars(
        select(Diagnosis).where(Diagnosis.enterprise_id == org.id).order_by(Diagnosis.id)
    ).all()
    assert [d.level for d in rows] == [2, 4]
    latest = client.text(f"/diagnosis/{rows[1].id}")
    assert "此前为 L2" in latest
    assert "L2" in client.text("/diagnosis") and "L4" in client.text("/diagnosis")


def test_bad_answers_store_nothing(client, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="e2@diag.cn")
    client.login("e2@diag.cn")
    before = dbs.scalar(select(func.count(Diagnosis.id)))
    bad = [
        form(eq_connected="7"),
        {k: v for k, v in form().items() if k != "q_inspection"},
        form(pain_points=["downtime", "quality", "energy", "sales"]),
        form(pain_points=["boredom"]),
        form(budget="infinite"),
    ]
    for data in bad:
        assert client.form("/diagnosis/new", data).status_code == 422, data
    dbs.expire_all()
    assert dbs.scalar(select(func.count(Diagnosis.id))) == before


def test_other_enterprises_diagnoses_are_404_and_providers_cannot_diagnose(app, client, dbs):
    other = OrganisationFactory()
    owner = UserFactory(org=other)
    with services(app, dbs):
        d = diagnosis.diagnose(other, answers(2), [], "under_50k", Actor(owner.id, other.id, None))
    UserFactory(email="e3@diag.cn")
    client.login("e3@diag.cn")
    assert client.get(f"/diagnosis/{d.id}").status_code == 404
    client.form("/logout")
    _provider, _ = provider_with_owner("p@diag.cn")
    client.login("p@diag.cn")
    assert client.get("/diagnosis/new").status_code == 403


def publish(app, dbs, provider, owner, price=300_000_00, **changes):
    """SaaS packages sell by subscription, the others at a one-time price."""
    from tests.functional.catalog_helpers import SUBSCRIPTION, published_package

    one_time = catalog.PlanFields(kind="one_time", name="买断", amount_fen=price)
    plans = [SUBSCRIPTION] if changes.get("deployment") == "saas" else [one_time]
    return published_package(app, dbs, provider, owner, plans=plans, **changes)


@pytest.fixture
def market(app, dbs):
    agency, _ = agency_with_official("o@diag.cn")
    provider, owner = provider_with_owner("p2@diag.cn")
    membership(dbs, provider, agency)
    made = {}
    made["saas_board"] = publish(
        app,
        dbs,
        provider,
        owner,
        title="纺织车间看板 SaaS",
        category_code="production_visualisation",
        industry_codes=["textile"],
        size_tiers=["micro", "small"],
        deployment="saas",
        go_live_days=5,
    )
    made["onprem_board"] = publish(
        app,
        dbs,
        provider,
        owner,
        title="大型看板系统",
        category_code="production_visualisation",
        industry_codes=["machining"],
        size_tiers=["medium", "large"],
        deployment="on_premises",
        go_live_days=90,
        price=600_000_00,
    )
    made["saas_quality"] = publish(
        app,
        dbs,
        provider,
        owner,
        title="质量追溯 SaaS",
        category_code="quality_traceability",
        industry_codes=["textile", "food"],
        size_tiers=["micro", "small"],
        deployment="saas",
        go_live_days=7,
    )
    made["onprem_pm"] = publish(
        app,
        dbs,
        provider,
        owner,
        title="预测性维护平台",
        category_code="predictive_maintenance",
        industry_codes=["machining"],
        size_tiers=["medium", "large"],
        deployment="on_premises",
        go_live_days=60,
        price=500_000_00,
    )
    made["saas_pm"] = publish(
        app,
        dbs,
        provider,
        owner,
        title="轻量预测维护",
        category_code="predictive_maintenance",
        industry_codes=["food"],
        size_tiers=["micro"],
        deployment="saas",
        go_live_days=7,
    )
    return made


def titles(suggestions):
    return [s.version.title for s in suggestions]


def test_small_textile_firm_gets_lightweight_saas_first(app, dbs, market):
    firm = OrganisationFactory(
        industry_code="textile", employees=12, annual_revenue_fen=200_000_000
    )  # micro
    owner = UserFactory(org=firm)
    with services(app, dbs):
        d = diagnosis.diagnose(
            firm, answers(1), ["visibility", "quality"], "under_50k", Actor(owner.id, firm.id, None)
        )
        rec = diagnosis.recommend(firm, d)
    assert rec.categories[:2] == ["production_visualisation", "equipment_networking"]
    assert titles(rec.starter) == ["纺织车间看板 SaaS", "质量追溯 SaaS"]
    board = rec.starter[0]
    assert (
        "适合纺织服装" in board.reasons
        and "在预算之内" in board.reasons
        and "上线只需 5 天" in board.reasons
    )
    assert any("SaaS" in r for r in board.reasons)
    assert "大型看板系统" not in titles(rec.starter)


def test_medium_machining_firm_with_downtime_gets_deeper_solutions(app, dbs, market):
    firm = OrganisationFactory(
        industry_code="machining", employees=450, annual_revenue_fen=60_000_000_00
    )  # medium
    owner = UserFactory(org=firm)
    with services(app, dbs):
        d = diagnosis.diagnose(
            firm,
            answers(2, eq_connected=0, eq_maintenance=0),
            ["downtime"],
            "over_1m",
            Actor(owner.id, firm.id, None),
        )
        rec = diagnosis.recommend(firm, d)
    assert rec.categories[0] == "predictive_maintenance"
    assert titles(rec.starter)[0] == "预测性维护平台"
    assert "一套更深入的现场解决方案" in rec.starter[0].reasons
    assert "轻量预测维护" in titles(rec.alternatives)


def test_taking_the_recommended_bundle(app, client, dbs, market):
    firm = OrganisationFactory(
        industry_code="textile", employees=12, annual_revenue_fen=200_000_000
    )
    UserFactory(org=firm, email="take@diag.cn")
    client.login("take@diag.cn")
    response = client.form("/diagnosis/new", form())
    diagnosis_path = response.headers["Location"]
    taken = client.form(diagnosis_path + "/bundle")
    assert taken.status_code == 302
    page = client.text(taken.headers["Location"])
    assert "推荐组合方案（L2）" in page and "纺织车间看板 SaaS" in page and "质量追溯 SaaS" in page
    again = client.form(diagnosis_path + "/bundle")
    assert "推荐组合方案（L2） (2)" in client.text(again.headers["Location"])
