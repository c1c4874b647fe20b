"""Payouts (打款) to providers of the money the platform collected for them through Stripe.

Four eyes (issue 16), as for settlements: one platform administrator proposes a payout (the
provider, the amount, a note); another administrator of the platform approves it with a
note, for the amount their page showed (never the proposer: the database holds that rule
too); then the bank transfer's reference is recorded. Until paid, a payout may be cancelled
with a reason.

A proposed or approved payout commits its amount on the provider's balance
(``pending_fen``), by a conditional UPDATE the database backs with a CHECK
(``paid_out + pending <= collected``): two proposals never together exceed what the platform
owes. Paying moves the amount from pending to paid out; cancelling frees it again.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace import audit, four_eyes
from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.db import atomic, db, move_status, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import bank_reference
from marketplace.payments.models import Payout, PayoutStatus, ProviderBalance
from marketplace.security import Actor

MAX_FEN = 10**15  # far above any payout; keeps typing mistakes out of BIGINT arithmetic
OPEN = (PayoutStatus.PROPOSED, PayoutStatus.APPROVED)

# --- what the platform owes ----------------------------------------------------------------


def balance_of(provider_id: int) -> ProviderBalance:
    found = db.session.get(ProviderBalance, provider_id)
    return found or ProviderBalance(
        provider_id=provider_id, collected_fen=0, paid_out_fen=0, pending_fen=0
    )


def balances() -> list[tuple[Organisation, ProviderBalance]]:
    rows = db.session.execute(
        select(Organisation, ProviderBalance)
        .join(ProviderBalance, ProviderBalance.provider_id == Organisation.id)
        .order_by(Organisation.name)
    )
    return [(org, balance) for org, balance in rows]


def payouts_of(provider_id: int) -> list[Payout]:
    """What the provider sees: payouts approved (the transfer is coming) and paid."""
    stmt = (
        select(Payout)
        .where(
            Payout.provider_id == provider_id,
            Payout.status.in_([PayoutStatus.APPROVED, PayoutStatus.PAID]),
        )
        .order_by(Payout.id.desc())
    )
    return list(db.session.scalars(stmt))


def all_payouts() -> list[Payout]:
    """The platform's list: open proposals first (awaiting approval, then awaiting the
    transfer), then the rest, newest first; with who proposed, approved, paid, cancelled."""
    order = case(
        (Payout.status == PayoutStatus.PROPOSED, 0),
        (Payout.status == PayoutStatus.APPROVED, 1),
        else_=2,
    )
    stmt = (
        select(Payout)
        .options(
            selectinload(Payout.proposed_by),
            selectinload(Payout.approved_by),
            selectinload(Payout.paid_by),
            selectinload(Payout.cancelled_by),
        )
        .order_by(order, Payout.id.desc())
    )
    return list(db.session.scalars(stmt))


def payout_for(payout_id: int) -> Payout:
    found = db.session.get(Payout, payout_id)
    if found is None:
        raise NotFound(_l("Not found."))
    return found


# --- the payout's life ---------------------------------------------------------------------


def _platform(actor: Actor) -> Organisation:
    """The platform organisation ``actor`` acts for, or a refusal: only the platform's
    administrators move the money it collected."""
    org = db.session.get(Organisation, actor.org_id) if actor.org_id is not None else None
    if org is None or org.kind is not OrgKind.PLATFORM or actor.user_id is None:
        raise DomainError(_l("Only a platform administrator can do this."))
    return org


def _commit_more(provider_id: int, amount_fen: int) -> None:
    """Commit ``amount_fen`` of what the platform owes to a proposal; never more than is
    owed and not yet committed (the CHECK committed_within_collected holds it too)."""
    moved = db.session.execute(
        update(ProviderBalance)
        .where(
            ProviderBalance.provider_id == provider_id,
            ProviderBalance.paid_out_fen + ProviderBalance.pending_fen + amount_fen
            <= ProviderBalance.collected_fen,
        )
        .values(pending_fen=ProviderBalance.pending_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(
            _l(
                "That is more than the platform still owes this provider, counting the payouts "
                "already proposed."
            ),
            field="amount",
        )


def _release(payout: Payout, **values: Any) -> None:
    """Take the payout's committed amount off pending, adding ``values`` (paid out)."""
    moved = db.session.execute(
        update(ProviderBalance)
        .where(
            ProviderBalance.provider_id == payout.provider_id,
            ProviderBalance.pending_fen >= payout.amount_fen,
        )
        .values(pending_fen=ProviderBalance.pending_fen - payout.amount_fen, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This payout changed meanwhile. Reload the page and try again."))


def _move(payout: Payout, before: PayoutStatus, *also: Any, **values: object) -> None:
    changed = _l("This payout changed meanwhile. Reload the page and try again.")
    move_status(payout, before, *also, changed=changed, **values)


@atomic
def propose(provider_id: int, amount_fen: int, note: str, actor: Actor) -> Payout:
    """The first pair of eyes: a platform administrator proposes paying a provider part of
    what the platform owes it, saying why. The amount is committed at once, so a second
    proposal can only take what is left."""
    _platform(actor)
    note = note.strip()
    if not note:
        raise DomainError(_l("Write a note on what this payout is for."), field="note")
    if len(note) > 1000:
        raise DomainError(_l("At most 1000 characters."), field="note")
    if not 0 < amount_fen <= MAX_FEN:
        raise DomainError(_l("Enter an amount above zero."), field="amount")
    _commit_more(provider_id, amount_fen)
    payout = Payout(
        provider_id=provider_id,
        status=PayoutStatus.PROPOSED,
        amount_fen=amount_fen,
        proposed_by_id=actor.user_id,
        proposal_note=note,
    )
    db.session.add(payout)
    db.session.flush()
    audit.record(
        actor,
        "payout.proposed",
        "organisation",
        provider_id,
        payout_id=payout.id,
        amount_fen=amount_fen,
        note=note,
    )
    return payout


@atomic
def approve(payout: Payout, shown_amount_fen: int, note: str, actor: Actor) -> None:
    """The second pair of eyes: a platform administrator other than the proposer approves
    the payout, with a note, for the amount their page showed. The database holds the same
    rule (CHECK approver_not_proposer), and one conditional UPDATE from 'proposed' that also
    requires that amount and another user lets exactly one of two administrators approving
    at the same moment through."""
    if payout.status is PayoutStatus.CANCELLED:
        raise DomainError(_l("This payout was cancelled; it cannot be approved."))
    if payout.status is not PayoutStatus.PROPOSED:
        raise DomainError(_l("This payout is already approved."))
    _platform(actor)
    proposer = db.session.get(User, payout.proposed_by_id) if payout.proposed_by_id else None
    note = four_eyes.second_pair(
        proposed_by_id=payout.proposed_by_id,
        org_id=proposer.org_id if proposer is not None else -1,
        actor=actor,
        note=note,
        own=_l("You proposed this payout; another platform administrator must approve it."),
    )
    if shown_amount_fen != payout.amount_fen:
        raise DomainError(
            _l("The payout's amount is not the one you saw. Reload the page and check it.")
        )
    _move(
        payout,
        PayoutStatus.PROPOSED,
        Payout.amount_fen == shown_amount_fen,
        Payout.proposed_by_id.is_distinct_from(actor.user_id),
        status=PayoutStatus.APPROVED,
        approved_at=utcnow(),
        approved_by_id=actor.user_id,
        approval_note=note,
    )
    audit.record(
        actor,
        "payout.approved",
        "organisation",
        payout.provider_id,
        payout_id=payout.id,
        amount_fen=payout.amount_fen,
        proposed_by=payout.proposed_by_id,
        note=note,
    )


@atomic
def mark_paid(payout: Payout, reference: str, actor: Actor) -> None:
    """Record the bank transfer of an approved payout. Any platform administrator may, the
    approver and the proposer too: the four-eyes decision (to whom, how much) was the
    approval, which fixed the provider and the amount; this step records a fact the bank's
    receipt proves, and the transfer itself goes through the platform's bank with its own
    controls. The amount moves from pending to paid out."""
    _platform(actor)
    reference = bank_reference(reference, 100)
    taken = db.session.scalar(select(Payout.id).where(Payout.reference == reference))
    if taken is not None:
        raise DomainError(
            _l("A transfer with this reference is already recorded."), field="reference"
        )
    try:
        with db.session.begin_nested():  # a transfer recorded at the same moment: UNIQUE
            _move(
                payout,
                PayoutStatus.APPROVED,
                status=PayoutStatus.PAID,
                paid_at=utcnow(),
                paid_by_id=actor.user_id,
                reference=reference,
            )
    except IntegrityError:
        raise DomainError(
            _l("A transfer with this reference is already recorded."), field="reference"
        ) from None
    _release(payout, paid_out_fen=ProviderBalance.paid_out_fen + payout.amount_fen)
    audit.record(
        actor,
        "payout.paid",
        "organisation",
        payout.provider_id,
        payout_id=payout.id,
        amount_fen=payout.amount_fen,
        reference=reference,
    )


@atomic
def cancel(payout: Payout, reason: str, actor: Actor) -> None:
    """Withdraw (the proposer) or reject (another administrator) a payout not yet paid,
    saying why; its amount is free to propose again."""
    _platform(actor)
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason for cancelling the payout."), field="reason")
    if len(reason) > 1000:
        raise DomainError(_l("At most 1000 characters."), field="reason")
    if payout.status not in OPEN:
        raise DomainError(_l("A paid or cancelled payout cannot be cancelled."))
    _move(
        payout,
        payout.status,
        status=PayoutStatus.CANCELLED,
        cancelled_at=utcnow(),
        cancelled_by_id=actor.user_id,
        cancel_reason=reason,
    )
    _release(payout)
    audit.record(
        actor,
        "payout.cancelled",
        "organisation",
        payout.provider_id,
        payout_id=payout.id,
        amount_fen=payout.amount_fen,
        reason=reason,
    )
