"""Checkout and the order line's state machine, from both sides."""

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from marketplace import db as database
from marketplace import notifications
from marketplace.db import LOCAL_ZONE, utcnow
from marketplace.notifications import Notification
from marketplace.orders import bundles as bundle_service
from marketplace.orders import services as orders
from marketplace.orders.models import (
    LINE_MACHINE,
    LineEvent,
    LineStatus,
    LineStatusChange,
    Order,
    OrderLine,
    whole_days,
)
from marketplace.payments.models import Invoice
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.statemachine import IllegalTransition
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    SUBSCRIPTION,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)
from tests.functional.order_helpers import accept_delivery


@pytest.fixture
def shop(app, dbs):
    agency, _ = agency_with_official("o@ord.cn")
    a, a_owner = provider_with_owner("a@ord.cn")
    b, b_owner = provider_with_owner("b@ord.cn")
    membership(dbs, a, agency)
    membership(dbs, b, agency)
    pa = published_package(app, dbs, a, a_owner)
    pb = published_package(app, dbs, b, b_owner)
    org = OrganisationFactory()
    user = UserFactory(org=org, email="e@ord.cn")
    actor = Actor(user.id, org.id, None)
    with services(app, dbs):
        bundle = bundle_service.create(org, "方案", actor)
        bundle_service.add(bundle, pa.id, None, actor)
        bundle_service.add(bundle, pb.id, None, actor)
    return {"org": org, "bundle": bundle, "pa": pa, "pb": pb, "a": a, "b": b}


def place(client, shop):
    client.login("e@ord.cn")
    response = client.form(f"/my-bundles/{shop['bundle'].id}/checkout")
    assert response.status_code == 302 and "/orders/ZX" in response.headers["Location"]
    return response.headers["Location"]


def test_checkout_copies_lines_at_that_moment(client, dbs, shop):
    path = place(client, shop)
    order = dbs.scalar(select(Order).where(Order.enterprise_id == shop["org"].id))
    assert path.endswith(order.number) and order.number.startswith("ZX")
    assert [(line.title, line.status, line.committed_fen) for line in order.lines] == [
        ("设备联网网关套件（标准版）", LineStatus.PLACED, 24_000_00),
        ("设备联网网关套件（标准版）", LineStatus.PLACED, 24_000_00),
    ]
    assert {line.provider_id for line in order.lines} == {shop["a"].id, shop["b"].id}
    page = client.text(path)
    assert order.number in page and "已下单，等待服务商确认" in page


def test_checkout_refuses_empty_bundles_and_suspended_providers(app, client, dbs, shop):
    client.login("e@ord.cn")
    empty = client.form("/my-bundles", {"name": "空方案"})
    empty_id = int(empty.headers["Location"].rsplit("/", 1)[1])
    page = client.form(f"/my-bundles/{empty_id}/checkout", follow_redirects=True).get_data(
        as_text=True
    )
    assert "组合方案是空的" in page
    m = dbs.scalar(select(PoolMembership).where(PoolMembership.provider_id == shop["b"].id))
    m.status = PoolStatus.SUSPENDED
    dbs.commit()
    page = client.form(f"/my-bundles/{shop['bundle'].id}/checkout", follow_redirects=True).get_data(
        as_text=True
    )
    assert "已不再供应" in page
    assert dbs.scalar(select(func.count(Order.id))) == 0


def line_of(dbs, provider):
    dbs.expire_all()
    return dbs.scalar(select(OrderLine).where(OrderLine.provider_id == provider.id))


