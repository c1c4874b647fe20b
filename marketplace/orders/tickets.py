"""Support tickets after acceptance: a conversation between the buyer and the provider, with
attachments, a state machine (``TICKET_MACHINE``) and two SLA clocks.

Clocks:
- first answer: ``respond_by`` = opening + the package's fault-response hours (an integration
  line: ``INTEGRATION_SLA_HOURS``); met when the provider's first message comes in time.
- resolution: ``resolve_by`` = opening + ``TICKET_RESOLUTION_HOURS`` for the severity (the
  packages state no resolution time of their own), never before ``respond_by``. It stops when
  the provider marks the ticket resolved or the enterprise closes it (``resolved_at``).
  Time that stands still does not count: when it runs again (the enterprise replies "not
  solved" to a resolution, or reopens a closed ticket) ``resolve_by`` moves later by that
  time; a reopened ticket never answered also gets its ``respond_by`` moved by the time it
  was closed.
A clock missed is recorded once (a conditional update), by the action that came late or by
the ``sla_breaches`` job for a silent ticket, and both parties are told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload, undefer

from marketplace import audit, files, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import LOCAL_ZONE, atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.orders.models import (
    TICKET_MACHINE,
    LineStatus,
    OrderLine,
    Severity,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketMessage,
    TicketStatus,
    TicketStatusChange,
)
from marketplace.security import Actor

MAX_BODY = 8000  # characters of one message
ATTACHMENT_TYPES = ("pdf", "png", "jpg", "jpeg", "xlsx", "csv", "txt")
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
ENTERPRISE, PROVIDER = OrgKind.ENTERPRISE.value, OrgKind.PROVIDER.value
CLOCK = Actor(None, None, "sla")

notifications.register_kinds(
    {
        "ticket_raised": _l(
            "New support ticket #%(ticket)s on %(title)s (%(severity)s): send a first answer by"
            " %(by)s."
        ),
        "ticket_provider_replied": _l(
            "The provider replied on ticket #%(ticket)s (%(title)s): read it, then reply or"
            " close the ticket."
        ),
        "ticket_enterprise_replied": _l(
            "The enterprise replied on ticket #%(ticket)s (%(title)s): answer it; it is to be"
            " resolved by %(by)s."
        ),
        "ticket_resolved": _l(
            "The provider marked ticket #%(ticket)s (%(title)s) resolved: close it if it is, or"
            " reply if it is not."
        ),
        "ticket_closed": _l("The enterprise closed ticket #%(ticket)s (%(title)s)."),
        "ticket_reopened": _l(
            "The enterprise reopened ticket #%(ticket)s (%(title)s): answer it; it is to be"
            " resolved by %(by)s."
        ),
        "ticket_sla_missed": _l(
            "Ticket #%(ticket)s (%(title)s) missed its %(clock)s deadline of %(due)s: the"
            " provider should act on it now."
        ),
    },
    deadline=["ticket_raised", "ticket_enterprise_replied", "ticket_reopened"],
    group="support",
)
notifications.register_param_labels(
    "clock", {FIRST_RESPONSE: _l("first answer"), RESOLUTION: _l("resolution")}
)


def _day(moment: datetime) -> str:
    """A deadline as the pilots' local date (ISO), as notifications carry it."""
    return moment.astimezone(LOCAL_ZONE).date().isoformat()


def _tell(org_id: int, kind: str, ticket: Ticket, **params: Any) -> None:
    notifications.notify(
        org_id, kind, f"/tickets/{ticket.id}", ticket=ticket.id, title=ticket.line.title, **params
    )


# Checks that come before any write


def _side(ticket: Ticket, actor: Actor) -> str:
    if actor.org_id == ticket.enterprise_id:
        return ENTERPRISE
    if actor.org_id == ticket.provider_id:
        return PROVIDER
    raise NotFound(_l("Not found."))


