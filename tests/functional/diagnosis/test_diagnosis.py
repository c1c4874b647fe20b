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
MICRO_TEXTILE = dict(industry_code="textile", employees=12, annual_revenue_fen=200_000_000)
MEDIUM_MACHINING = dict(industry_code="machining", employees=450, annual_revenue_fen=60_000_000_00)


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
    org = OrganisationFactory(**MICRO_TEXTILE)
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
    # key: title, category, industries, size tiers, deployment, days to go live, one-time price
    rows = [
        ("saas_board", "纺织车间看板 SaaS", "production_visualisation", ["textile"], ["micro", "small"], "saas", 5, None),
        ("onprem_board", "大型看板系统", "production_visualisation", ["machining"], ["medium", "large"], "on_premises", 90, 600_000_00),
        ("saas_quality", "质量追溯 SaaS", "quality_traceability", ["textile", "food"], ["micro", "small"], "saas", 7, None),
        ("onprem_pm", "预测性维护平台", "predictive_maintenance", ["machining"], ["medium", "large"], "on_premises", 60, 500_000_00),
        ("saas_pm", "轻量预测维护", "predictive_maintenance", ["food"], ["micro"], "saas", 7, None),
    ]  # fmt: skip
    return {
        key: publish(
            app,
            dbs,
            provider,
            owner,
            title=title,
            category_code=category,
            industry_codes=industries,
            size_tiers=tiers,
            deployment=deployment,
            go_live_days=days,
            **({"price": price} if price else {}),
        )
        for key, title, category, industries, tiers, deployment, days, price in rows
    }


def titles(suggestions):
    return [s.version.title for s in suggestions]


def recommended(app, dbs, firm, given, pains, budget):
    """What the diagnosis recommends to ``firm`` (an organisation's fields) for its answers."""
    org = OrganisationFactory(**firm)
    owner = UserFactory(org=org)
    with services(app, dbs):
        d = diagnosis.diagnose(org, given, pains, budget, Actor(owner.id, org.id, None))
        return diagnosis.recommend(org, d)


def test_small_textile_firm_gets_lightweight_saas_first(app, dbs, market):
    rec = recommended(app, dbs, MICRO_TEXTILE, answers(1), ["visibility", "quality"], "under_50k")
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
    given = answers(2, eq_connected=0, eq_maintenance=0)
    rec = recommended(app, dbs, MEDIUM_MACHINING, given, ["downtime"], "over_1m")
    assert rec.categories[0] == "predictive_maintenance"
    assert titles(rec.starter)[0] == "预测性维护平台"
    assert "一套更深入的现场解决方案" in rec.starter[0].reasons
    assert "轻量预测维护" in titles(rec.alternatives)


def test_taking_the_recommended_bundle(app, client, dbs, market):
    firm = OrganisationFactory(**MICRO_TEXTILE)
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
