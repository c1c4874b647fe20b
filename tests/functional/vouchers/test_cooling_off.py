"""Cooling-off (issue 23): a programme's vouchers are redeemed only after delivery started +
its cooling-off days; meanwhile the enterprise may cancel the line and the voucher money
returns whole. After the period: refused with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace import tasks
from marketplace.audit import AuditEntry
from marketplace.db import clock_at, utcnow
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, Order
from marketplace.security import Actor
from marketplace.vouchers import ledger, programmes
from marketplace.vouchers.models import (
    EntryKind,
    Reservation,
    ReservationStatus,
    VoucherEntry,
    VoucherProgramme,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot, rules
from tests.functional.vouchers.test_voucher_pages import programme_form

SYSTEM = Actor(None, None, None)
PROVIDER = Actor(None, None, None)
JOB = tasks.JOBS["cooling_off_redemption"]
VOUCHER_SHARE = 20_000_00  # one voucher of ¥20,000 pays half of a ¥60,000 line, up to its face


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, "cool")


def books_balance(app, dbs):
    with services(app, dbs):
        assert ledger.check() == []


def ordered(p, cooling_off_days=7):
    """A programme with ``cooling_off_days``, a voucher issued, the package ordered: the
    line, its voucher (¥20,000 reserved)."""
    programme = p.programme(cooling_off_days=cooling_off_days)
    voucher = p.issue_to(programme)
    with services(p.app, p.dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    order = p.dbs.scalars(
        select(Order).where(Order.enterprise_id == p.enterprise.id).order_by(Order.id.desc())
    ).first()
    return order.lines[0], voucher


def move(p, line, *events):
    kinds = {
        LineEvent.ACCEPT: "provider",
        LineEvent.START: "provider",
        LineEvent.DELIVER: "provider",
        LineEvent.ACCEPT_DELIVERY: "enterprise",
    }
    with services(p.app, p.dbs):
        for event in events:
            orders.transition(line, event, "", SYSTEM, kinds[event])


def balances(p, voucher):
    p.dbs.refresh(voucher)
    return voucher.available_fen, voucher.reserved_fen, voucher.redeemed_fen


def reservation_of(p, line):
    return p.dbs.scalars(
        select(Reservation)
        .where(Reservation.order_line_id == line.id)
        .execution_options(populate_existing=True)
    ).one()


def entries(p):
    return list(p.dbs.scalars(select(VoucherEntry.kind).order_by(VoucherEntry.id)))


def run_job(p):
    """The job as the queue runs it: what is due, then each item."""
    with services(p.app, p.dbs):
        due = JOB.due()
        return due, [JOB.item(line_id) for line_id in due]


# --- the programme's setting --------------------------------------------------------------


@pytest.mark.parametrize("days", [-1, 91])
def test_cooling_off_days_out_of_range_are_refused_and_nothing_is_stored(app, dbs, p, days):
    with services(app, dbs), pytest.raises(DomainError) as error:
        programmes.create_programme(p.agency, rules(cooling_off_days=days), p.official_actor)
    assert error.value.field == "cooling_off_days"
    assert dbs.scalar(select(func.count(VoucherProgramme.id))) == 0


def test_the_database_refuses_negative_cooling_off_days(p):
    programme = p.programme(cooling_off_days=7)
    with pytest.raises(IntegrityError), p.dbs.begin_nested():
        p.dbs.execute(
            text("UPDATE voucher_programmes SET cooling_off_days = -1 WHERE id = :id"),
            {"id": programme.id},
        )


@pytest.mark.parametrize(
    ("value", "message"), [("-3", "请输入 0 到 90 之间的整数天数"), ("七天", "整数")]
)
def test_the_form_refuses_bad_days_in_chinese_and_stores_nothing(client, dbs, p, value, message):
    client.login("official@cool.cn")
    bad = client.form("/agency/programmes/new", programme_form(cooling_off_days=value))
    assert bad.status_code == 422
    assert message in bad.get_data(as_text=True)
    assert dbs.scalar(select(func.count(VoucherProgramme.id))) == 0


def test_the_form_sets_the_days_and_the_rules_show_them(client, dbs, p):
    client.login("official@cool.cn")
    assert 'name="cooling_off_days"' in client.text("/agency/programmes/new")
    created = client.form("/agency/programmes/new", programme_form(cooling_off_days="7"))
    assert created.status_code == 302
    programme = dbs.scalar(select(VoucherProgramme))
    assert programme.cooling_off_days == 7
    assert 'value="7"' in client.text(f"/agency/programmes/{programme.id}/edit")
    assert "开始交付后 7 天" in client.text(f"/agency/programmes/{programme.id}")
    # not given (a script, an older form): no cooling-off
    data = programme_form(name="第二批")
    client.form("/agency/programmes/new", data)
    second = dbs.scalar(select(VoucherProgramme).where(VoucherProgramme.name == "第二批"))
    assert second.cooling_off_days == 0


# --- cooling off after the start of delivery ----------------------------------------------


def test_delivery_start_begins_the_cooling_off_and_the_enterprise_cancels_it_whole(
    client, app, dbs, p
):
    line, voucher = ordered(p)
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)
    before = utcnow()
    move(p, line, LineEvent.ACCEPT, LineEvent.START)
    until = reservation_of(p, line).cooling_off_until
    assert until is not None
    assert before + timedelta(days=7) <= until <= utcnow() + timedelta(days=7)

    client.login("owner@cool.cn")
    page = client.text(f"/orders/{line.order.number}")
    assert "冷静期至" in page and "冷静期内取消" in page
    # a reason is needed, as for every cancellation
    client.form(f"/order-lines/{line.id}/events/withdraw", {"reason": ""})
    dbs.refresh(line)
    assert line.status is LineStatus.IN_DELIVERY
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)

    done = client.form(f"/order-lines/{line.id}/events/withdraw", {"reason": "试用后不合适"})
    assert done.status_code == 302
    dbs.refresh(line)
    assert line.status is LineStatus.CANCELLED
    # hand-checked: ¥20,000 reserved before; all of it available again, nothing spent
    assert balances(p, voucher) == (VOUCHER_SHARE, 0, 0)
    assert reservation_of(p, line).status is ReservationStatus.RELEASED
    assert entries(p) == [EntryKind.ISSUE, EntryKind.RESERVE, EntryKind.RELEASE]
    release = dbs.scalars(select(VoucherEntry).order_by(VoucherEntry.id.desc())).first()
    assert release.amount_fen == VOUCHER_SHARE
    assert "cooling-off" in (release.note or "")
    audited = dbs.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "vouchers.released", AuditEntry.object_id == str(line.id)
        )
    ).one()
    assert audited.details["amount_fen"] == VOUCHER_SHARE
    told = dbs.scalars(
        select(Notification).where(
            Notification.org_id == p.provider.id, Notification.kind == "order_cancelled"
        )
    ).one()
    assert told.params["reason"] == "试用后不合适"
    books_balance(app, dbs)


def test_the_provider_sees_the_cooling_off_and_cannot_withdraw(client, p):
    line, _voucher = ordered(p)
    move(p, line, LineEvent.ACCEPT, LineEvent.START)
    client.login("provider@cool.cn")
    page = client.text(f"/orders/{line.order.number}")
    assert "冷静期至" in page and "企业可以取消该订单行" in page
    assert "冷静期内取消" not in page
    client.form(f"/order-lines/{line.id}/events/withdraw", {"reason": "不想做了"})
    p.dbs.refresh(line)
    assert line.status is LineStatus.IN_DELIVERY


def test_a_cancellation_after_the_period_is_refused_and_nothing_moves(client, app, dbs, p):
    line, voucher = ordered(p)
    move(p, line, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER)
    later = utcnow() + timedelta(days=7, hours=1)
    with clock_at(later), services(app, dbs), pytest.raises(DomainError) as error:
        orders.transition(line, LineEvent.WITHDRAW, "太贵了", p.enterprise_actor, "enterprise")
    assert "cooling-off period ended" in str(error.value.message)
    dbs.refresh(line)
    assert line.status is LineStatus.DELIVERED
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)
    assert entries(p) == [EntryKind.ISSUE, EntryKind.RESERVE]
    # on the page: the period is shown as over and no button is offered
    client.login("owner@cool.cn")
    with clock_at(later):
        page = client.text(f"/orders/{line.order.number}")
        assert "冷静期已于" in page and "冷静期内取消" not in page
        refused = client.form(f"/order-lines/{line.id}/events/withdraw", {"reason": "太贵了"})
        assert refused.status_code == 302
        assert "已不能取消" in client.text(refused.headers["Location"])
    dbs.refresh(line)
    assert line.status is LineStatus.DELIVERED
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)


def test_another_enterprises_line_cannot_be_cancelled(client, p):
    line, voucher = ordered(p)
    move(p, line, LineEvent.ACCEPT, LineEvent.START)
    other = OrganisationFactory()
    UserFactory(org=other, email="stranger@cool.cn")
    client.login("stranger@cool.cn")
    response = client.form(f"/order-lines/{line.id}/events/withdraw", {"reason": "误操作"})
    assert response.status_code == 404
    p.dbs.refresh(line)
    assert line.status is LineStatus.IN_DELIVERY
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)


def test_without_cooling_off_there_is_nothing_to_withdraw_and_acceptance_redeems(app, dbs, p):
    line, voucher = ordered(p, cooling_off_days=0)
    move(p, line, LineEvent.ACCEPT, LineEvent.START)
    assert reservation_of(p, line).cooling_off_until is None
    with services(app, dbs), pytest.raises(DomainError) as error:
        orders.transition(line, LineEvent.WITHDRAW, "不要了", p.enterprise_actor, "enterprise")
    assert "no cooling-off period" in str(error.value.message)
    dbs.refresh(line)
    assert line.status is LineStatus.IN_DELIVERY
    move(p, line, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY)
    assert balances(p, voucher) == (0, 0, VOUCHER_SHARE)


# --- redemption once the period is over -----------------------------------------------------


def test_acceptance_while_cooling_off_waits_and_the_job_redeems_once(app, dbs, p):
    line, voucher = ordered(p)
    move(p, line, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY)
    dbs.refresh(line)
    assert line.status is LineStatus.COMPLETED
    # accepted (验收), but still cooling off: the money stays set aside
    assert balances(p, voucher) == (0, VOUCHER_SHARE, 0)
    assert reservation_of(p, line).accepted_at is not None
    assert run_job(p) == ([], [])
    # a completed line cannot be withdrawn
    with services(app, dbs), pytest.raises(DomainError):
        orders.transition(line, LineEvent.WITHDRAW, "不要了", p.enterprise_actor, "enterprise")

    later = utcnow() + timedelta(days=7, minutes=1)
    with clock_at(later):
        assert run_job(p) == ([line.id], [VOUCHER_SHARE])
        assert balances(p, voucher) == (0, 0, VOUCHER_SHARE)
        # safe to run twice: nothing due, and the item itself finds nothing to do
        assert run_job(p) == ([], [])
        with services(app, dbs):
            assert JOB.item(line.id) == 0
    assert balances(p, voucher) == (0, 0, VOUCHER_SHARE)
    assert entries(p) == [EntryKind.ISSUE, EntryKind.RESERVE, EntryKind.REDEEM]
    assert reservation_of(p, line).status is ReservationStatus.REDEEMED
    books_balance(app, dbs)


def test_acceptance_after_the_period_redeems_at_once(app, dbs, p):
    line, voucher = ordered(p)
    move(p, line, LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER)
    with clock_at(utcnow() + timedelta(days=8)):
        move(p, line, LineEvent.ACCEPT_DELIVERY)
        assert run_job(p) == ([], [])
    assert balances(p, voucher) == (0, 0, VOUCHER_SHARE)
    books_balance(app, dbs)
