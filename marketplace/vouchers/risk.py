"""Risk flags on redemptions: raised when a redemption looks wrong (shared contacts, a delivery
far faster than promised, the same amount again and again), and decided by an official:
cleared (the money may be settled) or upheld (clawed back), either way with a note saying what
was checked. Upholding is four eyes (issue 16): one official proposes the claw-back with the
reason the parties will read (``propose_clawback``), another official of the same agency
approves it with a note (``approve_clawback``); only then does the money move (``claw_back``). The official decides with the order line in view: what was bought, its delivery
record and its evidence, which the domains above this one tell (``describe_lines_with``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import joinedload, selectinload

from marketplace import audit, four_eyes
from marketplace.accounts.models import Organisation
from marketplace.db import add_unique, atomic, db, move_status, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import BASIS_POINTS, format_fen
from marketplace.notifications import notify
from marketplace.payments import services as payments
from marketplace.security import Actor
from marketplace.vouchers import settlement
from marketplace.vouchers.ledger import ledger_entry, move_reservation, return_to_budget
from marketplace.vouchers.models import (
    ClawBack,
    ClawBackStatus,
    EntryKind,
    FlagStatus,
    RecoveryClaim,
    Reservation,
    ReservationStatus,
    RiskFlag,
    RiskReason,
    Settlement,
    SettlementStatus,
    Voucher,
    VoucherProgramme,
)


@dataclass(frozen=True)
class Delivery:
    """Facts about the line's delivery the risk checks need (told by the orders domain)."""

    placed_at: datetime
    delivered_at: datetime | None
    go_live_days: int | None


def _same(a: str | None, b: str | None, normalise: Any = None) -> bool:
    if not a or not b:
        return False
    normalise = normalise or (lambda s: "".join(s.split()).lower())
    return bool(normalise(a)) and normalise(a) == normalise(b)


def _digits(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit())
    return digits[-11:] if len(digits) >= 7 else ""  # the subscriber number, without +86