def _body(body: str, field: str = "body") -> str:
    text = (body or "").strip()
    if not text:
        raise DomainError(_l("Write a message."), field=field)
    if len(text) > MAX_BODY:
        raise DomainError(_l("A message has at most %(n)d characters.", n=MAX_BODY), field=field)
    return text


def _checked(upload: files.Upload | None) -> tuple[str, str] | None:
    if upload is None:
        return None
    return files.checked(
        upload,
        ATTACHMENT_TYPES,
        current_app.config["TICKET_ATTACHMENT_MAX_BYTES"],
        field="attachment",
        kinds=_l("Attach a PDF, an image (PNG, JPG), a spreadsheet (XLSX, CSV) or a text file."),
    )


# Writes


def _message(
    ticket: Ticket,
    actor: Actor,
    text: str,
    upload: files.Upload | None,
    checked: tuple[str, str] | None,
) -> TicketMessage:
    message = TicketMessage(
        ticket_id=ticket.id,
        author_org_id=actor.org_id,
        author_user_id=actor.user_id,
        body=text,
    )
    db.session.add(message)
    db.session.flush()
    if upload is not None and checked is not None:
        name, content_type = checked
        db.session.add(
            TicketAttachment(
                message_id=message.id,
                ticket_id=ticket.id,
                name=name,
                content_type=content_type,
                size=len(upload.data),
                data=upload.data,
            )
        )
    return message


def _move(
    ticket: Ticket, event: TicketEvent, actor: Actor, side: str, **values: object
) -> TicketStatus:
    """Apply the machine from the state this request saw (two clicks at once cannot both move
    the ticket) and write the history row; returns the state before."""
    before = ticket.status
    after = TICKET_MACHINE.next_state(before, event, side)
    moved = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == before)
        .values(status=after, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This ticket changed meanwhile. Reload the page and try again."))
    db.session.refresh(ticket)
    db.session.add(
        TicketStatusChange(
            ticket_id=ticket.id,
            from_status=before,
            to_status=after,
            event=event.value,
            actor_user_id=actor.user_id,
            actor_kind=side,
        )
    )
    return before


def _missed(clock: str) -> list[ColumnElement[bool]]:
    """A clock that ran out with nothing to stop it (the job's condition)."""
    now = utcnow()
    if clock == FIRST_RESPONSE:
        return [
            Ticket.responded_at.is_(None),
            Ticket.respond_by < now,
            # a ticket the buyer closed in time was not missed
            or_(Ticket.closed_at.is_(None), Ticket.closed_at > Ticket.respond_by),
        ]
    return [Ticket.resolved_at.is_(None), Ticket.resolve_by < now]


def _record_miss(ticket: Ticket, clock: str, *conditions: ColumnElement[bool]) -> bool:
    """Mark one clock missed, once: whoever finds it first (the late action, or the job) tells
    both parties; a second finder changes nothing."""
    flag = Ticket.breached if clock == FIRST_RESPONSE else Ticket.resolution_breached
    result = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, flag.is_(False), *conditions)
        .values({flag.key: True})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.session.refresh(ticket, [flag.key])
    due = ticket.respond_by if clock == FIRST_RESPONSE else ticket.resolve_by
    for org_id in (ticket.provider_id, ticket.enterprise_id):
        _tell(org_id, "ticket_sla_missed", ticket, clock=clock, due=_day(due))
    audit.record(
        CLOCK,  # the SLA's clock finds it, whatever action or job came late
        "ticket.sla_missed",
        "ticket",
        ticket.id,
        clock=clock,
    )
    return True


