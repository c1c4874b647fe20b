"""Data grants (数据授权): an enterprise shares scoped data with a provider or an assessor for a
period, revokes it, and reads who looked at what and when."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from marketplace.accounts import grants
from marketplace.accounts.models import DataAccess, DataGrant, GrantScope
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.orders import aftercare
from marketplace.outcomes.models import Measurement, MeasurementStatus
from marketplace.oversight import evaluation, kpi
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory, diagnosis
from tests.functional.catalog_helpers import services
from tests.functional.grant_helpers import outcome_contract
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

# What each scope's page shows of the enterprise's data.
MARKERS = {
    GrantScope.PROFILE: "91",  # a credit code starts so
    GrantScope.MEASUREMENTS: "设备综合效率提升",
    GrantScope.KPI_REPORTS: "77%",
    GrantScope.TICKETS: "主轴异响",
}


@pytest.fixture
def world(app, dbs, monkeypatch):
    """An enterprise with data of every grantable kind, a provider it ordered from, the
    agency whose voucher it holds and an assessor of that agency's evaluation round."""

    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="grant")
    p.issue_to(p.programme())
    line = accepted_order(app, dbs, p)
    with services(app, dbs):
        aftercare.open_ticket(line, "high", "主轴异响", p.enterprise_actor)
        kpi.report(line, kpi.Figures(local_today().replace(day=1), 77, 50, 0), p.enterprise_actor)
    diagnosis(p.enterprise.id, level=2)
    contract = outcome_contract(dbs, line)
    dbs.add(
        Measurement(
            contract_id=contract.id,
            external_id="m-1",
            period_start=local_today() - timedelta(days=30),
            period_end=local_today(),
            value=Decimal("71.5"),
            status=MeasurementStatus.CONFIRMED,
        )
    )
    dbs.commit()
    assessor = OrganisationFactory(assessor=True, name="赛迪评估中心")
    assessor_user = UserFactory(org=assessor, email="assessor@grant.cn")
    today = local_today()
    with services(app, dbs):
        evaluation.open_round(
            p.agency,
            evaluation.Terms("2026 年度考核", today - timedelta(days=90), today, 60),
            assessor.id,
            p.official_actor,
        )
    return p, assessor, assessor_user


def share(app, dbs, p, grantee, *scopes, days=30):
    with services(app, dbs):
        return grants.grant(
            p.enterprise,
            grants.GrantTerms(
                grantee.id, frozenset(scopes), local_today(), local_today() + timedelta(days=days)
            ),
            p.enterprise_actor,
        )


@pytest.mark.parametrize("scope", list(GrantScope))
def test_each_granted_object_type_is_seen_only_under_its_grant(english, app, dbs, world, scope):
    client = english
    p, assessor, assessor_user = world
    url = f"/shared-data/{p.enterprise.id}/{scope.value}"
    other_scope = next(s for s in GrantScope if s is not scope)
    client.login(assessor_user.email)
    assert client.get(url).status_code == 404  # no grant
    share(app, dbs, p, assessor, other_scope)
    assert client.get(url).status_code == 404  # a grant of another scope
    share(app, dbs, p, p.provider, scope)
    assert client.get(url).status_code == 404  # a grant to someone else
    g = share(app, dbs, p, assessor, scope)
    page = client.get(url)
    assert page.status_code == 200 and MARKERS[scope] in page.text
    logged = dbs.scalars(select(DataAccess).where(DataAccess.grant_id == g.id)).all()
    assert [(a.viewer_org_id, a.viewer_user_id, a.scope) for a in logged] == [
        (assessor.id, assessor_user.id, scope)
    ]
    with services(app, dbs):
        grants.revoke(g, p.enterprise_actor)
    assert client.get(url).status_code == 404  # revoked
    client.form("/logout")
    client.login(p.owner.email)
    log = client.get("/data-grants").text
    assert assessor.name in log and assessor_user.name in log and scope.label in log


