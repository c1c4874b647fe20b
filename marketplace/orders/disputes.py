"""Disputes someone can decide: a delivered line the enterprise disputed and the two parties
did not settle goes, after ``DISPUTE_ESCALATION_DAYS`` (or at once, when either party asks),
to a decider: the agency whose voucher programme pays part of the line, else the platform.
The decider rules with a note: deliver again, accept at a reduced amount (the invoice and the
vouchers' share follow it), or cancel (the vouchers are released).

The line moves through its state machine (``services.transition``, events ``RULE_*`` allowed
only to the ``decider``); this module holds the case (``Dispute``): who decides, both sides'
statements, the decision. Every move of a case is a conditional UPDATE from the state its
caller saw, so two officials deciding at once, or a decision and the parties' own ending,
leave exactly one outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.orders import services
from marketplace.orders.models import (
    DECIDER,
    RULINGS,
    DeciderKind,
    Dispute,
    DisputeStatus,
    LineEvent,
    LineStatus,
    Order,
    OrderLine,
)
from marketplace.security import Actor
from marketplace.vouchers import spending

LIVE = (DisputeStatus.OPEN, DisputeStatus.ESCALATED)
MAX_NOTE = 2000


def escalation_days() -> int:
    return int(current_app.config.get("DISPUTE_ESCALATION_DAYS", 7))


def escalates_on(dispute: Dispute) -> datetime:
    """When an open dispute goes to the decider by itself."""
    return dispute.opened_at + timedelta(days=escalation_days())


def decider_of(line: OrderLine) -> tuple[DeciderKind, int | None]:
    """Who decides the line's dispute: the agency whose vouchers pay part of it, else the
    platform (its organisation, when there is one)."""
    agency_id = spending.paying_agency(line.id)
    if agency_id is not None:
        return DeciderKind.AGENCY, agency_id
    platform_id = db.session.scalar(
        select(Organisation.id)
        .where(Organisation.kind == OrgKind.PLATFORM)
        .order_by(Organisation.id)
        .limit(1)
    )
    return DeciderKind.PLATFORM, platform_id


def may_decide(dispute: Dispute, org: Organisation) -> bool:
    """Officials of the deciding agency; platform admins for lines without vouchers. Never a
    party."""
    if org.id in (dispute.enterprise_id, dispute.provider_id):
        return False
    if dispute.decider_kind is DeciderKind.AGENCY:
        return org.kind is OrgKind.AGENCY and org.id == dispute.decider_org_id
    if dispute.decider_kind is DeciderKind.PLATFORM:
        return org.kind is OrgKind.PLATFORM
    return False


def _load(dispute_id: int) -> Dispute | None:
    return db.session.scalar(
        select(Dispute)
        .where(Dispute.id == dispute_id)
        .options(
            joinedload(Dispute.line).joinedload(OrderLine.order),
            joinedload(Dispute.enterprise),
            joinedload(Dispute.provider),
        )
        .execution_options(populate_existing=True)
    )


def dispute_for(org: Organisation, dispute_id: int) -> Dispute:
    """A case as this organisation may see it: the two parties and whoever decides it (once
    escalated). Anyone else: not found."""
    dispute = _load(dispute_id)
    if dispute is None:
        raise NotFound(_l("Not found."))
    if org.id in (dispute.enterprise_id, dispute.provider_id):
        return dispute
    if dispute.status is not DisputeStatus.OPEN and may_decide(dispute, org):
        return dispute
    raise NotFound(_l("Not found."))


def disputes_of_lines(line_ids: list[int]) -> dict[int, Dispute]:
    """Each line's latest dispute (for the order page)."""
    found: dict[int, Dispute] = {}
    if not line_ids:
        return found
    rows = db.session.scalars(
        select(Dispute).where(Dispute.line_id.in_(line_ids)).order_by(Dispute.id)
    )
    for dispute in rows:
        found[dispute.line_id] = dispute
    return found


def _decider_clause(org: Organisation) -> object:
    if org.kind is OrgKind.AGENCY:
        return (Dispute.decider_kind == DeciderKind.AGENCY) & (Dispute.decider_org_id == org.id)
    if org.kind is OrgKind.PLATFORM:
        return Dispute.decider_kind == DeciderKind.PLATFORM
    return Dispute.id.is_(None)


