"""A contract's evidence file opens for everyone with a right to it (the two parties, the
overseeing agencies, the assessors verifying it, the enterprise's grantees: logged) and for no
one else (404, not 403: a stranger does not learn it exists)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.accounts import grants
from marketplace.accounts.models import DataAccess, GrantScope, OrgKind
from marketplace.db import local_today
from marketplace.outcomes import services as outcomes
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    services,
)
from tests.functional.grant_helpers import evaluating, ordered_from
from tests.functional.outcomes.test_outcomes import SYSTEM, measuring, reading
from tests.functional.voucher_helpers import pilot

EVIDENCE = b"%PDF-1.7 OEE baseline"


@pytest.fixture
def p(app, dbs):
    p = pilot(app, dbs, tag="ev")
    p.issue_to(p.programme())  # the agency's vouchers pay towards the line
    return p


@pytest.fixture
def contract(app, dbs, p):
    """A contract in its window, whose baseline came with a file."""
    _line, contract = measuring(app, dbs, p)
    contract.baseline_file_name = "OEE 基线月报.pdf"
    contract.baseline_file_type = "application/pdf"
    contract.baseline_file = EVIDENCE
    dbs.commit()
    return contract


def url(contract):
    return f"/contracts/{contract.id}/evidence"


def opens(client, user, contract):
    client.login(user.email)
    answer = client.get(url(contract))
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    if answer.status_code == 200:
        assert answer.data == EVIDENCE and answer.mimetype == "application/pdf"
        assert answer.headers["Cache-Control"] == "private, no-store"
    return answer.status_code


def logged(dbs):
    return dbs.scalar(select(func.count(DataAccess.id)))


def share(app, dbs, p, grantee, scope=GrantScope.MEASUREMENTS, enterprise=None, actor=None):
    # a grant needs a reason: the assessor scores the agency's providers, the provider was
    # ordered from
    if grantee.kind is OrgKind.ASSESSOR:
        evaluating(app, dbs, p, grantee)
    else:
        ordered_from(dbs, enterprise or p.enterprise, grantee)
    today = local_today()
    terms = grants.GrantTerms(grantee.id, frozenset({scope}), today, today + timedelta(days=30))
    with services(app, dbs):
        return grants.grant(enterprise or p.enterprise, terms, actor or p.enterprise_actor)


def test_the_parties_and_the_overseeing_agency_open_it_unlogged(client, dbs, p, contract):
    assert opens(client, p.owner, contract) == 200
    assert opens(client, p.provider_owner, contract) == 200
    assert opens(client, p.official, contract) == 200
    assert logged(dbs) == 0  # their own right, not a grant


def test_the_assessor_verifying_a_disputed_measurement_opens_it(client, app, dbs, p, contract):
    assessor = OrganisationFactory(assessor=True)
    assessor_user = UserFactory(org=assessor, email="assessor@ev.cn")
    assert opens(client, assessor_user, contract) == 404  # nothing to verify yet
    with services(app, dbs):
        m, _created = outcomes.submit(contract, reading(1, "63"), SYSTEM)
        outcomes.dispute(m, "与 MES 不符", p.enterprise_actor)
    assert opens(client, assessor_user, contract) == 200
    assert logged(dbs) == 0


def test_an_agency_oversees_through_its_pool_or_its_vouchers(client, app, dbs, p, contract):
    # Admitted the provider to its pool, paid nothing: it oversees the provider's contracts.
    pool_agency, pool_official = agency_with_official("official@pool-ev.cn")
    membership(dbs, p.provider, pool_agency)
    assert opens(client, pool_official, contract) == 200
    # Paid towards the line, and the provider has since left its pool for a new application.
    dbs.execute(
        PoolMembership.__table__.update()
        .where(PoolMembership.agency_id == p.agency.id)
        .values(status=PoolStatus.APPLIED)
    )
    dbs.commit()
    assert opens(client, p.official, contract) == 200
    # Neither: a stranger agency.
    _other, other_official = agency_with_official("official@other-ev.cn")
    assert opens(client, other_official, contract) == 404


@pytest.mark.parametrize("kind", ["provider", "assessor"])
def test_a_grantee_opens_it_with_an_active_grant_and_the_opening_is_logged(
    client, app, dbs, p, contract, kind
):
    if kind == "provider":
        grantee, user = provider_with_owner("grantee@ev.cn")
    else:
        grantee = OrganisationFactory(assessor=True)
        user = UserFactory(org=grantee, email="grantee@ev.cn")
    assert opens(client, user, contract) == 404  # no grant
    g = share(app, dbs, p, grantee)
    with services(app, dbs):  # a measurement to list on the grantee's page
        outcomes.submit(contract, reading(1, "63"), SYSTEM)
    client.login(user.email)
    shared = client.text(f"/shared-data/{p.enterprise.id}/measurements")
    assert f'href="{url(contract)}"' in shared and "OEE 基线月报.pdf" in shared
    client.post("/logout", data={"csrf_token": client.csrf_token()})
    assert opens(client, user, contract) == 200
    row = dbs.scalars(select(DataAccess).where(DataAccess.object_type != "measurements")).one()
    assert (
        row.grant_id,
        row.enterprise_id,
        row.viewer_org_id,
        row.viewer_user_id,
        row.scope,
        row.object_type,
        row.object_id,
    ) == (
        g.id,
        p.enterprise.id,
        grantee.id,
        user.id,
        GrantScope.MEASUREMENTS,
        "baseline_evidence",
        str(contract.id),
    )
    client.login(p.owner.email)  # the enterprise reads who opened it
    log = client.text("/data-grants")
    assert grantee.name in log and user.name in log


@pytest.mark.parametrize("wrong", ["expired", "not_started", "revoked", "scope", "enterprise"])
def test_a_grantee_without_an_active_grant_covering_measurements_finds_nothing(
    client, app, dbs, p, contract, wrong
):
    grantee, user = provider_with_owner("grantee@ev.cn")
    today = local_today()
    if wrong == "scope":
        share(app, dbs, p, grantee, GrantScope.TICKETS)
    elif wrong == "enterprise":  # a grant from another enterprise
        other = OrganisationFactory()
        owner = UserFactory(org=other)
        share(app, dbs, p, grantee, enterprise=other, actor=Actor(owner.id, other.id, None))
    else:
        g = share(app, dbs, p, grantee)
        if wrong == "revoked":
            with services(app, dbs):
                grants.revoke(g, p.enterprise_actor)
        elif wrong == "expired":
            g.starts_on, g.ends_on = today - timedelta(days=30), today - timedelta(days=1)
        else:
            g.starts_on, g.ends_on = today + timedelta(days=1), today + timedelta(days=30)
        dbs.commit()
    assert opens(client, user, contract) == 404
    assert logged(dbs) == 0


def test_strangers_find_nothing_and_anonymous_visitors_log_in(client, dbs, p, contract):
    stranger = UserFactory(org=OrganisationFactory(), email="nosy@ev.cn")
    _provider, stranger_provider = provider_with_owner("nosy-provider@ev.cn")
    assert opens(client, stranger, contract) == 404
    assert opens(client, stranger_provider, contract) == 404
    answer = client.get(url(contract))
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert logged(dbs) == 0


def test_no_file_is_not_found_even_for_a_grantee_and_nothing_is_logged(
    client, app, dbs, p, contract
):
    contract.baseline_file_name = contract.baseline_file_type = contract.baseline_file = None
    dbs.commit()
    assert opens(client, p.owner, contract) == 404
    grantee, user = provider_with_owner("grantee@ev.cn")
    share(app, dbs, p, grantee)
    assert opens(client, user, contract) == 404
    assert logged(dbs) == 0
    client.login(p.owner.email)
    assert client.get("/contracts/999999/evidence").status_code == 404