@atomic
def open_ticket(
    line: OrderLine,
    severity: str,
    description: str,
    actor: Actor,
    upload: files.Upload | None = None,
) -> Ticket:
    """The buyer asks; its question is the first message of the conversation."""
    if line.order.enterprise_id != actor.org_id:
        raise DomainError(_l("Only the buyer raises tickets on a line."))
    if line.status is not LineStatus.COMPLETED:
        raise DomainError(_l("Support tickets are for accepted deliveries."))
    try:
        level = Severity(severity)
    except ValueError as exc:
        raise DomainError(_l("Choose a severity from the list."), field="severity") from exc
    text = _body(description, "description")
    checked = _checked(upload)
    now = utcnow()
    config = current_app.config
    respond_by = now + timedelta(
        hours=line.version.sla_response_hours if line.version else config["INTEGRATION_SLA_HOURS"]
    )
    resolve_by = max(respond_by, now + timedelta(hours=config["TICKET_RESOLUTION_HOURS"][level]))
    ticket = Ticket(
        line_id=line.id,
        enterprise_id=line.order.enterprise_id,
        provider_id=line.provider_id,
        severity=level,
        status=TICKET_MACHINE.next_state(None, TicketEvent.OPEN, ENTERPRISE),
        description=text,
        opened_at=now,
        respond_by=respond_by,
        resolve_by=resolve_by,
    )
    db.session.add(ticket)
    db.session.flush()
    db.session.add(
        TicketStatusChange(
            ticket_id=ticket.id,
            from_status=None,
            to_status=ticket.status,
            event=TicketEvent.OPEN.value,
            actor_user_id=actor.user_id,
            actor_kind=ENTERPRISE,
        )
    )
    _message(ticket, actor, text, upload, checked)
    _tell(line.provider_id, "ticket_raised", ticket, severity=level.value, by=_day(respond_by))
    audit.record(actor, "ticket.opened", "ticket", ticket.id, line_id=line.id, severity=level.value)
    return ticket


@atomic
def reply(
    ticket: Ticket, body: str, actor: Actor, upload: files.Upload | None = None
) -> TicketMessage:
    """A message from either side while the ticket is not closed. The provider's first one
    stops the first-answer clock; the enterprise's reply to a resolution restarts the
    resolution clock."""
    side = _side(ticket, actor)
    if ticket.status is TicketStatus.CLOSED:
        raise DomainError(
            _l("This ticket is closed. Reopen it to write again.")
            if side == ENTERPRISE
            else _l("This ticket is closed.")
        )
    text = _body(body)
    checked = _checked(upload)
    now = utcnow()
    values: dict[str, object] = {}
    first = side == PROVIDER and ticket.responded_at is None
    if first:
        values["responded_at"] = now
    if side == ENTERPRISE and ticket.status is TicketStatus.RESOLVED:
        values.update(_resume(ticket, now))
    event = TicketEvent.ANSWER if side == PROVIDER else TicketEvent.REPLY
    _move(ticket, event, actor, side, **values)
    message = _message(ticket, actor, text, upload, checked)
    if first and now > ticket.respond_by:
        _record_miss(ticket, FIRST_RESPONSE)
    if side == PROVIDER:
        _tell(ticket.enterprise_id, "ticket_provider_replied", ticket)
    else:
        _tell(ticket.provider_id, "ticket_enterprise_replied", ticket, by=_day(ticket.resolve_by))
    audit.record(
        actor,
        "ticket.answered" if side == PROVIDER else "ticket.replied",
        "ticket",
        ticket.id,
        message_id=message.id,
        attachment=checked[0] if checked else None,
    )
    return message


def _resume(ticket: Ticket, now: datetime) -> dict[str, object]:
    """The resolution clock runs again: it stood still since ``resolved_at``."""
    values: dict[str, object] = {"resolved_at": None}
    if ticket.resolved_at is not None:
        values["resolve_by"] = ticket.resolve_by + (now - ticket.resolved_at)
    return values


def _stop(ticket: Ticket, now: datetime) -> dict[str, object]:
    return {} if ticket.resolved_at is not None else {"resolved_at": now}