def test_the_whole_life_of_a_line(app, client, dbs, shop):
    place(client, shop)
    client.form("/logout")
    client.login("a@ord.cn")
    line = line_of(dbs, shop["a"])
    other = line_of(dbs, shop["b"])
    order_page = client.text(f"/orders/{line.order.number}")
    assert shop["b"].name not in order_page  # a provider sees only its own lines
    assert client.form(f"/order-lines/{other.id}/events/accept").status_code == 404
    client.form(f"/order-lines/{line.id}/events/accept")
    client.form(
        f"/order-lines/{line.id}/milestones",
        {"title": "现场勘查", "due_on": (utcnow() + timedelta(days=7)).date().isoformat()},
    )
    client.form(f"/order-lines/{line.id}/events/start")
    page = client.form(f"/order-lines/{line.id}/events/deliver", follow_redirects=True).get_data(
        as_text=True
    )
    assert "请先完成所有里程碑" in page
    milestone = line_of(dbs, shop["a"]).milestones[0]
    client.form(f"/order-lines/{line.id}/milestones/{milestone.id}/done")
    client.form(f"/order-lines/{line.id}/events/deliver")
    assert line_of(dbs, shop["a"]).status is LineStatus.DELIVERED
    from marketplace.notifications import Notification

    kinds = dbs.scalars(
        select(Notification.kind).where(Notification.org_id == shop["org"].id)
    ).all()
    assert {"milestone_planned", "milestone_done", "line_changed"} <= set(kinds)
    client.form("/logout")

    client.login("e@ord.cn")
    no_reason = client.form(
        f"/order-lines/{line.id}/events/dispute", {"reason": ""}, follow_redirects=True
    )
    assert "请填写理由" in no_reason.get_data(as_text=True)
    client.form(f"/order-lines/{line.id}/events/dispute", {"reason": "看板数据不刷新。"})
    client.form("/logout")
    client.login("a@ord.cn")
    client.form(f"/order-lines/{line.id}/events/redeliver")
    client.form("/logout")
    client.login("e@ord.cn")
    client.form(f"/order-lines/{line.id}/events/accept_delivery")
    final = line_of(dbs, shop["a"])
    assert final.status is LineStatus.COMPLETED
    events = [
        h.event
        for h in dbs.scalars(
            select(LineStatusChange)
            .where(LineStatusChange.line_id == line.id)
            .order_by(LineStatusChange.id)
        )
    ]
    assert events == [
        "place",
        "accept",
        "start",
        "deliver",
        "dispute",
        "redeliver",
        "accept_delivery",
    ]
    assert "看板数据不刷新。" in client.text(f"/orders/{final.order.number}")


def test_illegal_transitions_are_refused(client, dbs, shop):
    place(client, shop)
    line = line_of(dbs, shop["a"])
    # the enterprise cannot accept a delivery that did not happen, nor accept the order for the provider
    for event in ["accept_delivery", "accept", "deliver", "bogus"]:
        page = client.form(
            f"/order-lines/{line.id}/events/{event}", follow_redirects=True
        ).get_data(as_text=True)
        assert "当前状态下无法执行此操作" in page, event
    assert line_of(dbs, shop["a"]).status is LineStatus.PLACED
    client.form(f"/order-lines/{line.id}/events/cancel", {"reason": "预算调整"})
    assert line_of(dbs, shop["a"]).status is LineStatus.CANCELLED


def test_other_enterprises_orders_are_404(client, dbs, shop):
    path = place(client, shop)
    client.form("/logout")
    UserFactory(email="x@ord.cn")
    client.login("x@ord.cn")
    assert client.get(path).status_code == 404
    line = line_of(dbs, shop["a"])
    assert client.form(f"/order-lines/{line.id}/events/cancel", {"reason": "x"}).status_code == 404


def test_auto_accept_after_silence(app, client, dbs, shop):
    place(client, shop)
    line = line_of(dbs, shop["a"])
    line.status = LineStatus.DELIVERED
    line.delivered_at = utcnow() - timedelta(days=15)
    line.days_to_go_live = whole_days(line.created_at, line.delivered_at)  # stored with it
    dbs.commit()
    other = line_of(dbs, shop["b"])
    other.status = LineStatus.DELIVERED
    other.delivered_at = utcnow() - timedelta(days=12)
    other.days_to_go_live = whole_days(other.created_at, other.delivered_at)
    dbs.commit()
    result = app.test_cli_runner().invoke(args=["auto-accept"])
    assert result.exit_code == 0, result.output
    assert "accepted automatically: 1 line(s)" in result.output
    assert f"line {other.id} will be accepted automatically soon" in result.output
    assert line_of(dbs, shop["a"]).status is LineStatus.COMPLETED
    assert line_of(dbs, shop["b"]).status is LineStatus.DELIVERED


