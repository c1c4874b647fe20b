"""Each role's dashboard lists what waits for it: the item, its deadline and its link, the
overdue first, then by deadline, then the oldest; four-eyes items never for their proposer."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from marketplace.accounts import profile_changes
from marketplace.db import LOCAL_ZONE, local_today, utcnow
from marketplace.jobs.models import JobRecord, JobState
from marketplace.orders import aftercare, tickets
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, Order, OrderLine, Ticket
from marketplace.oversight.models import SCORING_DAYS, EvaluationEntry, EvaluationRound, RoundStatus
from marketplace.payments import payouts
from marketplace.payments.models import Invoice, ProviderBalance
from marketplace.security import Actor
from marketplace.todos import Todo, ordered
from marketplace.vouchers import settlement
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import accept_delivery, deliver
from tests.functional.voucher_helpers import pilot

ITEM = re.compile(r'<li data-todo="(\w+)"(?: data-due="([\d-]+)")?>\s*<a href="([^"]+)">')


def todos_of(client, email: str) -> list[tuple[str, date | None, str]]:
    """The dashboard's to-do list, in its order: (kind, deadline, link)."""
    client.login(email)
    html = client.text("/dashboard")
    assert "将随试点推进" not in html
    return [
        (kind, date.fromisoformat(due) if due else None, link)
        for kind, due, link in ITEM.findall(html)
    ]


def test_the_order_overdue_first_then_by_deadline_then_oldest():
    now, today = utcnow(), local_today()
    items = [
        Todo("a", "", "", "/a", now),  # no deadline, newest
        Todo("b", "", "", "/b", now - timedelta(days=3)),  # no deadline, oldest
        Todo("c", "", "", "/c", now, today + timedelta(days=5)),
        Todo("d", "", "", "/d", now, today - timedelta(days=1)),  # overdue
        Todo("e", "", "", "/e", now - timedelta(days=1), today + timedelta(days=5)),
    ]
    assert [t.kind for t in ordered(items)] == ["d", "e", "c", "b", "a"]
    assert [t.overdue for t in ordered(items)][:2] == [True, False]


def test_enterprise_provider_and_officials_see_what_waits_for_them(app, dbs, client, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)  # delivered in a plausible time
    today = local_today()
    p = pilot(app, dbs, "todo")
    # a voucher with money left after two orders, expiring in ten days
    programme = p.programme(
        face_value_fen=100_000_00, cap_fen=100_000_00, redeem_by=today + timedelta(days=10)
    )
    voucher = p.issue_to(programme)
    with services(app, dbs):
        delivered = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        accepted = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        placed = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
        deliver(delivered.lines[0])
        accept_delivery(accepted.lines[0])
        ticket = aftercare.open_ticket(accepted.lines[0], "high", "产线停机", p.enterprise_actor)
    invoice = dbs.scalar(select(Invoice).where(Invoice.order_line_id == accepted.lines[0].id))
    invoice.due_on = today - timedelta(days=2)  # unpaid past its due date
    dbs.commit()

    assert todos_of(client, p.owner.email) == [
        ("invoice_overdue", today - timedelta(days=2), f"/invoices/{invoice.id}"),
        ("voucher_expiring", today + timedelta(days=10), f"/vouchers/{voucher.id}"),
        ("line_delivered", today + timedelta(days=14), f"/orders/{delivered.number}"),
    ]
    dbs.refresh(ticket)
    assert todos_of(client, p.provider_owner.email) == [
        (
            "ticket_waiting",
            ticket.respond_by.astimezone(LOCAL_ZONE).date(),
            f"/tickets/{ticket.id}",
        ),
        ("line_placed", None, f"/orders/{placed.number}"),
    ]

    # four eyes: the settlement one official draws up waits for the other one only
    with services(app, dbs):
        drawn = settlement.draw_up(programme, p.provider.id, p.official_actor)
    assert todos_of(client, p.official.email) == []
    assert todos_of(client, p.official2.email) == [
        ("settlement_draft", None, f"/settlements/{drawn.id}")
    ]
    with services(app, dbs):
        settlement.approve(drawn, drawn.total_fen, "已核对", p.official2_actor)
    assert todos_of(client, p.official.email) == [
        ("settlement_approved", None, f"/settlements/{drawn.id}")
    ]
    client.get("/logout")
    # answered tickets and decided lines leave the lists
    with services(app, dbs):
        tickets.reply(ticket, "已远程处理", Actor(p.provider_owner.id, p.provider.id, None))
        line = dbs.get(OrderLine, placed.lines[0].id)
        orders.transition(line, LineEvent.REJECT, "产能不足", Actor(None, None, None), "provider")
    assert todos_of(client, p.provider_owner.email) == []


