"""Spending vouchers on order lines: the plan of what pays how much, reserving at checkout,
releasing on rejection or cancellation, redeeming on acceptance (验收), revoking and expiring.

Every change of money is a conditional UPDATE (``… WHERE balance >= :amount``, row count
checked) followed by an append-only ``VoucherEntry``; nothing reads a balance and writes it
back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation
from marketplace.db import LOCAL_ZONE, atomic, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import format_fen, share_of
from marketplace.payments import services as payments
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import admission, caps, risk
from marketplace.vouchers.ledger import ledger_entry, move_reservation, return_to_budget
from marketplace.vouchers.models import (
    AVAILABLE,
    EXPIRED_NOTE,
    CapHold,
    CapHoldStatus,
    EntryKind,
    ProgrammeMode,
    ProgrammeStatus,
    Reservation,
    ReservationStatus,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
    VoucherStatus,
)
from marketplace.vouchers.risk import Delivery

# The ledger note of money given back by a cancellation within the cooling-off period.
COOLING_OFF_NOTE = "cancelled within the cooling-off period"


@dataclass(frozen=True)
class LineClaim:
    """What the orders domain tells vouchers about one line it is about to order."""

    key: int
    provider_id: int
    amount_fen: int
    plan_kind: str
    category_code: str | None  # None for an integration fee
    integrator_id: int | None = None  # the curated bundle's integrator, when ordered whole
    is_integration: bool = False
    success_fee: bool = False  # an outcome contract's fee, paid only where the rules allow
    # The package version the line buys: a programme pays only for versions it admitted
    # (``admission``). None for an integration fee (no package to admit).
    version_id: int | None = None
    period: int = 0  # the month (YYYYMM) of a usage line's invoice; 0 for everything else
    # A curated bundle with modules swapped for specialists' packages (hybrid mode): only the
    # hybrid programme the swap was made under pays any of its lines; ``swapped_in`` marks
    # a specialist's package in the place of a module.
    swapped_under: int | None = None
    swapped_in: bool = False


@dataclass
class Share:
    voucher: Voucher
    amount_fen: int


@dataclass
class LineSubsidy:
    claim: LineClaim
    programme: VoucherProgramme | None = None
    shares: list[Share] = field(default_factory=list)
    # Programmes whose vouchers would pay for the line but have not admitted its version yet
    # (待审, or not admitted): the reason the line gets less, shown to the enterprise.
    not_admitted: list[VoucherProgramme] = field(default_factory=list)

    @property
    def subsidy_fen(self) -> int:
        return sum(s.amount_fen for s in self.shares)

    @property
    def copay_fen(self) -> int:
        return self.claim.amount_fen - self.subsidy_fen


def spendable(enterprise_id: int, today: date | None = None) -> list[Voucher]:
    today = today or local_today()
    stmt = (
        select(Voucher)
        .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(
            Voucher.enterprise_id == enterprise_id,
            Voucher.status == VoucherStatus.ACTIVE,
            AVAILABLE > 0,
            VoucherProgramme.status != ProgrammeStatus.DRAFT,
            VoucherProgramme.redeem_by >= today,
        )
        .options(selectinload(Voucher.programme).selectinload(VoucherProgramme.appointments))
        .order_by(VoucherProgramme.redeem_by, Voucher.id)
    )
    return list(db.session.scalars(stmt))


def _admitted(agency_ids: Iterable[int], provider_ids: Iterable[int]) -> dict[int, set[int]]:
    """Which of these providers each agency's pool admits (not the whole pool: a thousand
    rows for every checkout at 100x)."""
    admitted: dict[int, set[int]] = defaultdict(set)
    rows = db.session.execute(
        select(PoolMembership.agency_id, PoolMembership.provider_id).where(
            PoolMembership.agency_id.in_(list(agency_ids)),
            PoolMembership.provider_id.in_(list(provider_ids)),
            PoolMembership.status == PoolStatus.ADMITTED,
        )
    )
    for agency_id, provider_id in rows:
        admitted[agency_id].add(provider_id)
    return admitted


def _used_under_cap(enterprise_id: int, programme_ids: Iterable[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Voucher.programme_id, func.sum(Voucher.reserved_fen + Voucher.redeemed_fen))
        .where(
            Voucher.enterprise_id == enterprise_id, Voucher.programme_id.in_(list(programme_ids))
        )
        .group_by(Voucher.programme_id)
    )
    return {pid: int(used or 0) for pid, used in rows}


def version_admitted(
    programme: VoucherProgramme, claim: LineClaim, admissions: set[tuple[int, int]]
) -> bool:
    """Whether the programme admitted the line's package version (``admission``); a line
    without a version (an integration fee) needs none."""
    return claim.version_id is None or (programme.id, claim.version_id) in admissions


def applies(programme: VoucherProgramme, claim: LineClaim, admitted: set[int]) -> bool:
    """Whether a programme's rules let its vouchers pay towards this line (its admission of
    the line's version is asked apart: ``version_admitted``)."""
    if programme.plan_kinds and claim.plan_kind not in programme.plan_kinds:
        return False
    if claim.success_fee and not programme.covers_success_fees:
        return False
    if claim.swapped_under is not None and claim.swapped_under != programme.id:
        return False
    if programme.mode in (ProgrammeMode.INTEGRATOR, ProgrammeMode.HYBRID):
        appointed = {i.id for i in programme.integrators}
        if claim.integrator_id is None or claim.integrator_id not in appointed:
            return False
        if claim.swapped_in and (
            programme.mode is not ProgrammeMode.HYBRID or claim.provider_id not in admitted
        ):
            return False
        return (
            claim.is_integration
            or not programme.category_codes
            or (claim.category_code in programme.category_codes)
        )
    if claim.is_integration or claim.provider_id not in admitted:
        return False
    return not programme.category_codes or claim.category_code in programme.category_codes


