"""A programme's caps set by its officials, and their decisions on the orders a cap held
(issue 22). The check itself is ``caps.enforce``, at reservation."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, exists, select

from marketplace import audit, notifications
from marketplace.db import atomic, db, move_status, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen
from marketplace.security import Actor
from marketplace.vouchers import caps, spending
from marketplace.vouchers.models import (
    CapHold,
    CapHoldStatus,
    CapPolicy,
    Reservation,
    ReservationStatus,
    VoucherProgramme,
)
from marketplace.vouchers.risk import Delivery

CHANGED = _l("This order was decided meanwhile. Reload the page.")


def _valid_bp(value: int | None, field: str) -> None:
    if value is not None and not 0 < value <= 10_000:
        raise DomainError(
            _l("Enter a share from 0.01 to 100, or leave it empty for no cap."), field=field
        )


@atomic
def set_caps(
    programme: VoucherProgramme,
    provider_cap_bp: int | None,
    integration_fee_cap_bp: int | None,
    policy: CapPolicy,
    cap_from_fen: int,
    actor: Actor,
) -> list[caps.PartyShare]:
    """Set the caps; they apply to orders placed from now on. Returns the providers whose
    share is already above the new provider cap (their orders stand; the page says so)."""
    _valid_bp(provider_cap_bp, "provider_cap")
    _valid_bp(integration_fee_cap_bp, "integration_fee_cap")
    if cap_from_fen < 0:
        raise DomainError(_l("The amount cannot be negative."), field="cap_from")
    before = {
        "provider_cap_bp": programme.provider_cap_bp,
        "integration_fee_cap_bp": programme.integration_fee_cap_bp,
        "cap_policy": programme.cap_policy.value,
        "cap_from_fen": programme.cap_from_fen,
    }
    programme.provider_cap_bp = provider_cap_bp
    programme.integration_fee_cap_bp = integration_fee_cap_bp
    programme.cap_policy = policy
    programme.cap_from_fen = cap_from_fen
    db.session.flush()
    after = {
        "provider_cap_bp": provider_cap_bp,
        "integration_fee_cap_bp": integration_fee_cap_bp,
        "cap_policy": policy.value,
        "cap_from_fen": cap_from_fen,
    }
    if before != after:
        audit.record(
            actor, "programme.caps_changed", "programme", programme.id, before=before, after=after
        )
    if provider_cap_bp is None:
        return []
    return [s for s in caps.current_shares(programme) if s.share_bp > provider_cap_bp]


def still_reserved() -> ColumnElement[bool]:
    """A hold whose money is still set aside: a line rejected or cancelled meanwhile has
    released it, and there is nothing left to decide."""
    return exists().where(
        Reservation.cap_hold_id == CapHold.id, Reservation.status == ReservationStatus.RESERVED
    )


def holds_of(programme: VoucherProgramme, pending: bool = True) -> list[CapHold]:
    """The programme's held orders: those waiting (oldest first), or the last 50 decided."""
    stmt = select(CapHold).where(CapHold.programme_id == programme.id)
    if pending:
        stmt = stmt.where(CapHold.status == CapHoldStatus.PENDING, still_reserved()).order_by(
            CapHold.id
        )
    else:
        stmt = (
            stmt.where(CapHold.status != CapHoldStatus.PENDING)
            .order_by(CapHold.decided_at.desc(), CapHold.id.desc())
            .limit(50)
        )
    return list(db.session.scalars(stmt))


def hold_for(programme: VoucherProgramme, hold_id: int) -> CapHold:
    hold = db.session.get(CapHold, hold_id)
    if hold is None or hold.programme_id != programme.id:
        raise NotFound(_l("Not found."))
    return hold


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    return reason


@atomic
def approve(hold: CapHold, reason: str, actor: Actor) -> None:
    """The official lets the order's voucher money stand above the cap. If the enterprise
    accepted the line meanwhile, the money is spent now."""
    reason = _reason(reason)
    now = utcnow()
    move_status(
        hold,
        CapHoldStatus.PENDING,
        changed=CHANGED,
        status=CapHoldStatus.APPROVED,
        reason=reason,
        decided_by_id=actor.user_id,
        decided_at=now,
    )
    accepted: datetime | None = hold.line_accepted_at
    if accepted is not None:
        spending.redeem_line(hold.order_line_id, Delivery(accepted, accepted, None), actor)
    audit.record(
        actor,
        "cap_hold.approved",
        "order_line",
        hold.order_line_id,
        programme_id=hold.programme_id,
        amount_fen=hold.amount_fen,
        reason=reason,
    )
    notifications.notify(
        hold.enterprise_id,
        "cap_hold_approved",
        f"/orders/{hold.order_number}",
        number=hold.order_number,
        amount=format_fen(hold.amount_fen),
    )


@atomic
def decline(hold: CapHold, reason: str, actor: Actor) -> int:
    """The official refuses the voucher payment: the line's held money goes back to the
    vouchers and the enterprise pays that part itself. Returns the fen released."""
    reason = _reason(reason)
    move_status(
        hold,
        CapHoldStatus.PENDING,
        changed=CHANGED,
        status=CapHoldStatus.DECLINED,
        reason=reason,
        decided_by_id=actor.user_id,
        decided_at=utcnow(),
    )
    released = spending.release_held(hold, actor, note=reason)
    audit.record(
        actor,
        "cap_hold.declined",
        "order_line",
        hold.order_line_id,
        programme_id=hold.programme_id,
        amount_fen=hold.amount_fen,
        released_fen=released,
        reason=reason,
    )
    notifications.notify(
        hold.enterprise_id,
        "cap_hold_declined",
        f"/orders/{hold.order_number}",
        number=hold.order_number,
        amount=format_fen(hold.amount_fen),
        reason=reason,
    )
    return released