def test_no_sequence_of_events_leaves_the_machine():
    """A property test: random walks only ever reach states of the table."""
    rng = random.Random(7)
    states = set(LineStatus)
    for _ in range(300):
        state = LineStatus.PLACED
        for _step in range(12):
            event = rng.choice(list(LineEvent))
            actor = rng.choice(["enterprise", "provider", "system", "agency"])
            try:
                state = LINE_MACHINE.next_state(state, event, actor)
            except IllegalTransition:
                continue
            assert state in states
    reachable = {t.target for t in LINE_MACHINE.table.values()}
    assert reachable <= states and LineStatus.COMPLETED in reachable


def test_a_line_moves_only_from_the_state_the_request_saw(app, client, dbs, connection, shop):
    """Accept and reject clicked at once: the second finds the line already moved."""
    from sqlalchemy import update

    from marketplace.errors import DomainError
    from marketplace.orders import services as orders

    place(client, shop)
    line = line_of(dbs, shop["a"])
    with services(app, dbs):
        connection.execute(
            update(OrderLine).where(OrderLine.id == line.id).values(status="accepted")
        )
        with pytest.raises(DomainError, match=r"meanwhile|已被更新"):
            orders.transition(
                line, LineEvent.REJECT, "太忙", Actor(None, shop["a"].id, None), "provider"
            )
    history = dbs.scalars(
        select(LineStatusChange.event).where(LineStatusChange.line_id == line.id)
    ).all()
    assert "reject" not in history


def test_checkout_is_idempotent_with_its_key(client, dbs, shop):
    client.login("e@ord.cn")
    key = "k" * 32
    first = client.form(f"/my-bundles/{shop['bundle'].id}/checkout", {"key": key})
    second = client.form(f"/my-bundles/{shop['bundle'].id}/checkout", {"key": key})
    assert first.headers["Location"] == second.headers["Location"]
    assert dbs.scalar(select(func.count(Order.id))) == 1


def test_order_totals_leave_out_rejected_lines(client, dbs, shop):
    place(client, shop)
    client.form("/logout")
    client.login("b@ord.cn")
    line = line_of(dbs, shop["b"])
    client.form(f"/order-lines/{line.id}/events/reject", {"reason": "排期已满"})
    dbs.expire_all()
    order = dbs.scalar(select(Order))
    assert order.committed_fen == 24_000_00  # only provider a's line remains


def test_reminders_go_out_once(app, client, dbs, shop):
    place(client, shop)
    line = line_of(dbs, shop["a"])
    line.status = LineStatus.DELIVERED
    line.delivered_at = utcnow() - timedelta(days=12)
    line.days_to_go_live = whole_days(line.created_at, line.delivered_at)  # stored with it
    dbs.commit()
    runner = app.test_cli_runner()
    assert "will be accepted automatically soon" in runner.invoke(args=["auto-accept"]).output
    assert "will be accepted automatically soon" not in runner.invoke(args=["auto-accept"]).output
    assert runner.invoke(args=["auto-accept", "--days", "-1"]).exit_code == 2
    # the enterprise is told the day, and what to do before it
    [reminder] = dbs.scalars(
        select(Notification).where(Notification.kind == "auto_accept_soon")
    ).all()
    due = (line.delivered_at + timedelta(days=14)).astimezone(LOCAL_ZONE).date().isoformat()
    assert reminder.params["by"] == due
    with app.test_request_context(), force_locale("en"):
        told = notifications.text(reminder)
    assert due in told and "raise a dispute" in told