def plan(
    enterprise_id: int, claims: Sequence[LineClaim], alternatives: bool = False
) -> list[LineSubsidy]:
    """Which vouchers pay how much of each line: per line the one programme that pays most,
    drawing on its vouchers that expire first. A line's subsidy is the smallest of rate ×
    amount, the vouchers' available balance and what is left under the enterprise's cap.

    With ``alternatives`` the claims are choices (the plans of one package) rather than a
    basket: each is planned against the whole balance, as if ordered alone."""
    vouchers = spendable(enterprise_id)
    result = [LineSubsidy(claim) for claim in claims]
    if not vouchers:
        return result
    programmes = {v.programme_id: v.programme for v in vouchers}
    admitted = _admitted(
        {p.agency_id for p in programmes.values()}, {c.provider_id for c in claims}
    )
    used = _used_under_cap(enterprise_id, programmes)
    admissions = admission.admitted_pairs(
        programmes, {c.version_id for c in claims if c.version_id is not None}
    )
    cap_left = {pid: p.cap_fen - used.get(pid, 0) for pid, p in programmes.items()}
    left = {v.id: v.available_fen for v in vouchers}
    unspent = dict(left), dict(cap_left)
    for line in result:
        if alternatives:
            left, cap_left = dict(unspent[0]), dict(unspent[1])
        claim = line.claim
        best: tuple[int, VoucherProgramme] | None = None
        for programme in programmes.values():
            if not applies(programme, claim, admitted[programme.agency_id]):
                continue
            if not version_admitted(programme, claim, admissions):
                line.not_admitted.append(programme)
                continue
            pool = sum(left[v.id] for v in vouchers if v.programme_id == programme.id)
            could = min(share_of(claim.amount_fen, programme.rate_bp), pool, cap_left[programme.id])
            if could > 0 and (best is None or could > best[0]):
                best = (could, programme)
        if best is None:
            continue
        want, programme = best
        line.programme = programme
        for voucher in vouchers:
            if want == 0:
                break
            if voucher.programme_id != programme.id or left[voucher.id] == 0:
                continue
            take = min(want, left[voucher.id])
            line.shares.append(Share(voucher, take))
            left[voucher.id] -= take
            want -= take
        cap_left[programme.id] -= line.subsidy_fen
    return result


