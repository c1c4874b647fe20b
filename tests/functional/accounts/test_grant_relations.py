"""The data-grant form offers only organisations with a reason to see the enterprise's data:
the providers it ordered from, the agencies whose vouchers or programmes it holds, the
assessors of those agencies' evaluations and those who verified its outcome measurements.
The service refuses anyone else too."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.accounts import grants
from marketplace.accounts.models import DataGrant, GrantScope
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement, MeasurementStatus
from marketplace.oversight import evaluation
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.grant_helpers import outcome_contract
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order


@pytest.fixture
def world(app, dbs, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="rel")
    p.issue_to(p.programme())
    p.line = accepted_order(app, dbs, p)
    p.evaluator = OrganisationFactory(assessor=True, name="评估机构甲")
    today = local_today()
    with services(app, dbs):
        evaluation.open_round(
            p.agency,
            evaluation.Terms("年度考核", today - timedelta(days=90), today, 60),
            p.evaluator.id,
            p.official_actor,
        )
    p.strangers = [
        OrganisationFactory(provider=True, name="无关服务商"),
        OrganisationFactory(agency=True, name="无关主管部门"),
        OrganisationFactory(assessor=True, name="无关评估机构"),
        OrganisationFactory(name="另一家企业"),
    ]
    return p


def offered(client):
    page = client.text("/data-grants")
    return page[
        page.index('name="grantee"') : page.index("</select>", page.index('name="grantee"'))
    ]


def test_the_form_offers_only_organisations_with_a_reason(client, dbs, world):
    p = world
    client.login(p.owner.email)
    choices = offered(client)
    for related in (p.provider, p.agency, p.evaluator):
        assert f'value="{related.id}"' in choices and related.name in choices
    for stranger in p.strangers:
        assert f'value="{stranger.id}"' not in choices and stranger.name not in choices


def test_an_assessor_who_verified_a_measurement_is_offered(app, client, dbs, world):
    p = world
    verifier = OrganisationFactory(assessor=True, name="核验评估机构")
    verifier_user = UserFactory(org=verifier, email="verifier@rel.cn")
    contract = outcome_contract(dbs, p.line)
    m = Measurement(
        contract_id=contract.id,
        external_id="m-rel",
        period_start=local_today() - timedelta(days=30),
        period_end=local_today(),
        value=Decimal("71.5"),
        status=MeasurementStatus.DISPUTED,
    )
    dbs.add(m)
    dbs.commit()
    client.login(p.owner.email)
    assert f'value="{verifier.id}"' not in offered(client)
    with services(app, dbs):
        outcomes.verify(m, True, "核对了设备日志", Actor(verifier_user.id, verifier.id, None))
    assert f'value="{verifier.id}"' in offered(client)


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_a_grant_to_an_unrelated_organisation_is_refused_and_nothing_stored(
    client, dbs, world, which
):
    p = world
    client.login(p.owner.email)
    today = local_today().isoformat()
    response = client.form(
        "/data-grants",
        {
            "grantee": str(p.strangers[which].id),
            "scopes": ["tickets"],
            "starts_on": today,
            "ends_on": today,
        },
    )
    assert response.status_code == 422
    assert "请从列表中选择组织：贵企业的服务商、主管部门及其评估机构。" in response.text
    assert dbs.scalar(select(func.count(DataGrant.id))) == 0


def test_the_refusal_reads_in_english(english, dbs, world):
    p = world
    english.login(p.owner.email)
    today = local_today().isoformat()
    response = english.form(
        "/data-grants",
        {
            "grantee": str(p.strangers[0].id),
            "scopes": ["profile"],
            "starts_on": today,
            "ends_on": today,
        },
    )
    assert response.status_code == 422
    assert "your providers, your agencies and their assessors" in response.text


def test_the_service_refuses_an_unrelated_organisation_and_grants_a_related_one(app, dbs, world):
    p = world
    today = local_today()
    for stranger in p.strangers:
        terms = grants.GrantTerms(stranger.id, frozenset({GrantScope.PROFILE}), today, today)
        with services(app, dbs), pytest.raises(DomainError) as refused:
            grants.grant(p.enterprise, terms, p.enterprise_actor)
        assert refused.value.field == "grantee"
    assert dbs.scalar(select(func.count(DataGrant.id))) == 0
    with services(app, dbs):
        for related in (p.provider, p.agency, p.evaluator):
            terms = grants.GrantTerms(related.id, frozenset({GrantScope.PROFILE}), today, today)
            grants.grant(p.enterprise, terms, p.enterprise_actor)
    assert dbs.scalar(select(func.count(DataGrant.id))) == 3


def test_the_agency_reads_what_was_granted_to_it(app, client, dbs, world):
    p = world
    today = local_today()
    with services(app, dbs):
        grants.grant(
            p.enterprise,
            grants.GrantTerms(p.agency.id, frozenset({GrantScope.PROFILE}), today, today),
            p.enterprise_actor,
        )
    client.login(p.official.email)
    assert p.enterprise.name in client.text("/shared-data")
    assert client.get(f"/shared-data/{p.enterprise.id}/profile").status_code == 200


def test_an_enterprise_with_no_relation_is_told_so(client, dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="alone@rel.cn")
    client.login("alone@rel.cn")
    page = client.text("/data-grants")
    assert 'id="no-grantee"' in page and "目前还没有组织有理由查看您的数据" in page
