"""Settlement (结算) of redeemed voucher money to providers.

A settlement gathers one provider's redeemed, unsettled, unheld reservations of one
programme (a conditional UPDATE claims them, so two officials cannot settle the same fen
twice), is approved by a second official (never the one who drew it up: four eyes, held by
the database too), then marked paid with the bank transfer's reference; only then does the
ledger record ``settle``. Every decision carries its note, stored and audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import selectinload

from marketplace import audit, csvfile, four_eyes, notifications
from marketplace.accounts.models import Organisation
from marketplace.db import add_unique, atomic, db, local_today, move_status, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import bank_reference, format_fen
from marketplace.security import Actor
from marketplace.vouchers.ledger import ledger_entry, return_to_budget
from marketplace.vouchers.models import (
    EntryKind,
    RecoveryClaim,
    RecoveryStatus,
    Reservation,
    ReservationStatus,
    Settlement,
    SettlementStatus,
    Voucher,
    VoucherProgramme,
)


@dataclass(frozen=True)
class Due:
    provider: Organisation
    ready_fen: int
    held_fen: int
    lines: int


def due_by_provider(programme: VoucherProgramme) -> list[Due]:
    """Per provider: redeemed money not yet in a settlement, ready or held by a risk flag."""
    rows = db.session.execute(
        select(
            Reservation.provider_id,
            Reservation.held,
            func.sum(Reservation.amount_fen),
            func.count(Reservation.id),
        )
        .where(
            Reservation.programme_id == programme.id,
            Reservation.status == ReservationStatus.REDEEMED,
            Reservation.settlement_id.is_(None),
        )
        .group_by(Reservation.provider_id, Reservation.held)
    ).all()
    ready: dict[int, int] = {}
    held: dict[int, int] = {}
    count: dict[int, int] = {}
    for provider_id, is_held, total, n in rows:
        (held if is_held else ready)[provider_id] = int(total)
        count[provider_id] = count.get(provider_id, 0) + (0 if is_held else int(n))
    providers = {
        org.id: org
        for org in db.session.scalars(select(Organisation).where(Organisation.id.in_(count)))
    }
    return sorted(
        (Due(providers[pid], ready.get(pid, 0), held.get(pid, 0), count[pid]) for pid in count),
        key=lambda d: -d.ready_fen,
    )


@atomic
def draw_up(programme: VoucherProgramme, provider_id: int, actor: Actor) -> Settlement:
    settlement = Settlement(
        number=f"pending-{secrets.token_hex(6)}",
        programme_id=programme.id,
        provider_id=provider_id,
        status=SettlementStatus.DRAFT,
        total_fen=1,  # replaced below by the sum of what this settlement claimed
        created_by_id=actor.user_id,
    )
    db.session.add(settlement)
    db.session.flush()
    settlement.number = f"JS{local_today():%Y%m%d}-{settlement.id:05d}"
    db.session.execute(
        update(Reservation)
        .where(
            Reservation.programme_id == programme.id,
            Reservation.provider_id == provider_id,
            Reservation.status == ReservationStatus.REDEEMED,
            Reservation.settlement_id.is_(None),
            Reservation.held.is_(False),
        )
        .values(settlement_id=settlement.id)
        .execution_options(synchronize_session=False)
    )
    total = db.session.scalar(
        select(func.coalesce(func.sum(Reservation.amount_fen), 0)).where(
            Reservation.settlement_id == settlement.id
        )
    )
    if not total:
        raise DomainError(_l("This provider has nothing ready to settle."))
    settlement.total_fen = int(total)
    db.session.flush()
    provider = db.session.get(Organisation, provider_id)
    notifications.notify(
        programme.agency_id,
        "settlement_proposed",
        f"/settlements/{settlement.id}",
        number=settlement.number,
        provider=provider.name if provider else "",
        amount=format_fen(settlement.total_fen),
    )
    audit.record(
        actor,
        "settlement.created",
        "settlement",
        settlement.id,
        number=settlement.number,
        total_fen=settlement.total_fen,
    )
    return settlement


def _move(settlement: Settlement, before: SettlementStatus, *also: Any, **values: object) -> None:
    changed = _l("This settlement changed meanwhile. Reload the page and try again.")
    move_status(settlement, before, *also, changed=changed, **values)


@atomic
def approve(settlement: Settlement, shown_total_fen: int, note: str, actor: Actor) -> None:
    """The second pair of eyes: an official other than the one who drew the settlement up
    approves it, with a note, for the total their page showed. The database holds the same
    rule (CHECK approver_not_proposer), and one conditional UPDATE from 'draft' lets exactly
    one of two officials approving at the same moment through.

    A settlement's lines cannot change while it is a draft (risk decisions refuse lines in a
    settlement); the shown total still guards against approving a page older than the
    settlement it names."""
    if settlement.status is SettlementStatus.CANCELLED:
        raise DomainError(_l("This settlement was cancelled; it cannot be approved."))
    if settlement.status is not SettlementStatus.DRAFT:
        raise DomainError(_l("This settlement is already approved."))
    note = four_eyes.second_pair(
        proposed_by_id=settlement.created_by_id,
        org_id=settlement.programme.agency_id,
        actor=actor,
        note=note,
        own=_l("You drew up this settlement; another official of your agency must approve it."),
    )
    if shown_total_fen != settlement.total_fen:
        raise DomainError(
            _l("The settlement's total is not the one you saw. Reload the page and check it.")
        )
    _move(
        settlement,
        SettlementStatus.DRAFT,
        Settlement.total_fen == shown_total_fen,
        Settlement.created_by_id.is_distinct_from(actor.user_id),
        status=SettlementStatus.APPROVED,
        approved_at=utcnow(),
        approved_by_id=actor.user_id,
        approval_note=note,
    )
    _tell_provider(settlement, "settlement_approved")
    audit.record(
        actor,
        "settlement.approved",
        "settlement",
        settlement.id,
        total_fen=settlement.total_fen,
        proposed_by=settlement.created_by_id,
        note=note,
    )


@atomic
def mark_paid(
    settlement: Settlement, reference: str, actor: Actor, shown_total_fen: int | None = None
) -> None:
    """Record the bank transfer of an approved settlement. Any official of the agency may:
    the four-eyes decision (what to pay, how much, to whom) was the approval, which fixed the
    lines and the total; this step records a fact the bank's receipt proves, and the
    transfer itself goes through the agency's treasury and bank with their own controls.
    ``shown_total_fen``: the total the official confirmed paying (the page's)."""
    if shown_total_fen is not None and shown_total_fen != settlement.total_fen:
        raise DomainError(
            _l("The settlement's total is not the one you saw. Reload the page and check it.")
        )
    reference = bank_reference(reference, 60)
    _move(
        settlement,
        SettlementStatus.APPROVED,
        status=SettlementStatus.PAID,
        paid_at=utcnow(),
        paid_by_id=actor.user_id,
        transfer_reference=reference,
    )
    for reservation in settlement.reservations:
        moved = db.session.execute(
            update(Voucher)
            .where(
                Voucher.id == reservation.voucher_id,
                Voucher.settled_fen + reservation.amount_fen <= Voucher.redeemed_fen,
            )
            .values(settled_fen=Voucher.settled_fen + reservation.amount_fen)
            .execution_options(synchronize_session=False)
        )
        assert moved.rowcount == 1  # type: ignore[attr-defined]
        ledger_entry(
            reservation.voucher_id,
            EntryKind.SETTLE,
            reservation.amount_fen,
            actor,
            reservation.id,
            settlement.id,
            note=reference,
        )
    _tell_provider(settlement, "settlement_paid", reference=reference)
    audit.record(actor, "settlement.paid", "settlement", settlement.id, reference=reference)


@atomic
def cancel(settlement: Settlement, reason: str, actor: Actor) -> None:
    """Withdraw (or, by the second official, reject) a settlement not yet paid, saying why;
    its lines become ready to settle again."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason for cancelling the settlement."), field="reason")
    if settlement.status not in (SettlementStatus.DRAFT, SettlementStatus.APPROVED):
        raise DomainError(_l("A paid or cancelled settlement cannot be cancelled."))
    was_approved = settlement.status is SettlementStatus.APPROVED
    _move(
        settlement,
        settlement.status,
        status=SettlementStatus.CANCELLED,
        cancelled_at=utcnow(),
        cancelled_by_id=actor.user_id,
        cancel_reason=reason,
    )
    db.session.execute(
        update(Reservation)
        .where(Reservation.settlement_id == settlement.id)
        .values(settlement_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if was_approved:  # the provider was told it would be paid
        _tell_provider(settlement, "settlement_cancelled", reason=reason)
    audit.record(actor, "settlement.cancelled", "settlement", settlement.id, reason=reason)


def _tell_provider(settlement: Settlement, kind: str, **params: str) -> None:
    notifications.notify(
        settlement.provider_id,
        kind,
        f"/settlements/{settlement.id}",
        number=settlement.number,
        programme=settlement.programme.name,
        amount=format_fen(settlement.total_fen),
        **params,
    )


# --- recovery claims: clawed-back money the provider was already paid ----------------------


@atomic
def claim_recovery(reservation: Reservation, reason: str, actor: Actor) -> RecoveryClaim:
    """A redemption clawed back after its settlement was paid: the provider repays it. Not a
    negative payout and no move on the voucher (the ledger keeps what happened: redeemed and
    settled); the claim is what is owed back. One per redemption (UNIQUE), so asking twice
    stores nothing."""
    paid = db.session.scalar(
        select(Settlement).where(
            Settlement.id == reservation.settlement_id,
            Settlement.status == SettlementStatus.PAID,
        )
    )
    if paid is None or reservation.status is not ReservationStatus.REDEEMED:
        raise DomainError(
            _l("This redemption changed meanwhile, or is in a settlement. Reload the page.")
        )
    claim = RecoveryClaim(
        reservation_id=reservation.id,
        programme_id=reservation.programme_id,
        provider_id=reservation.provider_id,
        settlement_id=paid.id,
        amount_fen=reservation.amount_fen,
        reason=reason,
        status=RecoveryStatus.OPEN,
        created_by_id=actor.user_id,
    )
    if not add_unique(claim):
        raise DomainError(_l("Repayment of this redemption is already claimed."))
    audit.record(
        actor,
        "recovery.claimed",
        "settlement",
        paid.id,
        reservation_id=reservation.id,
        amount_fen=claim.amount_fen,
        reason=reason,
    )
    return claim


def recovery_claims_of(agency: Organisation) -> list[RecoveryClaim]:
    stmt = (
        select(RecoveryClaim)
        .join(VoucherProgramme, VoucherProgramme.id == RecoveryClaim.programme_id)
        .where(VoucherProgramme.agency_id == agency.id)
        .options(selectinload(RecoveryClaim.settlement), selectinload(RecoveryClaim.reservation))
        .order_by(RecoveryClaim.status, RecoveryClaim.id.desc())
    )
    return list(db.session.scalars(stmt))


def recovery_claims_against(provider: Organisation) -> list[RecoveryClaim]:
    """What a provider is asked to repay (open first), with the settlement and programme the
    money came from: its statement shows them beside the payouts."""
    stmt = (
        select(RecoveryClaim)
        .where(RecoveryClaim.provider_id == provider.id)
        .options(
            selectinload(RecoveryClaim.settlement).joinedload(Settlement.programme),
            selectinload(RecoveryClaim.reservation),
        )
        .order_by(RecoveryClaim.status, RecoveryClaim.id.desc())
    )
    return list(db.session.scalars(stmt))


def recovery_claim_for(agency: Organisation, claim_id: int) -> RecoveryClaim:
    claim = db.session.get(RecoveryClaim, claim_id)
    if claim is None or claim.settlement.programme.agency_id != agency.id:
        raise NotFound(_l("Not found."))
    return claim


@atomic
def mark_recovered(claim: RecoveryClaim, reference: str, actor: Actor) -> None:
    """The provider repaid a recovery claim: the agency records the bank transfer's
    reference. The money is recorded as recovered and returns to the programme's budget (the
    budget rule: ``risk.claw_back``)."""
    reference = bank_reference(reference, 60)
    moved = db.session.execute(
        update(RecoveryClaim)
        .where(RecoveryClaim.id == claim.id, RecoveryClaim.status == RecoveryStatus.OPEN)
        .values(
            status=RecoveryStatus.RECOVERED,
            reference=reference,
            recovered_at=utcnow(),
            recovered_by_id=actor.user_id,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This repayment is already recorded."))
    return_to_budget(claim.programme_id, claim.amount_fen)
    db.session.refresh(claim)
    audit.record(
        actor, "recovery.recovered", "settlement", claim.settlement_id, reference=reference
    )


def settlements_of(programme: VoucherProgramme) -> list[Settlement]:
    stmt = (
        select(Settlement)
        .where(Settlement.programme_id == programme.id)
        .options(selectinload(Settlement.created_by))
        .order_by(Settlement.id.desc())
    )
    return list(db.session.scalars(stmt))


@dataclass(frozen=True)
class ProviderMoney:
    """A provider's voucher money under one programme, or under all (``programme`` None: the
    totals). Redeemed money is in exactly one of held, ready, in settlement or paid."""

    programme: VoucherProgramme | None
    reserved_fen: int  # set aside for its lines not yet accepted (验收): in delivery or disputed
    held_fen: int  # redeemed, held for the review of a risk flag (or a proposed claw-back)
    ready_fen: int  # redeemed, waiting for the agency to draw up a settlement
    in_settlement_fen: int  # redeemed, in a settlement drawn up or approved, not yet paid
    paid_fen: int  # in settlements the agency has paid

    @property
    def unpaid_fen(self) -> int:
        """Redeemed and not yet paid: held, ready or in a settlement."""
        return self.held_fen + self.ready_fen + self.in_settlement_fen


def money_of(provider: Organisation) -> tuple[list[ProviderMoney], ProviderMoney]:
    """The provider's voucher money per programme (newest programme first) and in total:
    the one source of its settlements page. Two grouped queries."""
    not_paid = Settlement.status.is_distinct_from(SettlementStatus.PAID)
    redeemed = (Reservation.status == ReservationStatus.REDEEMED) & not_paid

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, Reservation.amount_fen), else_=0)), 0)

    found: dict[int, list[int]] = {
        pid: [int(v) for v in rest]
        for pid, *rest in db.session.execute(
            select(
                Reservation.programme_id,
                total(Reservation.status == ReservationStatus.RESERVED),
                total(redeemed & Reservation.held.is_(True)),
                total(redeemed & Reservation.held.is_(False) & Reservation.settlement_id.is_(None)),
                total(
                    redeemed & Reservation.held.is_(False) & Reservation.settlement_id.is_not(None)
                ),
            )
            .outerjoin(Settlement, Settlement.id == Reservation.settlement_id)
            .where(Reservation.provider_id == provider.id)
            .group_by(Reservation.programme_id)
        )
    }
    paid: dict[int, int] = {
        pid: int(total)
        for pid, total in db.session.execute(
            select(Settlement.programme_id, func.sum(Settlement.total_fen))
            .where(
                Settlement.provider_id == provider.id,
                Settlement.status == SettlementStatus.PAID,
            )
            .group_by(Settlement.programme_id)
        )
    }
    ids = set(found) | set(paid)
    programmes = db.session.scalars(
        select(VoucherProgramme)
        .where(VoucherProgramme.id.in_(ids))
        .order_by(VoucherProgramme.id.desc())
    )
    rows = []
    for p in programmes:
        reserved, held, ready, in_settlement = found.get(p.id, [0, 0, 0, 0])
        rows.append(ProviderMoney(p, reserved, held, ready, in_settlement, paid.get(p.id, 0)))
    totals = ProviderMoney(
        None,
        reserved_fen=sum(r.reserved_fen for r in rows),
        held_fen=sum(r.held_fen for r in rows),
        ready_fen=sum(r.ready_fen for r in rows),
        in_settlement_fen=sum(r.in_settlement_fen for r in rows),
        paid_fen=sum(r.paid_fen for r in rows),
    )
    return rows, totals


def statements_for(provider: Organisation) -> list[Settlement]:
    stmt = (
        select(Settlement)
        .where(
            Settlement.provider_id == provider.id,
            Settlement.status.in_([SettlementStatus.APPROVED, SettlementStatus.PAID]),
        )
        .order_by(Settlement.id.desc())
    )
    return list(db.session.scalars(stmt))


def settlement_for(org: Organisation, settlement_id: int) -> Settlement:
    """A settlement its agency or its provider may see; anyone else: not found."""
    stmt = (
        select(Settlement)
        .where(Settlement.id == settlement_id)
        .options(
            selectinload(Settlement.reservations).selectinload(Reservation.enterprise),
        )
    )
    settlement = db.session.scalar(stmt)
    if settlement is None or org.id not in (
        settlement.provider_id,
        settlement.programme.agency_id,
    ):
        raise NotFound(_l("Not found."))
    if org.id == settlement.provider_id and settlement.status is SettlementStatus.DRAFT:
        raise NotFound(_l("Not found."))  # the provider sees statements once approved
    return settlement


CSV_COLUMNS = {
    "settlement": _l("Settlement"),
    "programme": _l("Programme"),
    "provider": _l("Provider"),
    "provider_credit_code": _l("Provider's unified social credit code"),
    "order_line": _l("Order line"),
    "enterprise": _l("Enterprise"),
    "enterprise_credit_code": _l("Enterprise's unified social credit code"),
    "voucher": _l("Voucher"),
    "redeemed_at": _l("Redeemed at"),
    "amount_yuan": _l("Amount (yuan)"),
}


def as_csv(settlement: Settlement) -> str:
    header = csvfile.header(
        [
            "settlement",
            "programme",
            "provider",
            "provider_credit_code",
            "order_line",
            "enterprise",
            "enterprise_credit_code",
            "voucher",
            "redeemed_at",
            "amount_yuan",
        ],
        CSV_COLUMNS,
    )
    rows: list[list[object]] = [
        [
            settlement.number,
            settlement.programme.name,
            settlement.provider.name,
            settlement.provider.credit_code,
            r.order_line_id,
            r.enterprise.name,
            r.enterprise.credit_code,
            r.voucher.code,
            r.redeemed_at.isoformat() if r.redeemed_at else "",
            csvfile.yuan(r.amount_fen),
        ]
        for r in settlement.reservations
    ]
    total = [csvfile.total(), "", "", "", "", "", "", "", "", csvfile.yuan(settlement.total_fen)]
    return csvfile.write([header, *rows, total])