def reserve(
    subsidies: Sequence[LineSubsidy],
    line_ids: dict[int, int],
    enterprise_id: int,
    actor: Actor,
    order_number: str = "",
    check_caps: bool = True,
) -> int:
    """Set the planned amounts aside for the order lines (``claim.key`` → order line id).

    Each amount is one conditional UPDATE; if a balance no longer covers it, the whole
    checkout fails (the caller's transaction rolls back) rather than reserving less than the
    enterprise was shown. A line whose package version the paying programme has not
    admitted is refused: its vouchers pay only for admitted versions. The programmes'
    caps are checked first (``caps.enforce``): an order above one is refused, or its
    lines' money reserved and held for an official."""
    held = caps.enforce(subsidies) if check_caps else {}
    placed: dict[int, list[Reservation]] = defaultdict(list)
    total = 0
    paying = {s.voucher.programme_id for line in subsidies for s in line.shares}
    admissions = admission.admitted_pairs(
        paying, {line.claim.version_id for line in subsidies if line.claim.version_id}
    )
    for line in subsidies:
        for share in line.shares:
            if not version_admitted(share.voucher.programme, line.claim, admissions):
                raise DomainError(
                    _l(
                        "%(programme)s has not admitted this version of the package yet"
                        " (pending review): its vouchers cannot pay for it. Order it without"
                        " vouchers, or wait for the programme's decision.",
                        programme=share.voucher.programme.name,
                    )
                )
            moved = db.session.execute(
                update(Voucher)
                .where(
                    Voucher.id == share.voucher.id,
                    Voucher.enterprise_id == enterprise_id,
                    Voucher.status == VoucherStatus.ACTIVE,
                    share.amount_fen <= AVAILABLE,
                )
                .values(reserved_fen=Voucher.reserved_fen + share.amount_fen)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise DomainError(
                    _l(
                        "A voucher's balance changed while you were ordering. Review the"
                        " subsidy and order again."
                    )
                )
            reservation = Reservation(
                voucher_id=share.voucher.id,
                programme_id=share.voucher.programme_id,
                order_line_id=line_ids[line.claim.key],
                provider_id=line.claim.provider_id,
                enterprise_id=enterprise_id,
                amount_fen=share.amount_fen,
                line_amount_fen=line.claim.amount_fen,
                is_integration=line.claim.is_integration,
                for_success_fee=line.claim.success_fee,
                period=line.claim.period,
                status=ReservationStatus.RESERVED,
            )
            db.session.add(reservation)
            db.session.flush()
            placed[line.claim.key].append(reservation)
            ledger_entry(
                share.voucher.id, EntryKind.RESERVE, share.amount_fen, actor, reservation.id
            )
            audit.record(
                actor,
                "vouchers.reserved",
                "voucher",
                share.voucher.id,
                amount_fen=share.amount_fen,
                order_line_id=reservation.order_line_id,
            )
            total += share.amount_fen
    for key, over in held.items():
        _hold(over, placed[key], line_ids[key], enterprise_id, order_number, actor)
    for line in subsidies:
        for share in line.shares:
            db.session.expire(share.voucher)
    return total


def _hold(
    over: caps.Over,
    reservations: list[Reservation],
    line_id: int,
    enterprise_id: int,
    order_number: str,
    actor: Actor,
) -> None:
    """Put the line's reservations on hold for an official (the cap's policy is to hold)."""
    hold = CapHold(
        programme_id=over.programme.id,
        order_line_id=line_id,
        order_number=order_number,
        provider_id=over.provider_id,
        enterprise_id=enterprise_id,
        amount_fen=sum(r.amount_fen for r in reservations),
        share_bp=over.share_bp,
        cap_bp=over.cap_bp,
        status=CapHoldStatus.PENDING,
    )
    db.session.add(hold)
    db.session.flush()
    for reservation in reservations:
        reservation.cap_hold_id = hold.id
    db.session.flush()
    _tell_held(hold, actor)


def _tell_held(hold: CapHold, actor: Actor) -> None:
    db.session.refresh(hold)
    programme, provider = hold.programme, hold.provider
    audit.record(
        actor,
        "cap_hold.held",
        "order_line",
        hold.order_line_id,
        programme_id=programme.id,
        provider_id=provider.id,
        share_bp=hold.share_bp,
        cap_bp=hold.cap_bp,
        amount_fen=hold.amount_fen,
    )
    notifications.notify(
        programme.agency_id,
        "cap_hold_waiting",
        f"/agency/programmes/{programme.id}/cap-holds",
        number=hold.order_number,
        provider=provider.name,
        share=caps.percent(hold.share_bp),
        cap=caps.percent(hold.cap_bp),
        programme=programme.name,
    )
    notifications.notify(
        hold.enterprise_id,
        "cap_held",
        f"/orders/{hold.order_number}",
        number=hold.order_number,
        amount=format_fen(hold.amount_fen),
        provider=provider.name,
        programme=programme.name,
    )


def _reservations(line_ids: Iterable[int]) -> dict[int, list[Reservation]]:
    """The lines' reservations as the database holds them now (conditional UPDATEs bypass the
    session, so rows already loaded are read again)."""
    found: dict[int, list[Reservation]] = defaultdict(list)
    ids = list(line_ids)
    if not ids:
        return found
    stmt = (
        select(Reservation)
        .where(Reservation.order_line_id.in_(ids))
        .order_by(Reservation.id)
        .execution_options(populate_existing=True)
    )
    for reservation in db.session.scalars(stmt):
        found[reservation.order_line_id].append(reservation)
    return found


@dataclass(frozen=True)
class LineFunding:
    """What vouchers pay of one order line, by the state of that money. The line's price and
    an outcome contract's success fee are kept apart: a voucher's share of a success fee never
    lowers the co-payment of the price."""

    reservations: tuple[Reservation, ...] = ()
    reserved_fen: int = 0  # set aside at checkout, spent on acceptance (验收)
    redeemed_fen: int = 0  # spent; settled to the provider by the agency
    released_fen: int = 0  # given back (rejected, cancelled, redeem-by date passed)
    clawed_back_fen: int = 0  # a redemption found not genuine
    success_fee_fen: int = 0  # vouchers' share of success fees, reserved or redeemed

    @property
    def cooling_off_until(self) -> datetime | None:
        """Until when the line cools off (its voucher money still set aside, the enterprise
        free to cancel it), or None: the latest end of its reserved price reservations."""
        ends = [
            r.cooling_off_until
            for r in self.reservations
            if r.cooling_off_until is not None
            and not r.for_success_fee
            and r.status is ReservationStatus.RESERVED
        ]
        return max(ends) if ends else None

    def cooling_off_at(self, now: datetime) -> bool:
        """Whether the line is cooling off at ``now``."""
        until = self.cooling_off_until
        return until is not None and now < until

    @property
    def paid_fen(self) -> int:
        """What vouchers pay of the line's price now: set aside or spent."""
        return self.reserved_fen + self.redeemed_fen

    def copay_fen(self, price_fen: int) -> int:
        """What the enterprise pays itself of a price of ``price_fen``."""
        return price_fen - self.paid_fen


NO_FUNDING = LineFunding()
_FUNDING_FIELD = {
    ReservationStatus.RESERVED: "reserved_fen",
    ReservationStatus.REDEEMED: "redeemed_fen",
    ReservationStatus.RELEASED: "released_fen",
    ReservationStatus.CLAWED_BACK: "clawed_back_fen",
}


def funding(line_ids: Iterable[int]) -> dict[int, LineFunding]:
    """How much of each order line vouchers pay, and in what state: the one read of a line's
    voucher money for orders, invoices and pages. Lines without vouchers are absent (use
    ``.get(line_id, NO_FUNDING)``)."""
    result: dict[int, LineFunding] = {}
    for line_id, rows in _reservations(line_ids).items():
        sums = dict.fromkeys(_FUNDING_FIELD.values(), 0)
        success_fee = 0
        for r in rows:
            if not r.for_success_fee:
                sums[_FUNDING_FIELD[r.status]] += r.amount_fen
            elif r.status in (ReservationStatus.RESERVED, ReservationStatus.REDEEMED):
                success_fee += r.amount_fen
        result[line_id] = LineFunding(tuple(rows), success_fee_fen=success_fee, **sums)
    return result


def line_funding(line_id: int) -> LineFunding:
    return funding([line_id]).get(line_id, NO_FUNDING)


def _unreserve(
    reservation: Reservation, actor: Actor, note: str, *where: ColumnElement[bool]
) -> int:
    if not move_reservation(
        reservation, ReservationStatus.RESERVED, ReservationStatus.RELEASED, *where
    ):
        return 0
    moved = db.session.execute(
        update(Voucher)
        .where(Voucher.id == reservation.voucher_id, Voucher.reserved_fen >= reservation.amount_fen)
        .values(reserved_fen=Voucher.reserved_fen - reservation.amount_fen)
        .execution_options(synchronize_session=False)
    )
    assert moved.rowcount == 1  # type: ignore[attr-defined]
    ledger_entry(
        reservation.voucher_id,
        EntryKind.RELEASE,
        reservation.amount_fen,
        actor,
        reservation.id,
        note=note,
    )
    return reservation.amount_fen


@atomic
def pay_success_fee(claim: LineClaim, line_id: int, enterprise_id: int, actor: Actor) -> int:
    """A met contract's success fee: the vouchers' share (where a programme covers success
    fees) is reserved and, the result being verified, redeemed at once. Returns the share."""
    subsidies = plan(enterprise_id, [claim])
    if not subsidies[0].subsidy_fen:
        return 0
    share = reserve(subsidies, {claim.key: line_id}, enterprise_id, actor, check_caps=False)
    redeem_line(line_id, Delivery(utcnow(), None, None), actor, success_fee=True)
    return share


@atomic
def pay_usage_month(claim: LineClaim, line_id: int, enterprise_id: int, actor: Actor) -> int:
    """A usage line's month, rated after it ended: the vouchers' share (where a programme pays
    towards usage plans, as its plan kinds say) is reserved for that month and, the usage being
    undisputed, redeemed at once like a delivery accepted. Returns the share."""
    subsidies = plan(enterprise_id, [claim])
    if not subsidies[0].subsidy_fen:
        return 0
    share = reserve(subsidies, {claim.key: line_id}, enterprise_id, actor)
    redeem_line(line_id, Delivery(utcnow(), None, None), actor)
    return share


def _bill_shortfall(released: Reservation, actor: Actor) -> None:
    """If an invoice of the line already counted on the money just released, the enterprise
    owes it after all."""
    backed = line_funding(released.order_line_id).paid_fen
    payments.bill_voucher_shortfall(
        released.order_line_id, released.provider_id, released.enterprise_id, backed, actor
    )


def release_line(line_id: int, actor: Actor, note: str = "") -> int:
    """Give back what a rejected or cancelled line had reserved."""
    released = 0
    for reservation in _reservations([line_id])[line_id]:
        released += _unreserve(reservation, actor, note)
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
    if released:
        audit.record(actor, "vouchers.released", "order_line", line_id, amount_fen=released)
    return released


@atomic
def reduce_line(line_id: int, amount_fen: int, actor: Actor) -> int:
    """The line's amount was reduced (a dispute decided at a reduced amount) before its
    acceptance: what vouchers set aside follows it. Each programme pays at most its rate of
    the new amount (as it would have at checkout), never more than it set aside; the rest goes
    back to the vouchers. Returns the amount released. The line's reservations are then
    redeemed as usual (``redeem_line``)."""
    released = 0
    allowance: dict[int, int] = {}
    for reservation in _reservations([line_id])[line_id]:
        if reservation.for_success_fee or reservation.status is not ReservationStatus.RESERVED:
            continue
        programme = reservation.voucher.programme
        left = allowance.setdefault(programme.id, share_of(amount_fen, programme.rate_bp))
        keep = min(reservation.amount_fen, left)
        allowance[programme.id] = left - keep
        trim = reservation.amount_fen - keep
        if keep == 0:
            released += _unreserve(reservation, actor, note="reduced by a dispute decision")
        else:
            moved = db.session.execute(
                update(Reservation)
                .where(
                    Reservation.id == reservation.id,
                    Reservation.status == ReservationStatus.RESERVED,
                    Reservation.amount_fen == reservation.amount_fen,
                )
                .values(
                    amount_fen=keep,
                    trimmed_fen=Reservation.trimmed_fen + trim,
                    line_amount_fen=amount_fen,
                )
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise DomainError(_l("This line changed meanwhile. Reload the page and try again."))
            if trim:
                given_back = db.session.execute(
                    update(Voucher)
                    .where(Voucher.id == reservation.voucher_id, Voucher.reserved_fen >= trim)
                    .values(reserved_fen=Voucher.reserved_fen - trim)
                    .execution_options(synchronize_session=False)
                )
                assert given_back.rowcount == 1  # type: ignore[attr-defined]
                ledger_entry(
                    reservation.voucher_id,
                    EntryKind.RELEASE,
                    trim,
                    actor,
                    reservation.id,
                    note="reduced by a dispute decision",
                )
                released += trim
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
    if released:
        audit.record(
            actor,
            "vouchers.released",
            "order_line",
            line_id,
            amount_fen=released,
            line_amount_fen=amount_fen,
        )
    return released


def paying_agency(line_id: int) -> int | None:
    """The agency whose programme's vouchers pay part of the line's price (set aside or
    spent), or None: who decides the line's dispute."""
    stmt = (
        select(VoucherProgramme.agency_id)
        .join(Reservation, Reservation.programme_id == VoucherProgramme.id)
        .where(
            Reservation.order_line_id == line_id,
            Reservation.for_success_fee.is_(False),
            Reservation.status.in_((ReservationStatus.RESERVED, ReservationStatus.REDEEMED)),
        )
        .order_by(Reservation.amount_fen.desc(), Reservation.id)
        .limit(1)
    )
    return db.session.scalar(stmt)


@atomic
def redeem_line(line_id: int, delivery: Delivery, actor: Actor, success_fee: bool = False) -> int:
    """Acceptance (验收): what the line had reserved is spent. Risk checks may hold it for
    review before it can be settled to the provider."""
    redeemed = 0
    now = utcnow()
    today = local_today()
    for reservation in _reservations([line_id])[line_id]:
        if reservation.for_success_fee != success_fee:
            continue
        if reservation.cap_hold_id is not None and _waits_on_hold(reservation.cap_hold_id, now):
            continue  # spent when an official approves it (``cap_holds.approve``)
        if _cools_off(reservation, now):
            continue  # spent when the period is over (``redeem_cooled_off``)
        if reservation.voucher.programme.redeem_by < today:  # too late: the money goes back
            _unreserve(reservation, actor, note=EXPIRED_NOTE)
            _bill_shortfall(reservation, actor)
            continue
        if not move_reservation(
            reservation, ReservationStatus.RESERVED, ReservationStatus.REDEEMED, redeemed_at=now
        ):
            continue
        moved = db.session.execute(
            update(Voucher)
            .where(
                Voucher.id == reservation.voucher_id,
                Voucher.reserved_fen >= reservation.amount_fen,
            )
            .values(
                reserved_fen=Voucher.reserved_fen - reservation.amount_fen,
                redeemed_fen=Voucher.redeemed_fen + reservation.amount_fen,
            )
            .execution_options(synchronize_session=False)
        )
        assert moved.rowcount == 1  # type: ignore[attr-defined]
        ledger_entry(
            reservation.voucher_id, EntryKind.REDEEM, reservation.amount_fen, actor, reservation.id
        )
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
        risk.flag_risks(reservation, delivery)
        redeemed += reservation.amount_fen
    if redeemed:
        audit.record(actor, "vouchers.redeemed", "order_line", line_id, amount_fen=redeemed)
    return redeemed


def _cools_off(reservation: Reservation, now: datetime) -> bool:
    """Whether the reservation's line still cools off; if so the acceptance is noted, so that
    the ``cooling_off_redemption`` job spends the money once the period is over."""
    if reservation.cooling_off_until is None or reservation.cooling_off_until <= now:
        return False
    db.session.execute(
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == ReservationStatus.RESERVED)
        .values(accepted_at=func.coalesce(Reservation.accepted_at, now))
        .execution_options(synchronize_session=False)
    )
    return True


# --- cooling-off (issue 23) ---------------------------------------------------------------


def start_cooling_off(line_id: int, started_at: datetime) -> datetime | None:
    """The line's delivery started: the money of programmes with cooling-off days stays set
    aside until ``started_at`` plus those days (the enterprise may cancel meanwhile and have
    it back whole). Returns the latest end, or None when no programme paying it cools off."""
    latest: datetime | None = None
    for reservation in _reservations([line_id])[line_id]:
        if reservation.for_success_fee or reservation.status is not ReservationStatus.RESERVED:
            continue
        days = reservation.voucher.programme.cooling_off_days
        if not days:
            continue
        until = started_at + timedelta(days=days)
        db.session.execute(
            update(Reservation)
            .where(
                Reservation.id == reservation.id,
                Reservation.status == ReservationStatus.RESERVED,
                Reservation.cooling_off_until.is_(None),
            )
            .values(cooling_off_until=until)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(reservation)
        latest = until if latest is None else max(latest, until)
    return latest


@atomic
def release_cooling_off(line_id: int, actor: Actor, now: datetime) -> int:
    """The enterprise cancels the line within its cooling-off period: every reservation of
    its price goes back to its voucher whole (ledger entry, audit). Refused, with the reason,
    when the line has no cooling-off or the period is over; the release is conditional on
    the period still running, so the redemption job cannot spend the money at the same time.
    Returns the amount released."""
    line_money = line_funding(line_id)
    until = line_money.cooling_off_until
    if until is None:
        raise DomainError(_l("This line has no cooling-off period; it can no longer be cancelled."))
    if until <= now:
        raise DomainError(
            _l(
                "The cooling-off period ended on %(date)s; this line can no longer be cancelled.",
                date=f"{until.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}",
            )
        )
    released = 0
    for reservation in line_money.reservations:
        if reservation.for_success_fee or reservation.status is not ReservationStatus.RESERVED:
            continue
        amount = _unreserve(
            reservation,
            actor,
            COOLING_OFF_NOTE,
            Reservation.cooling_off_until.is_not(None),
            Reservation.cooling_off_until > now,
        )
        if not amount:
            raise DomainError(_l("This line changed meanwhile. Reload the page and try again."))
        released += amount
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
    audit.record(
        actor,
        "vouchers.released",
        "order_line",
        line_id,
        amount_fen=released,
        cooling_off_until=until.isoformat(),
    )
    return released


def lines_cooled_off(now: datetime | None = None) -> list[int]:
    """Lines accepted (验收) while cooling off whose period is now over and whose money is
    still set aside (the ``cooling_off_redemption`` job's items)."""
    stmt = (
        select(Reservation.order_line_id)
        .where(
            Reservation.status == ReservationStatus.RESERVED,
            Reservation.accepted_at.is_not(None),
            Reservation.cooling_off_until <= (now or utcnow()),
        )
        .distinct()
        .order_by(Reservation.order_line_id)
    )
    return list(db.session.scalars(stmt))


def _waits_on_hold(hold_id: int, now: datetime) -> bool:
    """Whether the cap hold is still undecided; if so it notes the acceptance, so that the
    approval spends the money. One conditional UPDATE: an approval at the same moment either
    comes first (the money is spent now) or finds the acceptance noted."""
    noted = db.session.execute(
        update(CapHold)
        .where(CapHold.id == hold_id, CapHold.status == CapHoldStatus.PENDING)
        .values(line_accepted_at=func.coalesce(CapHold.line_accepted_at, now))
        .execution_options(synchronize_session=False)
    )
    return bool(noted.rowcount)  # type: ignore[attr-defined]


@atomic
def release_held(hold: CapHold, actor: Actor, note: str) -> int:
    """A declined hold: its line's reservations go back to the vouchers (and an invoice that
    counted on them bills the enterprise)."""
    released = 0
    for reservation in _reservations([hold.order_line_id])[hold.order_line_id]:
        if reservation.cap_hold_id != hold.id:
            continue
        amount = _unreserve(reservation, actor, note)
        if amount:
            released += amount
            _bill_shortfall(reservation, actor)
        db.session.expire(reservation)
        db.session.expire(reservation.voucher)
    if released:
        audit.record(
            actor, "vouchers.released", "order_line", hold.order_line_id, amount_fen=released
        )
    return released


def _past_redeem_by(today: date) -> Select[Any]:
    return select(VoucherProgramme.id).where(VoucherProgramme.redeem_by < today)


def reservations_past_redeem_by(today: date | None = None) -> list[int]:
    """Reservations still unredeemed after their programme's redeem-by date (job items)."""
    stmt = select(Reservation.id).where(
        Reservation.status == ReservationStatus.RESERVED,
        Reservation.programme_id.in_(_past_redeem_by(today or local_today())),
    )
    return list(db.session.scalars(stmt.order_by(Reservation.id)))


@atomic
def release_past_redeem_by(reservation_id: int, actor: Actor) -> int:
    """Release one such reservation (and bill what an invoice had counted on); the fen
    released now, 0 if it was released or redeemed meanwhile."""
    reservation = db.session.get(Reservation, reservation_id)
    if reservation is None or reservation.status is not ReservationStatus.RESERVED:
        return 0
    released = _unreserve(reservation, actor, note=EXPIRED_NOTE)
    if released:
        _bill_shortfall(reservation, actor)
    return released


def programmes_past_redeem_by(today: date | None = None) -> list[int]:
    """Programmes past their redeem-by date that still hold active vouchers (job items)."""
    stmt = (
        select(Voucher.programme_id)
        .where(
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.programme_id.in_(_past_redeem_by(today or local_today())),
        )
        .distinct()
    )
    return sorted(db.session.scalars(stmt))


@atomic
def expire_programme(programme_id: int, actor: Actor, today: date | None = None) -> int:
    """Expire what is left of a programme's vouchers after its redeem-by date (those with
    nothing reserved; a reservation still to release keeps its voucher for the next run).
    One conditional UPDATE: a second run finds them expired. Returns how many expired."""
    today = today or local_today()
    rows = db.session.execute(
        update(Voucher)
        .where(
            Voucher.programme_id == programme_id,
            Voucher.programme_id.in_(_past_redeem_by(today)),
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
        )
        .values(status=VoucherStatus.EXPIRED, expired_fen=Voucher.expired_fen + AVAILABLE)
        .returning(Voucher.id, Voucher.expired_fen)
        .execution_options(synchronize_session=False)
    ).all()
    for voucher_id, expired in rows:
        if expired:
            ledger_entry(voucher_id, EntryKind.EXPIRE, int(expired), actor, note=EXPIRED_NOTE)
    db.session.expire_all()
    if rows:
        audit.record(actor, "vouchers.expired", "programme", programme_id, count=len(rows))
    return len(rows)


def expire_due(actor: Actor, today: date | None = None) -> tuple[int, int]:
    """After a programme's redeem-by date: release unredeemed reservations, then expire what
    is left of each voucher. Returns (vouchers expired, fen released)."""
    today = today or local_today()
    released = sum(release_past_redeem_by(r, actor) for r in reservations_past_redeem_by(today))
    expired = sum(expire_programme(p, actor, today) for p in programmes_past_redeem_by(today))
    return expired, released


@atomic
def revoke(voucher: Voucher, reason: str, actor: Actor) -> None:
    """Take back a voucher nothing of which is reserved or redeemed; its value returns to the
    programme's budget."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    left = AVAILABLE
    moved = db.session.execute(
        update(Voucher)
        .where(
            Voucher.id == voucher.id,
            Voucher.status == VoucherStatus.ACTIVE,
            Voucher.reserved_fen == 0,
            Voucher.redeemed_fen == 0,
            left > 0,
        )
        .values(
            status=VoucherStatus.REVOKED,
            revoked_fen=Voucher.revoked_fen + left,
            revoke_reason=reason,
        )
        .returning(Voucher.revoked_fen)
        .execution_options(synchronize_session=False)
    ).scalar()
    if moved is None:
        db.session.refresh(voucher)
        if voucher.status is not VoucherStatus.ACTIVE:
            raise DomainError(_l("Only an active voucher can be revoked."))
        raise DomainError(
            _l("This voucher is in use (reserved or redeemed) and cannot be revoked.")
        )
    amount = int(moved)
    return_to_budget(voucher.programme_id, amount)
    ledger_entry(voucher.id, EntryKind.REVOKE, amount, actor, note=reason)
    db.session.refresh(voucher)
    db.session.refresh(voucher.programme)
    notifications.notify(
        voucher.enterprise_id,
        "voucher_revoked",
        f"/vouchers/{voucher.id}",
        code=voucher.code,
        programme=voucher.programme.name,
        amount=format_fen(amount),
        reason=reason,
    )
    audit.record(actor, "voucher.revoked", "voucher", voucher.id, reason=reason, amount_fen=amount)


def vouchers_of(enterprise: Organisation) -> list[Voucher]:
    stmt = (
        select(Voucher)
        .where(Voucher.enterprise_id == enterprise.id)
        .order_by(Voucher.status, Voucher.id.desc())
    )
    return list(db.session.scalars(stmt))


def voucher_for(org: Organisation, voucher_id: int) -> Voucher:
    """A voucher its holder or its programme's agency may see; anyone else: not found."""
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or org.id not in (voucher.enterprise_id, voucher.programme.agency_id):
        raise NotFound(_l("Not found."))
    return voucher


def entries_of(voucher: Voucher) -> list[VoucherEntry]:
    stmt = (
        select(VoucherEntry).where(VoucherEntry.voucher_id == voucher.id).order_by(VoucherEntry.id)
    )
    return list(db.session.scalars(stmt))