@atomic
def resolve(
    ticket: Ticket, note: str, actor: Actor, upload: files.Upload | None = None
) -> TicketMessage:
    """The provider says the problem is solved, with a note (a message); the enterprise
    closes the ticket or replies that it is not. The resolution clock stops here."""
    side = _side(ticket, actor)
    if side != PROVIDER:
        raise DomainError(_l("Only the provider marks a ticket resolved."))
    text = _body(note)
    checked = _checked(upload)
    now = utcnow()
    values = _stop(ticket, now)
    first = ticket.responded_at is None
    if first:
        values["responded_at"] = now
    _move(ticket, TicketEvent.RESOLVE, actor, side, **values)
    message = _message(ticket, actor, text, upload, checked)
    if first and now > ticket.respond_by:
        _record_miss(ticket, FIRST_RESPONSE)
    if ticket.resolved_at is not None and ticket.resolved_at > ticket.resolve_by:
        _record_miss(ticket, RESOLUTION)
    _tell(ticket.enterprise_id, "ticket_resolved", ticket)
    audit.record(actor, "ticket.resolved", "ticket", ticket.id, message_id=message.id)
    return message


@atomic
def close(ticket: Ticket, actor: Actor) -> None:
    """The enterprise closes the ticket (confirming a resolution, or simply done)."""
    side = _side(ticket, actor)
    if side != ENTERPRISE:
        raise DomainError(_l("Only the buyer closes a ticket."))
    now = utcnow()
    _move(ticket, TicketEvent.CLOSE, actor, side, closed_at=now, **_stop(ticket, now))
    if ticket.resolved_at is not None and ticket.resolved_at > ticket.resolve_by:
        _record_miss(ticket, RESOLUTION)
    _tell(ticket.provider_id, "ticket_closed", ticket)
    audit.record(actor, "ticket.closed", "ticket", ticket.id)


def reopen_until(ticket: Ticket) -> datetime | None:
    """Until when the enterprise may reopen a closed ticket (None: it is not closed)."""
    if ticket.closed_at is None:
        return None
    return ticket.closed_at + timedelta(days=current_app.config["TICKET_REOPEN_DAYS"])


@atomic
def reopen(ticket: Ticket, body: str, actor: Actor, upload: files.Upload | None = None) -> None:
    """The enterprise reopens a ticket it closed, within ``TICKET_REOPEN_DAYS``, saying why;
    the thread is kept and the provider's clocks run again from where they stopped."""
    side = _side(ticket, actor)
    if side != ENTERPRISE:
        raise DomainError(_l("Only the buyer reopens a ticket."))
    until = reopen_until(ticket)
    if ticket.status is not TicketStatus.CLOSED or until is None:
        raise DomainError(_l("Only a closed ticket can be reopened."))
    now = utcnow()
    if now > until:
        raise DomainError(
            _l(
                "A ticket can be reopened within %(days)d days of closing. Open a new one.",
                days=current_app.config["TICKET_REOPEN_DAYS"],
            )
        )
    text = _body(body)
    checked = _checked(upload)
    values = {"closed_at": None, **_resume(ticket, now)}
    if ticket.responded_at is None and ticket.closed_at is not None:
        values["respond_by"] = ticket.respond_by + (now - ticket.closed_at)
    _move(ticket, TicketEvent.REOPEN, actor, side, **values)
    _message(ticket, actor, text, upload, checked)
    _tell(ticket.provider_id, "ticket_reopened", ticket, by=_day(ticket.resolve_by))
    audit.record(actor, "ticket.reopened", "ticket", ticket.id)


# The SLA job


def due_breaches() -> list[int]:
    """Tickets with a clock run out and not yet marked (the ``sla_breaches`` job's items)."""
    stmt = (
        select(Ticket.id)
        .where(
            or_(
                Ticket.breached.is_(False) & _all(_missed(FIRST_RESPONSE)),
                Ticket.resolution_breached.is_(False) & _all(_missed(RESOLUTION)),
            )
        )
        .order_by(Ticket.id)
    )
    return list(db.session.scalars(stmt))