def test_assessor_and_platform_lists(app, dbs, client):
    today = local_today()
    p = pilot(app, dbs, "todo2")
    assessor = OrganisationFactory(assessor=True)
    scorer = UserFactory(org=assessor, email="scorer@todo2.cn")
    rnd = EvaluationRound(
        agency_id=p.agency.id,
        name="2026 Q3",
        period_start=today - timedelta(days=95),
        period_end=today - timedelta(days=5),
        pass_mark=60,
        w_rating=20,
        w_outcomes=15,
        w_sla=15,
        w_coverage=10,
        w_digital=10,
        w_savings=10,
        w_assessor=20,
        savings_target_fen=10_000_00,
        waiting_days=90,
        status=RoundStatus.OPEN,
    )
    dbs.add(rnd)
    dbs.flush()
    entry = EvaluationEntry(round_id=rnd.id, provider_id=p.provider.id, assessor_id=assessor.id)
    dbs.add(entry)
    dbs.commit()
    due = today - timedelta(days=5) + timedelta(days=SCORING_DAYS)
    assert todos_of(client, scorer.email) == [
        ("evaluation_to_score", due, f"/assessor/evaluations/{entry.id}")
    ]
    assert todos_of(client, p.official.email) == [
        ("evaluation_to_close", due, f"/agency/evaluations/{rnd.id}")
    ]

    platform = OrganisationFactory(platform=True)
    admin = UserFactory(org=platform, email="admin@todo2.cn")
    admin2 = UserFactory(org=platform, email="admin2@todo2.cn")
    dbs.add(ProviderBalance(provider_id=p.provider.id, collected_fen=5_000_00, paid_out_fen=0))
    dbs.add(
        JobRecord(
            task_id="t-1",
            name="marketplace.item.invoice_reminders",
            args="[1]",
            kwargs="{}",
            state=JobState.FAILED,
            last_error="boom",
            updated_at=utcnow(),
        )
    )
    dbs.commit()
    with services(app, dbs):
        payouts.propose(p.provider.id, 3_000_00, "三月结算", Actor(admin.id, platform.id, None))
    assert todos_of(client, admin.email) == [("job_failed", None, "/admin/jobs")]
    assert todos_of(client, admin2.email) == [
        ("job_failed", None, "/admin/jobs"),
        ("payout_proposed", None, "/platform/payouts"),
    ]


def test_profile_changes_wait_for_the_covering_agency(app, dbs, client):
    p = pilot(app, dbs, "todo3")
    p.agency.region_code = p.enterprise.region_code  # the agency covering the enterprise
    dbs.commit()
    with services(app, dbs):
        asked = profile_changes.request_changes(
            p.enterprise, {"employees": (p.enterprise.employees or 0) + 5}, p.enterprise_actor
        )
    assert asked == ["employees"]
    assert todos_of(client, p.official.email) == [
        ("profile_change", None, profile_changes.QUEUE_LINK)
    ]


def test_lists_cost_the_same_whatever_their_length(app, dbs, client, count_queries):
    """One dashboard for each of the busiest roles: as many queries with one waiting item of
    each sort as with three."""
    p = pilot(app, dbs, "todoq")
    programme = p.programme(face_value_fen=80_000_00, cap_fen=80_000_00)
    p.issue_to(programme)

    def more():
        with services(app, dbs):
            delivered = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
            accepted = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
            orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
            deliver(delivered.lines[0])
            accept_delivery(accepted.lines[0])
            aftercare.open_ticket(accepted.lines[0], "high", "停机", p.enterprise_actor)

    def measure():
        found = {}
        for email in (p.owner.email, p.provider_owner.email, p.official2.email):
            client.login(email)
            client.get("/dashboard")
            count_queries.count = 0
            assert client.get("/dashboard").status_code == 200
            found[email] = count_queries.count
        return found

    more()
    small = measure()
    more()
    more()
    assert dbs.scalar(select(Ticket.id).where(Ticket.provider_id == p.provider.id)) is not None
    assert (
        len(dbs.scalars(select(Order.id).where(Order.enterprise_id == p.enterprise.id)).all()) == 9
    )
    assert measure() == small
