"""After acceptance: support tickets with the package's SLA clock and reviews by verified
buyers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from marketplace import audit
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import reviews
from marketplace.catalog.models import Review
from marketplace.db import db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.notifications import notify
from marketplace.orders.models import LineStatus, OrderLine, Severity, Ticket
from marketplace.security import Actor

# Tickets


def open_ticket(line: OrderLine, severity: str, description: str, actor: Actor) -> Ticket:
    if line.order.enterprise_id != actor.org_id:
        raise DomainError(_l("Only the buyer raises tickets on a line."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("Support tickets are for accepted deliveries."))
    try:
        level = Severity(severity)
    except ValueError as exc:
        raise DomainError(_l("Choose a severity from the list."), field="severity") from exc
    if not description.strip():
        raise DomainError(_l("Describe the problem."), field="description")
    now = utcnow()
    ticket = Ticket(
        line_id=line.id,
        enterprise_id=line.order.enterprise_id,
        provider_id=line.provider_id,
        severity=level,
        description=description.strip(),
        opened_at=now,
        respond_by=now
        + timedelta(
            hours=line.version.sla_response_hours
            if line.version
            else current_app.config["INTEGRATION_SLA_HOURS"]
        ),
    )
    db.session.add(ticket)
    db.session.flush()
    notify(
        line.provider_id,
        "ticket_opened",
        f"/tickets/{ticket.id}",
        title=line.title,
        severity=level.value,
    )
    audit.record(actor, "ticket.opened", "ticket", ticket.id, line_id=line.id, severity=level.value)
    return ticket


def ticket_for(org: Organisation, ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or org.id not in (ticket.enterprise_id, ticket.provider_id):
        raise NotFound(_l("Not found."))
    return ticket


def respond(ticket: Ticket, response: str, actor: Actor) -> None:
    if actor.org_id != ticket.provider_id:
        raise DomainError(_l("Only the provider answers a ticket."))
    if not response.strip():
        raise DomainError(_l("Write an answer."), field="response")
    if ticket.closed_at is not None:
        raise DomainError(_l("This ticket is closed."))
    now = utcnow()
    first = ticket.responded_at is None
    ticket.response = response.strip()
    if first:
        ticket.responded_at = now
        if now > ticket.respond_by:
            ticket.breached = True
        notify(
            ticket.enterprise_id,
            "ticket_answered",
            f"/tickets/{ticket.id}",
            title=ticket.line.title,
        )
    audit.record(actor, "ticket.answered", "ticket", ticket.id, breached=ticket.breached)


def close(ticket: Ticket, actor: Actor) -> None:
    if actor.org_id != ticket.enterprise_id:
        raise DomainError(_l("Only the buyer closes a ticket."))
    if ticket.closed_at is None:
        ticket.closed_at = utcnow()
        audit.record(actor, "ticket.closed", "ticket", ticket.id)


def _missed() -> list[Any]:
    return [
        Ticket.responded_at.is_(None),
        Ticket.respond_by < utcnow(),
        Ticket.breached.is_(False),
        # a ticket the buyer closed in time was not missed
        (Ticket.closed_at.is_(None)) | (Ticket.closed_at > Ticket.respond_by),
    ]


def due_breaches() -> list[int]:
    """Tickets unanswered past their deadline and not yet marked (the SLA job's items)."""
    return list(db.session.scalars(select(Ticket.id).where(*_missed()).order_by(Ticket.id)))


def record_breach(ticket_id: int) -> bool:
    """Mark one ticket missed, if it still is (an answer meanwhile, or a second run, finds
    nothing to do)."""
    result = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, *_missed())
        .values(breached=True)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def record_breaches() -> int:
    """Mark every ticket still unanswered past its deadline."""
    return sum(record_breach(ticket_id) for ticket_id in due_breaches())


def open_ticket_count(provider: Organisation) -> int:
    stmt = select(func.count(Ticket.id)).where(
        Ticket.provider_id == provider.id, Ticket.closed_at.is_(None)
    )
    return db.session.scalar(stmt) or 0


def tickets_of(org: Organisation) -> list[Ticket]:
    column = Ticket.provider_id if org.kind is OrgKind.PROVIDER else Ticket.enterprise_id
    stmt = (
        select(Ticket)
        .where(column == org.id)
        .options(joinedload(Ticket.line))
        .order_by(Ticket.id.desc())
    )
    return list(db.session.scalars(stmt))


def tickets_on(line_ids: list[int]) -> dict[int, list[Ticket]]:
    result: dict[int, list[Ticket]] = {i: [] for i in line_ids}
    if line_ids:
        for t in db.session.scalars(
            select(Ticket).where(Ticket.line_id.in_(line_ids)).order_by(Ticket.id)
        ):
            result[t.line_id].append(t)
    return result


# Reviews


def review(line: OrderLine, rating: int, comment: str, actor: Actor) -> Review:
    """The buyer reviews the package of a line it accepted (the catalogue keeps the review)."""
    if line.order.enterprise_id != actor.org_id:
        raise DomainError(_l("Only the buyer reviews a line."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("You can review after accepting the delivery."))
    if line.package_id is None:
        raise DomainError(_l("Reviews are for packages; rate the parts of the bundle."))
    r = reviews.add_review(
        line.package_id, line.id, line.order.enterprise_id, rating, comment, actor
    )
    notify(
        line.provider_id,
        "review_received",
        f"/packages/{line.package_id}",
        title=line.title,
        rating=rating,
    )
    return r