def _all(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(*conditions)


def record_breach(ticket_id: int) -> bool:
    """Mark what one ticket missed, if it still has (an answer meanwhile, or a second run,
    finds nothing to do); both parties are told of each clock missed."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return False
    first = _record_miss(ticket, FIRST_RESPONSE, *_missed(FIRST_RESPONSE))
    resolution = _record_miss(ticket, RESOLUTION, *_missed(RESOLUTION))
    return first or resolution


def record_breaches() -> int:
    """Mark every ticket with a clock run out."""
    return sum(record_breach(ticket_id) for ticket_id in due_breaches())


# Reads


def ticket_for(org: Organisation, ticket_id: int) -> Ticket:
    """A ticket with its thread, for one of its two parties; anyone else: not found."""
    ticket = db.session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .options(
            joinedload(Ticket.line),
            selectinload(Ticket.messages).options(
                joinedload(TicketMessage.author_org),
                joinedload(TicketMessage.author),
                selectinload(TicketMessage.attachments),
            ),
        )
    )
    if ticket is None or org.id not in (ticket.enterprise_id, ticket.provider_id):
        raise NotFound(_l("Not found."))
    return ticket


def attachment_for(org: Organisation, ticket_id: int, attachment_id: int) -> TicketAttachment:
    """A message's file, for the ticket's two parties only; anyone else: not found."""
    ticket_for(org, ticket_id)
    attachment = db.session.scalar(
        select(TicketAttachment)
        .where(TicketAttachment.id == attachment_id, TicketAttachment.ticket_id == ticket_id)
        .options(undefer(TicketAttachment.data))
    )
    if attachment is None:
        raise NotFound(_l("Not found."))
    return attachment


def actions(ticket: Ticket, org_kind: str) -> set[str]:
    """What this side may do now (the page's forms)."""
    events = {e.value for e in TICKET_MACHINE.events(ticket.status, org_kind)}
    if "reopen" in events and (until := reopen_until(ticket)) is not None and utcnow() > until:
        events.discard("reopen")
    return events


@dataclass(frozen=True)
class Clock:
    name: str  # FIRST_RESPONSE or RESOLUTION
    due: datetime
    state: str  # "met", "missed", "running"
    stopped_at: datetime | None  # when it stopped (the first answer, the resolution)


def clocks(ticket: Ticket, now: datetime) -> list[Clock]:
    """Both SLA clocks as the ticket page shows them: met, missed (recorded, or run out and
    not yet recorded by the job) or still running."""

    def state(missed: bool, stopped: datetime | None, due: datetime) -> str:
        if missed or (stopped is None and now > due):
            return "missed"
        return "running" if stopped is None else "met"

    first_stop = ticket.responded_at or (
        ticket.closed_at if ticket.closed_at and ticket.closed_at <= ticket.respond_by else None
    )
    return [
        Clock(
            FIRST_RESPONSE,
            ticket.respond_by,
            state(ticket.breached, first_stop, ticket.respond_by),
            ticket.responded_at,
        ),
        Clock(
            RESOLUTION,
            ticket.resolve_by,
            state(ticket.resolution_breached, ticket.resolved_at, ticket.resolve_by),
            ticket.resolved_at,
        ),
    ]


def tickets_waiting_for(provider: Organisation) -> list[Ticket]:
    """The provider's tickets waiting for its answer (opened, or the enterprise wrote last),
    the most urgent first: ``respond_by`` for the first answer, then ``resolve_by``."""
    stmt = (
        select(Ticket)
        .where(
            Ticket.provider_id == provider.id,
            Ticket.status.in_((TicketStatus.OPEN, TicketStatus.WAITING)),
        )
        .options(joinedload(Ticket.line))
    )
    rows = list(db.session.scalars(stmt))
    return sorted(rows, key=lambda t: (next_deadline(t), t.id))


def next_deadline(ticket: Ticket) -> datetime:
    """The deadline the provider works to now: the first answer's, then the resolution's."""
    return ticket.respond_by if ticket.responded_at is None else ticket.resolve_by


def open_ticket_count(provider: Organisation) -> int:
    stmt = select(func.count(Ticket.id)).where(
        Ticket.provider_id == provider.id, Ticket.status != TicketStatus.CLOSED
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
