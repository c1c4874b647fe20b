"""What waits in orders: the enterprise's deliveries to accept (by the auto-accept date), the
provider's new orders, deliveries (by their next milestone), disputes and unanswered tickets.
A fixed number of queries per list, whatever the number of lines."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace.accounts.models import Organisation
from marketplace.db import LOCAL_ZONE, db
from marketplace.orders import disputes, needs, trials
from marketplace.orders.models import LineStatus, Milestone, Order, OrderLine, Ticket
from marketplace.todos import Todo


def _object(number: str, title: str) -> str:
    return f"{number} · {title}"


def for_enterprise(enterprise: Organisation, auto_accept_days: int) -> list[Todo]:
    """Delivered lines to accept (验收) or dispute, by the day they are accepted for it."""
    rows = db.session.execute(
        select(OrderLine.id, OrderLine.title, OrderLine.delivered_at, Order.number)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.enterprise_id == enterprise.id, OrderLine.status == LineStatus.DELIVERED)
    )
    return [
        Todo(
            "line_delivered",
            _l("Accept or dispute the delivery"),
            _object(number, title),
            f"/orders/{number}",
            delivered_at,
            (delivered_at + timedelta(days=auto_accept_days)).astimezone(LOCAL_ZONE).date(),
        )
        for _id, title, delivered_at, number in rows
        if delivered_at is not None
    ]


def for_provider(provider: Organisation) -> list[Todo]:
    """New orders to accept or reject, lines to deliver (by their next open milestone),
    disputed deliveries to answer and tickets waiting for a first answer (by the SLA)."""
    waiting = (LineStatus.PLACED, LineStatus.ACCEPTED, LineStatus.IN_DELIVERY, LineStatus.DISPUTED)
    lines = db.session.execute(
        select(OrderLine.id, OrderLine.title, OrderLine.status, OrderLine.created_at, Order.number)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.provider_id == provider.id, OrderLine.status.in_(waiting))
    ).all()
    next_milestone = dict(
        db.session.execute(
            select(Milestone.line_id, func.min(Milestone.due_on))
            .join(OrderLine, OrderLine.id == Milestone.line_id)
            .where(
                OrderLine.provider_id == provider.id,
                OrderLine.status.in_((LineStatus.ACCEPTED, LineStatus.IN_DELIVERY)),
                Milestone.done_at.is_(None),
            )
            .group_by(Milestone.line_id)
        ).all()
    )
    actions = {
        LineStatus.PLACED: ("line_placed", _l("Accept or reject the order")),
        LineStatus.ACCEPTED: ("line_to_deliver", _l("Plan and start the delivery")),
        LineStatus.IN_DELIVERY: ("line_to_deliver", _l("Deliver")),
        LineStatus.DISPUTED: ("line_disputed", _l("Answer the dispute: deliver again")),
    }
    found = [
        Todo(
            actions[status][0],
            actions[status][1],
            _object(number, title),
            f"/orders/{number}",
            created,
            next_milestone.get(line_id),
        )
        for line_id, title, status, created, number in lines
    ]
    tickets = db.session.execute(
        select(Ticket.id, Ticket.opened_at, Ticket.respond_by, OrderLine.title)
        .join(OrderLine, OrderLine.id == Ticket.line_id)
        .where(
            Ticket.provider_id == provider.id,
            Ticket.responded_at.is_(None),
            Ticket.closed_at.is_(None),
        )
    )
    found += [
        Todo(
            "ticket_waiting",
            _l("Answer the support ticket"),
            title,
            f"/tickets/{ticket_id}",
            opened,
            respond_by.astimezone(LOCAL_ZONE).date(),
        )
        for ticket_id, opened, respond_by, title in tickets
    ]
    return found


def for_decider(org: Organisation) -> list[Todo]:
    """Escalated disputes waiting for this agency's (or the platform's) decision."""
    return [
        Todo(
            "dispute_to_decide",
            _l("Decide the dispute"),
            _object(number, title),
            f"/disputes/{dispute_id}",
            escalated_at,
        )
        for dispute_id, number, title, escalated_at in disputes.escalated_for(org)
    ]


def needs_for_enterprise(enterprise: Organisation) -> list[Todo]:
    """Open needs with quotes waiting: compare them and choose, by the need's deadline."""
    return [
        Todo(
            "quotes_to_compare",
            _l("Compare the quotes and choose"),
            f"#{need.id} · {need.description[:40]}",
            f"/needs/{need.id}",
            need.created_at,
            need.deadline,
        )
        for need, _n in needs.quotes_waiting(enterprise)
    ]


def needs_for_provider(provider: Organisation) -> list[Todo]:
    """Open needs in the provider's categories it has not quoted on, by their deadline."""
    return [
        Todo(
            "need_to_quote",
            _l("Send a quote on the need"),
            f"#{need.id} · {need.description[:40]}",
            f"/needs/board/{need.id}",
            need.created_at,
            need.deadline,
        )
        for need in needs.unanswered(provider)
    ]


def trials_for_enterprise(enterprise: Organisation) -> list[Todo]:
    """Live trials ending within ``trials.REMIND_DAYS`` days: order the package or let it go,
    by the trial's last day (one query)."""
    return [
        Todo(
            "trial_ending",
            _l("Your trial ends soon: order the package or let it end"),
            trial.version.title,
            "/trials",
            trial.started_at,
            trial.ends_at.astimezone(LOCAL_ZONE).date(),
        )
        for trial in trials.ending_soon(enterprise)
    ]
