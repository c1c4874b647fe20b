"""An official decides a risk flag with the order line in view: the order, its delivery record
and its evidence; clearing, like upholding, needs a note; the line's record opens only for the
agency whose vouchers paid towards it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import local_today
from marketplace.errors import DomainError
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent
from marketplace.outcomes import services as outcomes
from marketplace.security import Actor
from marketplace.vouchers import risk
from marketplace.vouchers.models import FlagStatus, Reservation, RiskFlag
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import agency_with_official, membership, services
from tests.functional.outcomes.test_outcomes import SYSTEM, contract_of, order_outcome_line
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import ACCEPTED, accepted_order, move, the_line

EVIDENCE = b"%PDF-1.7 OEE"


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="rr")


@pytest.fixture(autouse=True)
def programme(p):
    """The agency's programme; the pilot's enterprise holds one of its vouchers."""
    programme = p.programme()
    p.issue_to(programme)
    return programme


def flagged_outcome_line(app, dbs, p):
    """An outcome line the agency's voucher paid towards, with a milestone and a baseline
    evidence file, accepted implausibly fast: its redemption is held."""
    line = order_outcome_line(app, dbs, p, LineEvent.ACCEPT, LineEvent.START)
    contract = contract_of(dbs, line)
    today = local_today()
    with services(app, dbs):
        milestone = orders.add_milestone(line, "产线数据接入", today, p.enterprise_actor)
        orders.complete_milestone(line, milestone.id, p.enterprise_actor)
        orders.transition(line, LineEvent.DELIVER, "", SYSTEM, "provider")
        outcomes.propose_baseline(
            contract,
            "60",
            today - timedelta(days=30),
            today,
            "MES 月报",
            p.enterprise_actor,
            outcomes.EvidenceFile("OEE 月报.pdf", EVIDENCE),
        )
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    assert dbs.scalar(select(Reservation.held).where(Reservation.order_line_id == line.id))
    return line, contract


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


def test_each_flag_shows_its_order_delivery_record_and_evidence(english, app, dbs, p):
    line, contract = flagged_outcome_line(app, dbs, p)
    english.login(p.official.email)
    page = english.text("/agency/risk-flags")
    for shown in (line.order.number, line.title, p.enterprise.name, p.provider.name):
        assert shown in page
    for step in ("Placed", "Accepted by the provider", "Delivered", "Accepted by the enterprise"):
        assert re.search(rf"{re.escape(step)}[^<]*</span> \d", page), step  # with its date
    assert f'href="/agency/order-lines/{line.id}"' in page
    assert f'href="/contracts/{contract.id}/evidence"' in page and "OEE 月报.pdf" in page
    assert f'href="/contracts/{contract.id}"' in page
    evidence = english.get(f"/contracts/{contract.id}/evidence")
    assert evidence.status_code == 200 and evidence.data == EVIDENCE
    record = english.text(f"/agency/order-lines/{line.id}")
    for shown in (
        line.order.number,
        "产线数据接入",  # the milestone
        "Delivered, waiting for acceptance",  # the history
        "Held for review",  # the flag on the agency's redemption
        "MES 月报",  # the baseline's evidence
        f"/contracts/{contract.id}/evidence",
    ):
        assert shown in record, shown


def test_a_flag_on_a_line_without_a_contract_shows_its_record_too(english, app, dbs, p):
    line = accepted_order(app, dbs, p)
    english.login(p.official.email)
    page = english.text("/agency/risk-flags")
    assert line.order.number in page and line.title in page
    assert "/evidence" not in page
    record = english.text(f"/agency/order-lines/{line.id}")
    assert "it has no outcome contract" in record


def test_the_line_record_opens_only_for_the_agency_that_paid(client, app, dbs, p):
    line, _contract = flagged_outcome_line(app, dbs, p)
    url = f"/agency/order-lines/{line.id}"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert "/login" in client.get(url).headers["Location"]
    client.login(p.official.email)
    assert client.get(url).status_code == 200
    assert client.get(f"/agency/order-lines/{line.id + 1000}").status_code == 404
    logout(client)
    # Another agency whose pool admitted the same provider, but whose vouchers paid nothing.
    other, other_official = agency_with_official("official@other-rr.cn")
    membership(dbs, p.provider, other)
    client.login(other_official.email)
    assert client.get(url).status_code == 404
    logout(client)
    for user in (p.owner, p.provider_owner):  # the parties have their order pages
        client.login(user.email)
        assert client.get(url).status_code == 403
        logout(client)
    # A line the agency's vouchers did not pay towards: an enterprise without vouchers.
    stranger = OrganisationFactory()
    stranger_owner = UserFactory(org=stranger, email="owner@stranger-rr.cn")
    with services(app, dbs):
        order = orders.checkout(
            stranger,
            p.bundle(stranger, stranger_owner),
            Actor(stranger_owner.id, stranger.id, None),
            use_vouchers=False,
        )
    client.login(p.official.email)
    assert client.get(f"/agency/order-lines/{order.lines[0].id}").status_code == 404


@pytest.mark.parametrize("note", ["", "   "])
def test_clearing_a_flag_needs_a_note(client, app, dbs, p, note):
    accepted_order(app, dbs, p)
    flag = dbs.scalars(select(RiskFlag)).first()
    client.login(p.official.email)
    answer = client.form(f"/agency/risk-flags/{flag.id}/clear", {"reason": note})
    assert answer.status_code == 302
    page = client.text("/agency/risk-flags")  # in the default language
    assert "清除风险标记前，请写明您核查了什么。" in page
    dbs.refresh(flag)
    assert (flag.status, flag.decision_note, flag.decided_at) == (FlagStatus.OPEN, "", None)
    assert dbs.scalar(select(Reservation.held)) is True
    cleared = select(func.count(AuditEntry.id)).where(AuditEntry.action == "risk_flag.cleared")
    assert dbs.scalar(cleared) == 0
    client.set_cookie("lang", "en")
    client.form(f"/agency/risk-flags/{flag.id}/clear", {"reason": note})
    assert "Say what you checked before clearing the flag." in client.text("/agency/risk-flags")


def test_the_service_refuses_a_clearing_without_a_note(app, dbs, p):
    accepted_order(app, dbs, p)
    flag = dbs.scalars(select(RiskFlag)).first()
    with services(app, dbs), pytest.raises(DomainError) as error:
        risk.clear(flag, " \n ", p.official_actor)
    assert error.value.field == "note"
    with services(app, dbs):
        risk.clear(flag, "  电话核实：双方确为不同主体 ", p.official_actor)
    dbs.refresh(flag)
    assert flag.status is FlagStatus.CLEARED
    assert flag.decision_note == "电话核实：双方确为不同主体"


def test_the_flag_page_does_not_grow_with_the_flags(app, client, dbs, p, programme, count_queries):
    flagged_outcome_line(app, dbs, p)
    client.login(p.official.email)

    def cost():
        client.get("/agency/risk-flags")
        count_queries.count = 0
        assert client.get("/agency/risk-flags").status_code == 200
        return count_queries.count

    one = cost()
    for n in range(3):  # more held redemptions, of other enterprises
        other = OrganisationFactory(contact_phone="0311-66668888")
        owner = UserFactory(org=other, email=f"o{n}@rr.cn")
        p.issue_to(programme, other)
        with services(app, dbs):
            orders.checkout(other, p.bundle(other, owner), Actor(owner.id, other.id, None))
        move(app, dbs, the_line(dbs, other), *ACCEPTED)
    assert dbs.scalar(select(func.count(RiskFlag.id))) >= 4
    assert cost() == one


def test_an_acceptance_after_the_enterprises_silence_says_so(english, app, dbs, p):
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    move(app, dbs, the_line(dbs, p.enterprise), *ACCEPTED[:-1])  # delivered
    with services(app, dbs):
        assert len(orders.auto_accept(timedelta(0), SYSTEM)) == 1
    english.login(p.official.email)
    assert "automatically, after the waiting period" in english.text("/agency/risk-flags")
