"""Caps that hold (issue 22): one provider's share of a programme's voucher money, refused or
held at checkout; the official's decision on a held order; the integration fee's cap; the
caps form with the shares now."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, Order, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import cap_holds, ledger
from marketplace.vouchers import todos as voucher_todos
from marketplace.vouchers.models import (
    CapHold,
    CapHoldStatus,
    CapPolicy,
    ProgrammeMode,
    Reservation,
    ReservationStatus,
    Voucher,
)
from tests.functional.cap_helpers import (
    buyer,
    cap_pilot,
    capped,
    curated,
    make_rival,
    order,
    order_curated,
    refused,
)
from tests.functional.catalog_helpers import (
    services,
)
from tests.functional.voucher_helpers import Pilot

SYSTEM = Actor(None, None, None)
ACCEPTED = (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY)


@pytest.fixture
def p(app, dbs) -> Pilot:
    return cap_pilot(app, dbs)


@pytest.fixture
def rival(app, dbs, p):
    return make_rival(app, dbs, p)


def counts(dbs) -> tuple[int, int, int]:
    dbs.expire_all()
    return (
        dbs.scalar(select(func.count(Order.id))),
        dbs.scalar(select(func.count(Reservation.id))),
        dbs.scalar(select(func.count(CapHold.id))),
    )


def test_an_order_above_the_share_cap_is_refused_with_the_reason(app, dbs, p, rival):
    programme = capped(p)
    _provider_b, package_b = rival
    order(p, *buyer(p, programme, 1), package_b.id)  # ¥20,000 in use: under "cap from"
    order(p, *buyer(p, programme, 2), p.package.id)  # 甲 holds 20,000 / 40,000 = 50 %: at the cap
    before = counts(dbs)
    org, user = buyer(p, programme, 3)
    message = refused(p, org, user, p.package.id)  # 甲 would hold 40,000 / 60,000 = 66.67 %
    assert p.provider.name in message and "66.66%" in message and "cap of 50%" in message
    assert counts(dbs) == before  # no order, no reservation, no hold
    voucher = dbs.scalar(select(Voucher).where(Voucher.enterprise_id == org.id))
    assert voucher.reserved_fen == 0
    with services(app, dbs):
        assert ledger.check() == []


def test_the_cap_does_not_bind_before_its_threshold(app, dbs, p):
    programme = capped(p, cap_from_fen=40_000_00)
    order(p, *buyer(p, programme, 1), p.package.id)  # 100 % of ¥20,000
    refused(p, *buyer(p, programme, 2), p.package.id)  # 100 % of ¥40,000
    assert counts(dbs)[0] == 1


def test_no_cap_refuses_nothing(app, dbs, p):
    programme = p.programme()
    order(p, *buyer(p, programme, 1), p.package.id)
    order(p, *buyer(p, programme, 2), p.package.id)
    assert counts(dbs)[:2] == (2, 2)


def test_a_held_order_waits_then_an_approval_lets_it_be_spent(app, client, dbs, p, rival):
    programme = capped(p, CapPolicy.HOLD)
    _provider_b, package_b = rival
    order(p, *buyer(p, programme, 1), package_b.id)
    order(p, *buyer(p, programme, 2), p.package.id)
    org, user = buyer(p, programme, 3)
    placed = order(p, org, user, p.package.id)  # held, not refused
    hold = dbs.scalar(select(CapHold))
    assert hold.status is CapHoldStatus.PENDING
    assert (hold.provider_id, hold.share_bp, hold.cap_bp) == (p.provider.id, 6_666, 5_000)
    assert hold.amount_fen == 20_000_00 and hold.order_number == placed.number
    reservation = dbs.scalar(select(Reservation).where(Reservation.cap_hold_id == hold.id))
    assert reservation.status is ReservationStatus.RESERVED
    kinds = {(n.org_id, n.kind) for n in dbs.scalars(select(Notification)).all()}
    assert (org.id, "cap_held") in kinds and (p.agency.id, "cap_hold_waiting") in kinds
    with services(app, dbs):
        todo = [t for t in voucher_todos.for_official(p.agency, p.official) if t.kind == "cap_hold"]
    assert len(todo) == 1 and placed.number in todo[0].object

    # accepted (验收) while it waits: the money stays reserved, the acceptance is noted
    line = placed.lines[0]
    for event in ACCEPTED:
        with services(app, dbs):
            kind = "enterprise" if event is LineEvent.ACCEPT_DELIVERY else "provider"
            orders.transition(line, event, "理由", SYSTEM, kind)
    dbs.refresh(reservation), dbs.refresh(hold)
    assert reservation.status is ReservationStatus.RESERVED
    assert hold.line_accepted_at is not None

    client.login(p.official.email)
    page = client.text(f"/agency/programmes/{programme.id}/cap-holds")
    assert placed.number in page and "66.66%" in page
    url = f"/agency/programmes/{programme.id}/cap-holds/{hold.id}"
    # no reason: refused, nothing stored
    client.form(f"{url}/approve", {"reason": "  "})
    dbs.refresh(hold)
    assert hold.status is CapHoldStatus.PENDING
    client.form(f"{url}/approve", {"reason": "该企业的设备只有甲方能对接"})
    dbs.expire_all()
    assert hold.status is CapHoldStatus.APPROVED and hold.decided_by_id == p.official.id
    assert reservation.status is ReservationStatus.REDEEMED  # spent at the approval
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "cap_hold.approved"))
    assert (org.id, "cap_hold_approved") in {
        (n.org_id, n.kind) for n in dbs.scalars(select(Notification)).all()
    }
    # decided once: a second decision is refused
    with services(app, dbs), pytest.raises(DomainError):
        cap_holds.decline(hold, "再议", p.official_actor)
    with services(app, dbs):
        assert ledger.check() == []


def test_a_declined_hold_gives_the_money_back(app, client, dbs, p, rival):
    programme = capped(p, CapPolicy.HOLD)
    _provider_b, package_b = rival
    order(p, *buyer(p, programme, 1), package_b.id)
    order(p, *buyer(p, programme, 2), p.package.id)
    org, user = buyer(p, programme, 3)
    order(p, org, user, p.package.id)
    hold = dbs.scalar(select(CapHold))
    client.login(p.official.email)
    client.form(
        f"/agency/programmes/{programme.id}/cap-holds/{hold.id}/decline",
        {"reason": "甲方份额已超上限，请改选其他服务商"},
    )
    dbs.expire_all()
    assert hold.status is CapHoldStatus.DECLINED
    voucher = dbs.scalar(select(Voucher).where(Voucher.enterprise_id == org.id))
    assert voucher.reserved_fen == 0 and voucher.available_fen == 20_000_00
    assert (
        dbs.scalar(select(Reservation.status).where(Reservation.cap_hold_id == hold.id))
        is ReservationStatus.RELEASED
    )
    notes = [n for n in dbs.scalars(select(Notification)) if n.kind == "cap_hold_declined"]
    assert notes and notes[0].org_id == org.id and "改选" in notes[0].params["reason"]
    with services(app, dbs):
        assert [
            t for t in voucher_todos.for_official(p.agency, p.official) if t.kind == "cap_hold"
        ] == []
        assert ledger.check() == []


def test_the_caps_form_shows_the_shares_and_a_cap_below_one_applies_to_new_orders(
    app, client, dbs, p, rival
):
    programme = p.programme()
    _provider_b, package_b = rival
    order(p, *buyer(p, programme, 1), p.package.id)
    order(p, *buyer(p, programme, 2), p.package.id)
    order(p, *buyer(p, programme, 3), package_b.id)  # 甲 66.66 %, 乙 33.33 %
    client.login(p.official.email)
    url = f"/agency/programmes/{programme.id}/caps"
    page = client.text(url)
    assert "66.66%" in page and "33.33%" in page and "仅适用于新订单" in page
    response = client.form(
        url,
        {"provider_cap": "40", "integration_fee_cap": "", "cap_policy": "hold", "cap_from": "0"},
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert p.provider.name in text and "66.66%" in text and "仅适用于新订单" in text
    dbs.refresh(programme)
    assert (programme.provider_cap_bp, programme.cap_policy) == (4_000, CapPolicy.HOLD)
    assert dbs.scalar(select(func.count(Order.id))) == 3  # the orders so far stand
    audit = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "programme.caps_changed"))
    assert audit is not None


@pytest.mark.parametrize("bad", ["0", "100.01", "-5", "abc"])
def test_a_cap_out_of_range_is_refused_and_nothing_stored(app, client, dbs, p, bad):
    programme = p.programme()
    client.login(p.official.email)
    response = client.form(
        f"/agency/programmes/{programme.id}/caps",
        {"provider_cap": bad, "integration_fee_cap": "", "cap_policy": "refuse", "cap_from": ""},
    )
    assert response.status_code == 422
    dbs.refresh(programme)
    assert programme.provider_cap_bp is None
    assert (
        dbs.scalar(select(AuditEntry).where(AuditEntry.action == "programme.caps_changed")) is None
    )


def test_the_database_refuses_a_cap_out_of_range(app, dbs, p):
    from sqlalchemy.exc import IntegrityError

    programme = p.programme()
    programme.provider_cap_bp = 0
    with pytest.raises(IntegrityError):
        dbs.flush()
    dbs.rollback()


def test_the_integration_fee_cap_refuses_a_bundle_whose_fee_is_above_it(app, dbs, p, rival):
    # the fee of ¥30,000 is 20 % of the bundle (60,000 + 60,000 + 30,000); the cap is 15 %
    programme = capped(p, provider_cap_bp=None, integration_fee_cap_bp=1_500)
    bundle, _integrator = curated(app, dbs, p, rival, 30_000_00)
    org, user = buyer(p, programme, 1)
    before = counts(dbs)
    message = order_curated(p, org, user, bundle.id, refuse=True)
    assert "20%" in message and "15%" in message
    assert counts(dbs) == before
    # at 20 % it passes
    with services(app, dbs):
        cap_holds.set_caps(programme, None, 2_000, CapPolicy.REFUSE, 0, p.official_actor)
    order_curated(p, org, user, bundle.id)
    assert counts(dbs)[0] == before[0] + 1


def test_routed_money_counts_towards_the_integrators_share(app, dbs, p, rival):
    """The integrator delivers nothing itself here, but routed both lines: its share is
    100 % of the money (甲 75 %, 乙 25 %), so a cap of 90 % refuses its bundle."""
    programme = capped(p, cap_from_fen=0, provider_cap_bp=9_000)
    bundle, integrator = curated(app, dbs, p, rival, 0)
    org, user = buyer(p, programme, 1)
    p.issue_to(programme, org)  # ¥40,000: 30,000 of 甲's line, 10,000 of 乙's
    assert integrator.name in order_curated(p, org, user, bundle.id, refuse=True)
    # stored with its routing integrator when allowed
    with services(app, dbs):
        cap_holds.set_caps(programme, None, None, CapPolicy.REFUSE, 0, p.official_actor)
    order_curated(p, org, user, bundle.id)
    routed = dbs.scalars(
        select(OrderLine.integrator_id).join(Reservation, Reservation.order_line_id == OrderLine.id)
    ).all()
    assert set(routed) == {integrator.id}  # both lines (on their line), three voucher shares
    # the two modules, and the integration line (a fee of ¥0)
    assert dbs.scalar(select(func.count(OrderLine.id))) == 3


def test_a_held_line_rejected_meanwhile_leaves_the_queue(app, client, dbs, p, rival):
    programme = capped(p, CapPolicy.HOLD)
    _provider_b, package_b = rival
    order(p, *buyer(p, programme, 1), package_b.id)
    order(p, *buyer(p, programme, 2), p.package.id)
    placed = order(p, *buyer(p, programme, 3), p.package.id)
    with services(app, dbs):
        assert len(cap_holds.holds_of(programme)) == 1
        orders.transition(placed.lines[0], LineEvent.REJECT, "无法交付", SYSTEM, "provider")
    with services(app, dbs):
        assert cap_holds.holds_of(programme) == []
        assert [
            t for t in voucher_todos.for_official(p.agency, p.official) if t.kind == "cap_hold"
        ] == []


def test_the_integrators_appointment_caps_its_fee_too(app, dbs, p, rival):
    """An appointment in the open records a cap on the integrator's fee (issue 22): with no
    programme-wide cap, the appointment's 8 % refuses a fee of 20 % of the bundle."""
    bundle, integrator = curated(app, dbs, p, rival, 30_000_00)
    programme = p.programme(mode=ProgrammeMode.INTEGRATOR, integrators=[integrator])
    assert programme.integration_fee_cap_bp is None
    org, user = buyer(p, programme, 1)
    before = counts(dbs)
    message = order_curated(p, org, user, bundle.id, refuse=True)
    assert "20%" in message and "8%" in message
    assert counts(dbs) == before