def cases_for(org: Organisation) -> tuple[list[Dispute], list[Dispute]]:
    """The decider's cases: waiting for a decision (oldest first), and those decided or ended
    after escalation (the latest 50)."""
    base = (
        select(Dispute)
        .where(_decider_clause(org))  # type: ignore[arg-type]
        .options(
            joinedload(Dispute.line).joinedload(OrderLine.order),
            joinedload(Dispute.enterprise),
            joinedload(Dispute.provider),
        )
    )
    waiting = db.session.scalars(
        base.where(Dispute.status == DisputeStatus.ESCALATED).order_by(Dispute.escalated_at)
    ).all()
    done = db.session.scalars(
        base.where(Dispute.status.in_((DisputeStatus.DECIDED, DisputeStatus.ENDED)))
        .where(Dispute.escalated_at.is_not(None))
        .order_by(Dispute.id.desc())
        .limit(50)
    ).all()
    return list(waiting), list(done)


# --- escalation -------------------------------------------------------------------------------


def _link(dispute: Dispute) -> str:
    return f"/disputes/{dispute.id}"


@atomic
def escalate(dispute: Dispute, by: str, actor: Actor, statement: str = "") -> Dispute:
    """Send an open dispute to its decider: ``by`` is the party that asks (``enterprise`` or
    ``provider``, with an optional ``statement`` of its side) or ``system`` (the job, once
    the parties had their days). Both parties and the decider are told."""
    statement = statement.strip()
    if len(statement) > MAX_NOTE:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_NOTE), field="statement")
    if dispute.status is not DisputeStatus.OPEN:
        raise DomainError(_l("This dispute is no longer open between the parties."))
    kind, org_id = decider_of(dispute.line)
    values: dict[str, object] = {
        "status": DisputeStatus.ESCALATED,
        "escalated_at": utcnow(),
        "escalated_by": by,
        "decider_kind": kind,
        "decider_org_id": org_id,
    }
    if statement and by in ("enterprise", "provider"):
        values[f"{by}_statement"] = statement
    moved = db.session.execute(
        update(Dispute)
        .where(Dispute.id == dispute.id, Dispute.status == DisputeStatus.OPEN)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This dispute changed meanwhile. Reload the page and try again."))
    db.session.refresh(dispute)
    line = dispute.line
    params = {"number": line.order.number, "title": line.title}
    for party in (dispute.enterprise_id, dispute.provider_id):
        notifications.notify(
            party, "dispute_escalated", f"/orders/{line.order.number}", decider=kind.value, **params
        )
    if org_id is not None:
        notifications.notify(org_id, "dispute_to_decide", _link(dispute), **params)
    audit.record(
        actor,
        "dispute.escalated",
        "order_line",
        line.id,
        dispute_id=dispute.id,
        by=by,
        decider=kind.value,
        decider_org_id=org_id,
    )
    return dispute


def due_for_escalation(older_than: timedelta) -> list[int]:
    """Open disputes the parties have not settled in ``older_than`` (their ids)."""
    stmt = select(Dispute.id).where(
        Dispute.status == DisputeStatus.OPEN, Dispute.opened_at <= utcnow() - older_than
    )
    return list(db.session.scalars(stmt.order_by(Dispute.id)))


def escalate_due(dispute_id: int, older_than: timedelta, actor: Actor) -> bool:
    """The job's item: escalate one dispute left unsettled. Whether it moved now: a dispute
    ended, escalated or decided meanwhile is left alone, so running twice is harmless."""
    dispute = _load(dispute_id)
    if (
        dispute is None
        or dispute.status is not DisputeStatus.OPEN
        or dispute.opened_at > utcnow() - older_than
    ):
        return False
    escalate(dispute, "system", actor)
    return True


@atomic
def state_side(dispute: Dispute, org: Organisation, statement: str, actor: Actor) -> None:
    """A party states (or restates) its side for the decider while the case is undecided."""
    statement = statement.strip()
    if not statement:
        raise DomainError(_l("Write your side of the dispute."), field="statement")
    if len(statement) > MAX_NOTE:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_NOTE), field="statement")
    if org.id == dispute.enterprise_id:
        column = "enterprise_statement"
    elif org.id == dispute.provider_id:
        column = "provider_statement"
    else:
        raise NotFound(_l("Not found."))
    moved = db.session.execute(
        update(Dispute)
        .where(Dispute.id == dispute.id, Dispute.status.in_(LIVE))
        .values(**{column: statement})
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This dispute is decided or ended; it takes no more statements."))
    db.session.refresh(dispute)
    audit.record(actor, "dispute.statement", "order_line", dispute.line_id, dispute_id=dispute.id)


# --- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ruling:
    event: LineEvent
    label: object


def rulings() -> list[Ruling]:
    return [Ruling(event, event.label) for event in RULINGS]


@atomic
def decide(
    dispute: Dispute,
    org: Organisation,
    ruling: LineEvent,
    note: str,
    actor: Actor,
    amount_fen: int | None = None,
) -> Dispute:
    """The decider rules on an escalated dispute, with a note both parties read.

    - ``RULE_REDELIVER``: the line goes back to delivery; the provider delivers again;
    - ``RULE_REDUCED``: the line is accepted (验收) at ``amount_fen`` (more than zero, less
      than its amount): invoiced on it, the vouchers' share following it;
    - ``RULE_CANCEL``: the line is cancelled and its vouchers released.

    The line moves first (a conditional UPDATE from ``disputed``), then the case is claimed
    (from ``escalated``): a second official at the same moment, or a party's own ending, finds
    the line moved and changes nothing."""
    if not may_decide(dispute, org):
        raise NotFound(_l("Not found."))
    note = note.strip()
    if ruling not in RULINGS:
        raise DomainError(_l("Choose a decision."), field="ruling")
    if not note:
        raise DomainError(
            _l("Write a note for the decision; both parties will read it."), field="note"
        )
    if len(note) > MAX_NOTE:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_NOTE), field="note")
    if dispute.status is DisputeStatus.OPEN:
        raise DomainError(
            _l("This dispute is still between the parties: it is decided once escalated.")
        )
    if dispute.status is not DisputeStatus.ESCALATED:
        raise DomainError(_l("This dispute has been decided or ended already."))
    line = dispute.line
    if ruling is LineEvent.RULE_REDUCED:
        if amount_fen is None:
            raise DomainError(_l("Enter the reduced amount in yuan."), field="amount")
        if not 0 < amount_fen < line.committed_fen:
            raise DomainError(
                _l(
                    "The reduced amount must be more than zero and less than %(amount)s.",
                    amount=format_fen(line.committed_fen),
                ),
                field="amount",
            )
    else:
        amount_fen = None
    if line.status is not LineStatus.DISPUTED:
        raise DomainError(_l("This dispute has been decided or ended already."))
    services.transition(line, ruling, note, actor, DECIDER, reduced_fen=amount_fen)
    claimed = db.session.execute(
        update(Dispute)
        .where(Dispute.id == dispute.id, Dispute.status == DisputeStatus.ESCALATED)
        .values(
            status=DisputeStatus.DECIDED,
            decision=ruling.value,
            decision_note=note,
            decided_amount_fen=amount_fen,
            decided_by_id=actor.user_id,
            decided_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This dispute has been decided or ended already."))
    db.session.refresh(dispute)
    audit.record(
        actor,
        "dispute.decided",
        "order_line",
        line.id,
        dispute_id=dispute.id,
        decision=ruling.value,
        note=note,
        amount_fen=amount_fen,
        line_amount_fen=dispute.line_amount_fen,
    )
    return dispute


def live_dispute(line_id: int) -> Dispute | None:
    return db.session.scalar(
        select(Dispute).where(Dispute.line_id == line_id, Dispute.status.in_(LIVE))
    )


def escalated_for(org: Organisation) -> list[tuple[int, str, str, datetime]]:
    """The decider's waiting cases as (id, order number, title, escalated at), for its to-do
    list: one query."""
    rows = db.session.execute(
        select(Dispute.id, Order.number, OrderLine.title, Dispute.escalated_at)
        .join(OrderLine, OrderLine.id == Dispute.line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Dispute.status == DisputeStatus.ESCALATED, _decider_clause(org))  # type: ignore[arg-type]
    )
    return [(i, n, t, at) for i, n, t, at in rows if at is not None]