def test_a_grant_counts_only_within_its_period(client, app, dbs, world):
    p, assessor, assessor_user = world
    g = share(app, dbs, p, assessor, GrantScope.TICKETS)
    g.starts_on = local_today() + timedelta(days=1)
    g.ends_on = local_today() + timedelta(days=5)
    dbs.commit()
    client.login(assessor_user.email)
    url = f"/shared-data/{p.enterprise.id}/tickets"
    assert client.get(url).status_code == 404  # not started
    g.starts_on = local_today() - timedelta(days=10)
    g.ends_on = local_today() - timedelta(days=1)
    dbs.commit()
    assert client.get(url).status_code == 404  # ended
    assert client.get(f"/shared-data/{p.enterprise.id}/nonsense").status_code == 404
    assert p.enterprise.name not in client.get("/shared-data").text


def test_bad_grants_are_refused_and_nothing_is_stored(app, dbs, world):
    p, assessor, _user = world
    today = local_today()
    other_enterprise = OrganisationFactory()
    bad = [
        grants.GrantTerms(assessor.id, frozenset(), today, today),  # no scope
        grants.GrantTerms(
            assessor.id, frozenset({GrantScope.TICKETS}), today, today - timedelta(1)
        ),
        grants.GrantTerms(
            assessor.id, frozenset({GrantScope.TICKETS}), today - timedelta(9), today - timedelta(2)
        ),
        grants.GrantTerms(
            assessor.id, frozenset({GrantScope.TICKETS}), today, today + timedelta(900)
        ),
        grants.GrantTerms(other_enterprise.id, frozenset({GrantScope.TICKETS}), today, today),
        # an agency whose voucher the enterprise does not hold
        grants.GrantTerms(
            OrganisationFactory(agency=True).id, frozenset({GrantScope.TICKETS}), today, today
        ),
    ]
    for t in bad:
        with services(app, dbs), pytest.raises(DomainError):
            grants.grant(p.enterprise, t, p.enterprise_actor)
    with services(app, dbs), pytest.raises(DomainError):  # only the enterprise itself
        grants.grant(
            p.enterprise,
            grants.GrantTerms(assessor.id, frozenset({GrantScope.TICKETS}), today, today),
            Actor(None, p.provider.id, None),
        )
    assert dbs.scalar(select(func.count(DataGrant.id))) == 0


def test_the_enterprise_grants_and_revokes_on_its_page(client, app, dbs, world):
    p, assessor, _user = world
    client.login(p.owner.email)
    today = local_today()
    form = {
        "grantee": str(assessor.id),
        "starts_on": today.isoformat(),
        "ends_on": (today - timedelta(days=1)).isoformat(),
        "purpose": "年度考核",
    }
    answer = client.form("/data-grants", form | {"scopes": "tickets"})
    assert answer.status_code == 422
    answer = client.form("/data-grants", form | {"ends_on": today.isoformat()})
    assert answer.status_code == 422  # no scope chosen
    assert dbs.scalar(select(func.count(DataGrant.id))) == 0
    answer = client.form(
        "/data-grants", form | {"ends_on": today.isoformat(), "scopes": ["tickets", "kpi_reports"]}
    )
    assert answer.status_code == 302
    g = dbs.scalar(select(DataGrant))
    assert g.tickets and g.kpi_reports and not g.profile and not g.measurements
    assert client.form(f"/data-grants/{g.id}/revoke").status_code == 302
    dbs.refresh(g)
    assert g.revoked_at is not None
    stranger = UserFactory(org=OrganisationFactory(), email="stranger@grant.cn")
    client.form("/logout")
    client.login(stranger.email)
    assert client.form(f"/data-grants/{g.id}/revoke").status_code == 404


def test_the_access_log_is_append_only(dbs, app, world):
    import pathlib
    import re

    source = "\n".join(
        path.read_text(encoding="utf-8") for path in pathlib.Path("marketplace").rglob("*.py")
    )
    assert not re.search(r"(update|delete)\(\s*DataAccess", source)
    p, assessor, _user = world
    g = share(app, dbs, p, assessor, GrantScope.TICKETS)
    dbs.add(
        DataAccess(
            grant_id=g.id,
            enterprise_id=p.enterprise.id,
            viewer_org_id=assessor.id,
            scope=GrantScope.TICKETS,
            object_type="tickets",
        )
    )
    dbs.commit()
    for statement in ("UPDATE data_access_log SET object_id = 'x'", "DELETE FROM data_access_log"):
        with pytest.raises(DBAPIError), dbs.begin_nested():
            dbs.execute(text(statement))