def flag_risks(reservation: Reservation, delivery: Delivery) -> None:
    """Hold a redemption for an official's review when it looks wrong (the rules' limits are
    settings: ``RISK_*``)."""
    config = current_app.config
    enterprise, provider = reservation.enterprise, reservation.provider
    found: list[tuple[RiskReason, str]] = []
    if _same(enterprise.contact_phone, provider.contact_phone, _digits):
        found.append((RiskReason.SHARED_PHONE, provider.contact_phone or ""))
    if _same(enterprise.address, provider.address):
        found.append((RiskReason.SHARED_ADDRESS, provider.address or ""))
    if _same(enterprise.legal_representative, provider.legal_representative):
        found.append((RiskReason.SHARED_LEGAL_REPRESENTATIVE, provider.legal_representative or ""))
    if _same(enterprise.bank_account, provider.bank_account):
        found.append((RiskReason.SHARED_BANK_ACCOUNT, provider.bank_account or ""))
    if delivery.go_live_days and delivery.delivered_at is not None:
        took = delivery.delivered_at - delivery.placed_at
        promised = timedelta(days=delivery.go_live_days)
        if took * BASIS_POINTS < promised * config["RISK_FAST_DELIVERY_BP"]:
            hours = int(took.total_seconds() // 3600)
            found.append((RiskReason.FAST_DELIVERY, f"{hours} h / {delivery.go_live_days} d"))
    alike = (
        db.session.scalar(
            select(func.count(Reservation.id)).where(
                Reservation.provider_id == reservation.provider_id,
                Reservation.amount_fen == reservation.amount_fen,
                Reservation.status == ReservationStatus.REDEEMED,
                Reservation.redeemed_at
                >= utcnow() - timedelta(days=config["RISK_REPEATED_AMOUNT_DAYS"]),
            )
        )
        or 0
    )
    if alike >= config["RISK_REPEATED_AMOUNT_COUNT"]:
        found.append(
            (RiskReason.REPEATED_AMOUNTS, f"{alike} × {format_fen(reservation.amount_fen)}")
        )
    for reason, detail in found:
        db.session.add(
            RiskFlag(
                reservation_id=reservation.id, reason=reason, detail=detail, status=FlagStatus.OPEN
            )
        )
    if found:
        db.session.execute(
            update(Reservation)
            .where(Reservation.id == reservation.id)
            .values(held=True)
            .execution_options(synchronize_session=False)
        )


# --- decisions ------------------------------------------------------------------------


def open_flags(agency: Organisation) -> list[RiskFlag]:
    stmt = (
        select(RiskFlag)
        .join(Reservation, Reservation.id == RiskFlag.reservation_id)
        .join(VoucherProgramme, VoucherProgramme.id == Reservation.programme_id)
        .where(VoucherProgramme.agency_id == agency.id, RiskFlag.status == FlagStatus.OPEN)
        .options(
            joinedload(RiskFlag.reservation).joinedload(Reservation.enterprise),
            joinedload(RiskFlag.reservation).joinedload(Reservation.provider),
        )
        .order_by(RiskFlag.id)
    )
    return list(db.session.scalars(stmt))


@dataclass(frozen=True)
class LineRecord:
    """An order line as the official deciding a flag reads it. Orders and outcome contracts sit
    above this domain, so one of them tells it (see ``describe_lines_with``)."""

    order_number: str
    title: str
    status_label: str
    placed_at: datetime
    provider_accepted_at: datetime | None
    delivered_at: datetime | None
    enterprise_accepted_at: datetime | None
    accepted_automatically: bool  # after the enterprise's silence, not by its word
    contract_id: int | None  # the line's outcome contract, if it has one
    evidence_file: str | None  # the name of that contract's baseline evidence file


LineRecords = Callable[[Organisation, Sequence[int]], dict[int, LineRecord]]
_describers: list[LineRecords] = []


def describe_lines_with(source: LineRecords) -> None:
    """Connected by the app factory (through the outcomes domain, which sees orders too)."""
    _describers[:] = [source]


def line_records(agency: Organisation, flags: Sequence[RiskFlag]) -> dict[int, LineRecord]:
    """The flagged redemptions' order lines, by line id (one batch for the whole page)."""
    line_ids = sorted({f.reservation.order_line_id for f in flags})
    if not line_ids or not _describers:
        return {}
    return _describers[0](agency, line_ids)


def _order_of(agency_id: int, line_id: int) -> tuple[str, str]:
    """The number of the order a redemption paid towards and the page of that order, as
    the domains above this one tell it (``describe_lines_with``); the line's id without
    them."""
    agency = db.session.get(Organisation, agency_id)
    record = _describers[0](agency, [line_id]).get(line_id) if agency and _describers else None
    if record is None:
        return f"#{line_id}", "/orders"
    return record.order_number, f"/orders/{record.order_number}"


def lines_paid_by(agency_id: int) -> Select[int]:
    """The order lines an agency's programmes paid towards (reserved, redeemed, released or
    clawed back since), as a subquery: the lines whose records that agency may read."""
    return (
        select(Reservation.order_line_id)
        .join(VoucherProgramme, VoucherProgramme.id == Reservation.programme_id)
        .where(VoucherProgramme.agency_id == agency_id)
    )


def payments_towards(agency: Organisation, line_id: int) -> list[Reservation]:
    """What the agency's programmes paid towards one line, with the flags raised on it."""
    stmt = (
        select(Reservation)
        .join(VoucherProgramme, VoucherProgramme.id == Reservation.programme_id)
        .where(Reservation.order_line_id == line_id, VoucherProgramme.agency_id == agency.id)
        .options(selectinload(Reservation.flags))
        .order_by(Reservation.id)
    )
    return list(db.session.scalars(stmt))


def flag_for(agency: Organisation, flag_id: int) -> RiskFlag:
    flag = db.session.get(RiskFlag, flag_id)
    if flag is None:
        raise NotFound(_l("Not found."))
    programme = db.session.get(VoucherProgramme, flag.reservation.programme_id)
    if programme is None or programme.agency_id != agency.id:
        raise NotFound(_l("Not found."))
    return flag


def _decide(flag: RiskFlag, status: FlagStatus, note: str, actor: Actor) -> None:
    moved = db.session.execute(
        update(RiskFlag)
        .where(RiskFlag.id == flag.id, RiskFlag.status == FlagStatus.OPEN)
        .values(status=status, decision_note=note, decided_by_id=actor.user_id, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This flag has already been decided."))


def _lock(reservation_id: int) -> None:
    """Decisions on one redemption's flags queue behind each other (PostgreSQL row lock;
    SQLite's write requests are serial already), so the last one sees the others' result."""
    db.session.execute(
        select(Reservation.id).where(Reservation.id == reservation_id).with_for_update()
    )


@atomic
def clear(flag: RiskFlag, note: str, actor: Actor) -> None:
    """The redemption is fine: once no flag of it is open, it may be settled. Public money
    released on an official's word needs that word on record: what was checked."""
    note = note.strip()
    if not note:
        raise DomainError(_l("Say what you checked before clearing the flag."), field="note")
    _lock(flag.reservation_id)
    if live_clawbacks([flag.reservation_id]):
        raise DomainError(
            _l(
                "A claw-back of this redemption is waiting for another official's approval."
                " Reject or withdraw it before clearing the flag."
            )
        )
    _decide(flag, FlagStatus.CLEARED, note, actor)
    still_open = db.session.scalar(
        select(func.count(RiskFlag.id)).where(
            RiskFlag.reservation_id == flag.reservation_id, RiskFlag.status == FlagStatus.OPEN
        )
    )
    if not still_open:
        db.session.execute(
            update(Reservation)
            .where(Reservation.id == flag.reservation_id)
            .values(held=False)
            .execution_options(synchronize_session=False)
        )
    db.session.expire_all()
    reservation = db.session.get(Reservation, flag.reservation_id)
    assert reservation is not None
    programme = db.session.get(VoucherProgramme, reservation.programme_id)
    assert programme is not None
    number, link = _order_of(programme.agency_id, reservation.order_line_id)
    notify(
        reservation.provider_id,
        "risk_flag_cleared",
        link,
        number=number,
        flag=flag.reason.value,
        note=note,
    )
    audit.record(actor, "risk_flag.cleared", "risk_flag", flag.id, note=note)


# --- claw-backs: proposed by one official, approved by another (four eyes) ------------------


def live_clawbacks(reservation_ids: Sequence[int]) -> dict[int, ClawBack]:
    """The claw-backs waiting for approval of these redemptions, by reservation id (one query
    for the whole page, the proposer loaded)."""
    if not reservation_ids:
        return {}
    stmt = (
        select(ClawBack)
        .where(
            ClawBack.reservation_id.in_(sorted(set(reservation_ids))),
            ClawBack.status == ClawBackStatus.PROPOSED,
        )
        .options(joinedload(ClawBack.proposed_by))
    )
    return {c.reservation_id: c for c in db.session.scalars(stmt)}


def clawbacks_of(
    agency: Organisation, reservation_ids: Sequence[int] | None = None
) -> list[ClawBack]:
    """The agency's claw-backs, newest first (of some redemptions only, if given), with the
    officials who proposed and decided them."""
    stmt = (
        select(ClawBack)
        .join(VoucherProgramme, VoucherProgramme.id == ClawBack.programme_id)
        .where(VoucherProgramme.agency_id == agency.id)
        .options(
            joinedload(ClawBack.proposed_by),
            joinedload(ClawBack.approved_by),
            joinedload(ClawBack.decided_by),
        )
        .order_by(ClawBack.id.desc())
    )
    if reservation_ids is not None:
        stmt = stmt.where(ClawBack.reservation_id.in_(sorted(set(reservation_ids))))
    else:
        stmt = stmt.limit(50)
    return list(db.session.scalars(stmt).unique())


def clawback_for(agency: Organisation, clawback_id: int) -> ClawBack:
    clawback = db.session.get(ClawBack, clawback_id)
    if clawback is None or clawback.programme.agency_id != agency.id:
        raise NotFound(_l("Not found."))
    return clawback


@atomic
def propose_clawback(flag: RiskFlag, note: str, actor: Actor) -> ClawBack:
    """Upholding a flag is proposing to claw its redemption back: the official's note is the
    reason the parties will read. Nothing moves yet: the redemption stays held and its flags
    open (none may be cleared meanwhile) until another official of the agency approves the
    claw-back (``approve_clawback``) or rejects it, or the proposer withdraws it."""
    note = note.strip()
    if not note:
        raise DomainError(_l("Give a reason; the other party will see it."), field="note")
    _lock(flag.reservation_id)
    status = db.session.scalar(select(RiskFlag.status).where(RiskFlag.id == flag.id))
    if status is not FlagStatus.OPEN:
        raise DomainError(_l("This flag has already been decided."))
    reservation = db.session.get(Reservation, flag.reservation_id, populate_existing=True)
    assert reservation is not None
    _claw_back_possible(reservation)
    programme = db.session.get(VoucherProgramme, reservation.programme_id)
    if programme is None or programme.agency_id != actor.org_id:
        raise DomainError(_l("Only an official of the programme's agency can decide this."))
    clawback = ClawBack(
        reservation_id=reservation.id,
        programme_id=reservation.programme_id,
        amount_fen=reservation.amount_fen,
        status=ClawBackStatus.PROPOSED,
        proposed_by_id=actor.user_id,
        reason=note,
    )
    if not add_unique(clawback):
        raise DomainError(_l("A claw-back of this redemption is already proposed."))
    number, _link = _order_of(programme.agency_id, reservation.order_line_id)
    notify(
        programme.agency_id,
        "clawback_proposed",
        "/agency/risk-flags",
        amount=format_fen(clawback.amount_fen),
        number=number,
        reason=note,
    )
    audit.record(
        actor,
        "clawback.proposed",
        "clawback",
        clawback.id,
        reservation_id=reservation.id,
        flag_id=flag.id,
        amount_fen=clawback.amount_fen,
        reason=note,
    )
    return clawback


def _claw_back_possible(reservation: Reservation) -> None:
    """A redemption can be clawed back while redeemed and not in a settlement, or once its
    settlement is paid (then as a recovery claim); one in a settlement not yet paid cannot
    (cancel the settlement first)."""
    in_unpaid_settlement = reservation.settlement_id is not None and (
        db.session.scalar(
            select(Settlement.status).where(Settlement.id == reservation.settlement_id)
        )
        is not SettlementStatus.PAID
    )
    if reservation.status is not ReservationStatus.REDEEMED or in_unpaid_settlement:
        raise DomainError(
            _l("This redemption changed meanwhile, or is in a settlement. Reload the page.")
        )


def _move_clawback(clawback: ClawBack, *also: Any, **values: object) -> None:
    changed = _l("This claw-back changed meanwhile. Reload the page and try again.")
    move_status(clawback, ClawBackStatus.PROPOSED, *also, changed=changed, **values)


def _still_proposed(clawback: ClawBack) -> None:
    if clawback.status is ClawBackStatus.APPROVED:
        raise DomainError(_l("This claw-back is already approved."))
    if clawback.status is not ClawBackStatus.PROPOSED:
        raise DomainError(_l("This claw-back was rejected or withdrawn; propose it anew."))


@atomic
def approve_clawback(clawback: ClawBack, shown_amount_fen: int, note: str, actor: Actor) -> None:
    """The second pair of eyes: an official of the same agency other than the proposer
    approves the claw-back, with a note, for the amount their page showed. One conditional
    UPDATE from 'proposed' lets exactly one of two officials approving at once through (the
    database refuses the proposer too: CHECK approver_not_proposer). Then the redemption's
    open flags are upheld and the money is clawed back (``claw_back``) with the proposer's
    reason, which both parties are told."""
    _still_proposed(clawback)
    note = four_eyes.second_pair(
        proposed_by_id=clawback.proposed_by_id,
        org_id=clawback.programme.agency_id,
        actor=actor,
        note=note,
        own=_l("You proposed this claw-back; another official of your agency must approve it."),
    )
    if shown_amount_fen != clawback.amount_fen:
        raise DomainError(
            _l("The claw-back's amount is not the one you saw. Reload the page and check it.")
        )
    _lock(clawback.reservation_id)
    reservation = db.session.get(Reservation, clawback.reservation_id, populate_existing=True)
    assert reservation is not None
    if reservation.amount_fen != clawback.amount_fen:
        raise DomainError(
            _l("The claw-back's amount is not the one you saw. Reload the page and check it.")
        )
    _move_clawback(
        clawback,
        ClawBack.amount_fen == shown_amount_fen,
        ClawBack.proposed_by_id.is_distinct_from(actor.user_id),
        status=ClawBackStatus.APPROVED,
        approved_by_id=actor.user_id,
        approval_note=note,
        approved_at=utcnow(),
    )
    upheld = list(
        db.session.scalars(
            select(RiskFlag.id).where(
                RiskFlag.reservation_id == reservation.id, RiskFlag.status == FlagStatus.OPEN
            )
        )
    )
    db.session.execute(
        update(RiskFlag)
        .where(RiskFlag.id.in_(upheld), RiskFlag.status == FlagStatus.OPEN)
        .values(
            status=FlagStatus.UPHELD,
            decision_note=clawback.reason,
            decided_by_id=actor.user_id,
            decided_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    claw_back(reservation, clawback.reason, actor)
    db.session.expire_all()
    audit.record(
        actor,
        "clawback.approved",
        "clawback",
        clawback.id,
        reservation_id=clawback.reservation_id,
        amount_fen=clawback.amount_fen,
        proposed_by=clawback.proposed_by_id,
        reason=clawback.reason,
        note=note,
    )
    for flag_id in upheld:
        audit.record(
            actor,
            "risk_flag.upheld",
            "risk_flag",
            flag_id,
            note=clawback.reason,
            amount_fen=clawback.amount_fen,
            clawback_id=clawback.id,
        )


@atomic
def reject_clawback(clawback: ClawBack, note: str, actor: Actor) -> None:
    """Another official of the agency turns the proposal down, saying why: nothing is clawed
    back and the redemption's flags are open for a new decision (clear, or a new proposal)."""
    _still_proposed(clawback)
    if actor.org_id != clawback.programme.agency_id:
        raise DomainError(_l("Only an official of the programme's agency can decide this."))
    if actor.user_id is None or actor.user_id == clawback.proposed_by_id:
        raise DomainError(_l("You proposed this claw-back; withdraw it instead of rejecting it."))
    note = note.strip()
    if not note:
        raise DomainError(_l("Give a reason for rejecting the claw-back."), field="note")
    _move_clawback(
        clawback,
        ClawBack.proposed_by_id.is_distinct_from(actor.user_id),
        status=ClawBackStatus.REJECTED,
        decided_by_id=actor.user_id,
        decision_note=note,
        decided_at=utcnow(),
    )
    number, link = _order_of(clawback.programme.agency_id, clawback.reservation.order_line_id)
    notify(
        clawback.reservation.provider_id,
        "clawback_rejected",
        link,
        amount=format_fen(clawback.amount_fen),
        number=number,
        note=note,
    )
    audit.record(
        actor,
        "clawback.rejected",
        "clawback",
        clawback.id,
        reservation_id=clawback.reservation_id,
        amount_fen=clawback.amount_fen,
        proposed_by=clawback.proposed_by_id,
        note=note,
    )


@atomic
def withdraw_clawback(clawback: ClawBack, note: str, actor: Actor) -> None:
    """The proposer takes the proposal back, saying why: the flags are open again."""
    _still_proposed(clawback)
    if actor.user_id is None or actor.user_id != clawback.proposed_by_id:
        raise DomainError(_l("Only the official who proposed this claw-back can withdraw it."))
    note = note.strip()
    if not note:
        raise DomainError(_l("Give a reason for withdrawing the claw-back."), field="note")
    _move_clawback(
        clawback,
        ClawBack.proposed_by_id == actor.user_id,
        status=ClawBackStatus.WITHDRAWN,
        decided_by_id=actor.user_id,
        decision_note=note,
        decided_at=utcnow(),
    )
    audit.record(
        actor,
        "clawback.withdrawn",
        "clawback",
        clawback.id,
        reservation_id=clawback.reservation_id,
        amount_fen=clawback.amount_fen,
        note=note,
    )


@atomic
def claw_back(reservation: Reservation, reason: str, actor: Actor) -> None:
    """Claw back a redemption found not genuine. Claw-back is money, not a label:

    - the voucher money is never settled to the provider: the reservation becomes clawed back
      and the voucher's redeemed money moves to clawed back (a ``clawback`` ledger entry);
    - the enterprise owes that voucher share itself: the line's unpaid invoice that deducted
      it is voided and reissued without it, or a paid one gets a voucher-shortfall invoice
      for it (``payments.bill_clawback``; never billed twice);
    - both parties are told, with the reason.

    The budget rule: clawed-back money the agency never paid out returns to the programme's
    budget at once (``issued_fen`` decreases by the amount, as when a voucher is revoked; the
    ``clawback`` entry is its ledger record): the enterprise is billed for it, so the programme
    may issue it to someone else. The voucher's face value stays used (its holder does not get
    the money back to spend). The programme's figures show it as *clawed back*
    (``figures.Figures.clawed_back_fen``, part of *returned*, never *spent* or *settled*) and
    count it in *left to issue*. Money already paid out returns only once it is repaid: it
    stays *settled* in the ledger (the money did go out), and its recovery claim tracks it,
    open until the agency records the provider's repayment; then it is *recovered*
    (``figures.Figures.recovered_fen``) and back in the budget (``settlement.mark_recovered``).

    A redemption already settled and paid to the provider: the provider is asked to repay it
    by a recovery claim (``settlement.claim_recovery``; never a negative payout), and the
    enterprise is billed all the same. A redemption in a settlement not yet paid is refused
    (cancel the settlement first)."""
    if reservation.settlement_id is not None:
        claim = settlement.claim_recovery(reservation, reason, actor)
        _bill_and_tell(reservation, reason, actor, claim=claim)
        return
    if not move_reservation(
        reservation,
        ReservationStatus.REDEEMED,
        ReservationStatus.CLAWED_BACK,
        Reservation.settlement_id.is_(None),
        held=False,
    ):
        raise DomainError(
            _l("This redemption changed meanwhile, or is in a settlement. Reload the page.")
        )
    moved = db.session.execute(
        update(Voucher)
        .where(
            Voucher.id == reservation.voucher_id,
            Voucher.redeemed_fen - Voucher.settled_fen >= reservation.amount_fen,
        )
        .values(
            redeemed_fen=Voucher.redeemed_fen - reservation.amount_fen,
            clawed_back_fen=Voucher.clawed_back_fen + reservation.amount_fen,
        )
        .execution_options(synchronize_session=False)
    )
    assert moved.rowcount == 1  # type: ignore[attr-defined]
    return_to_budget(reservation.programme_id, reservation.amount_fen)
    ledger_entry(
        reservation.voucher_id,
        EntryKind.CLAWBACK,
        reservation.amount_fen,
        actor,
        reservation.id,
        note=reason,
    )
    _bill_and_tell(reservation, reason, actor)


def _bill_and_tell(
    reservation: Reservation, reason: str, actor: Actor, claim: RecoveryClaim | None = None
) -> None:
    """The enterprise is billed the voucher share that vouchers no longer pay; both parties
    hear of it, with the reason. With a recovery ``claim`` the redemption stays on the books
    (it was settled and paid), yet no longer backs the line, and the provider is asked to
    repay it."""
    from marketplace.vouchers import spending  # spending calls this module's risk checks

    line_id = reservation.order_line_id
    amount_fen = reservation.amount_fen
    backed = spending.line_funding(line_id).paid_fen - (amount_fen if claim else 0)
    invoices = payments.bill_clawback(
        line_id,
        reservation.provider_id,
        reservation.enterprise_id,
        backed,
        str(_l("Voucher share clawed back: %(reason)s", reason=reason)),
        actor,
    )
    link = f"/invoices/{invoices[-1].id}" if invoices else "/invoices"
    params = {"amount": format_fen(amount_fen), "line": line_id, "reason": reason}
    notify(reservation.enterprise_id, "voucher_clawed_back", link, **params)
    if claim is None:
        notify(reservation.provider_id, "voucher_clawed_back", link, **params)
    else:
        notify(reservation.provider_id, "voucher_recovery_claimed", link, **params)