def test_odd_ids_and_numbers_are_not_errors(client, dbs, shop):
    assert client.get("/catalog?page=²&min_price=٣&min_rating=²").status_code == 200
    # one package left to compare: explained in the catalogue
    assert client.get(f"/compare?ids=²&ids={shop['pa'].id}").status_code == 302
    assert client.get("/orders/ZX%00").status_code in (400, 404)
    client.login("e@ord.cn")
    for data in [
        {"package_id": "99999999999999999999999"},
        {"package_id": str(shop["pa"].id), "bundle_id": "²"},
        {"package_id": str(shop["pa"].id), "plan_id": "²", "bundle_id": "new"},
    ]:
        assert client.form("/my-bundles/add", data).status_code in (302, 404), data


def test_random_events_through_the_service_keep_to_the_machine(app, client, dbs, shop):
    """A property test on the stored history: random events, by random parties, through the
    same service the pages use; every recorded step is a step of the machine."""
    from marketplace.errors import DomainError
    from marketplace.orders import services as orders

    place(client, shop)
    rng = random.Random(11)
    allowed = {(t.source, t.event.value, t.target) for t in LINE_MACHINE.table.values()}
    with services(app, dbs):
        for line in dbs.scalars(select(OrderLine)).all():
            for _ in range(25):
                event = rng.choice(list(LineEvent))
                kind = rng.choice(["enterprise", "provider", "system"])
                try:
                    orders.transition(line, event, "理由", Actor(None, None, None), kind)
                except DomainError:
                    continue
                assert line.status in set(LineStatus)
    for h in dbs.scalars(select(LineStatusChange).where(LineStatusChange.event != "place")):
        assert (h.from_status, h.event, h.to_status) in allowed


def test_the_provider_dashboard_counts_waiting_lines(client, dbs, shop):
    place(client, shop)
    client.form("/logout")
    client.login("a@ord.cn")
    assert "1 个订单行等待您确认" in client.text("/dashboard")


@pytest.mark.parametrize(
    ("accepted", "now", "months"),
    [
        # accepted (验收) at 23:00 on 6 Nov in Shanghai; at 01:00 on 6 Dec there (still the 5th in
        # UTC) it is day 30: the second month has begun
        ("2026-11-06 15:00+00:00", "2026-12-05 17:00+00:00", 2),
        # a minute before that local midnight: day 29
        ("2026-11-06 15:00+00:00", "2026-12-05 15:59+00:00", 1),
        # accepted at 01:00 on 7 Nov in Shanghai (the 6th in UTC): on 6 Dec it is day 29
        ("2026-11-06 17:00+00:00", "2026-12-06 03:00+00:00", 1),
    ],
)
def test_monthly_billing_counts_the_pilots_days(app, dbs, monkeypatch, accepted, now, months):
    agency, _ = agency_with_official("o@bil.cn")
    provider, owner = provider_with_owner("p@bil.cn")
    membership(dbs, provider, agency)
    plan = replace(SUBSCRIPTION, billed_monthly=True, term_months=3)
    package = published_package(app, dbs, provider, owner, plans=(plan,))
    org = OrganisationFactory()
    actor = Actor(UserFactory(org=org, email="e@bil.cn").id, org.id, None)
    with services(app, dbs):
        bundle = bundle_service.create(org, "按月方案", actor)
        bundle_service.add(bundle, package.id, None, actor)
        line = orders.checkout(org, bundle, actor).lines[0]
        accept_delivery(line)  # month 1 is invoiced now
    dbs.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id)
        .values(accepted_at=datetime.fromisoformat(accepted))
    )
    clock = datetime.fromisoformat(now)
    for module in (database, orders):  # the clock, wherever the billing job may read it
        monkeypatch.setattr(module, "utcnow", lambda: clock)
    with services(app, dbs):
        orders.bill_due_periods(Actor(None, None, "cli"))
    periods = dbs.scalars(select(Invoice.period).where(Invoice.order_line_id == line.id))
    assert sorted(periods) == list(range(1, months + 1))
