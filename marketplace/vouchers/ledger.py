"""The voucher books: the append-only ledger entry and the conditional move of a reservation
that every change of money writes, and ``flask --app app vouchers check``, which proves the
ledger, the balance columns and the invariants agree.

Each check is one GROUP BY query, so it stays fast at hundreds of thousands of entries.
Returns every difference found as a sentence; an empty list means the books balance.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, case, event, func, inspect, select, update
from sqlalchemy.orm import Session

from marketplace.catalog import freshness
from marketplace.db import attributes_changed, db
from marketplace.money import share_of
from marketplace.security import Actor
from marketplace.vouchers import figures
from marketplace.vouchers.models import (
    AVAILABLE,
    EntryKind,
    RecoveryClaim,
    RecoveryStatus,
    Reservation,
    ReservationStatus,
    Settlement,
    SettlementStatus,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
    VoucherStatus,
)


def ledger_entry(
    voucher_id: int,
    kind: EntryKind,
    amount_fen: int,
    actor: Actor,
    reservation_id: int | None = None,
    settlement_id: int | None = None,
    note: str = "",
) -> None:
    db.session.add(
        VoucherEntry(
            voucher_id=voucher_id,
            kind=kind,
            amount_fen=amount_fen,
            reservation_id=reservation_id,
            settlement_id=settlement_id,
            actor_user_id=actor.user_id,
            note=note,
        )
    )


def return_to_budget(programme_id: int, amount_fen: int) -> None:
    """Money taken back (a revoked voucher, a claw-back, a provider's repayment) may be issued
    again: the programme's budget counter goes down, never below zero."""
    returned = db.session.execute(
        update(VoucherProgramme)
        .where(VoucherProgramme.id == programme_id, VoucherProgramme.issued_fen >= amount_fen)
        .values(issued_fen=VoucherProgramme.issued_fen - amount_fen)
        .execution_options(synchronize_session=False)
    )
    assert returned.rowcount == 1  # type: ignore[attr-defined]


def move_reservation(
    reservation: Reservation,
    before: ReservationStatus,
    after: ReservationStatus,
    *where: ColumnElement[bool],
    **values: Any,
) -> bool:
    moved = db.session.execute(
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status == before, *where)
        .values(status=after, **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if ReservationStatus.REDEEMED in (before, after):
        money_moved(reservation.programme_id)
    return True


# What the programme's redeemed money is made of: the concentration figures read these.
SPENT = (ReservationStatus.REDEEMED,)
SPENT_COLUMNS = ("status", "amount_fen", "programme_id", "provider_id", "order_line_id")


def money_moved(programme_id: int, session: Session | None = None) -> None:
    """The programme's redeemed money changed in this transaction: its ``money`` stamp gets a
    new token when it commits, so figures kept from it (``oversight.concentration``) are
    computed again."""
    freshness.changed_on_commit(freshness.money(programme_id), session=session)


@event.listens_for(Session, "after_flush")
def _reservations_flushed(session: Session, _context: Any) -> None:
    """Reservations written through the ORM (``move_reservation`` moves them with an UPDATE
    the flush does not see, and stamps itself)."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Reservation):
            continue
        if obj in session.dirty and not attributes_changed(obj, SPENT_COLUMNS):
            continue
        was = inspect(obj).attrs.status.history.deleted
        if obj.status in SPENT or any(s in SPENT for s in was):
            money_moved(obj.programme_id, session)


def _sum_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, VoucherEntry.amount_fen), else_=0)), 0)


def check() -> list[str]:
    problems: list[str] = []
    problems += _vouchers_against_ledger()
    problems += _vouchers_against_reservations()
    problems += _reservations_against_ledger()
    problems += _reservations_against_rules()
    problems += _programmes()
    problems += _figures()
    problems += _settlements()
    return problems


BALANCES = (
    "face_value_fen",
    "reserved_fen",
    "redeemed_fen",
    "settled_fen",
    "expired_fen",
    "clawed_back_fen",
    "revoked_fen",
)


def _vouchers_against_ledger() -> list[str]:
    kinds = {kind: _sum_when(VoucherEntry.kind == kind) for kind in EntryKind}
    ledger = (
        select(VoucherEntry.voucher_id, *[kinds[k].label(k.value) for k in EntryKind])
        .group_by(VoucherEntry.voucher_id)
        .subquery()
    )
    columns = [Voucher.code, Voucher.status, *(getattr(Voucher, c) for c in BALANCES)]
    rows = db.session.execute(
        # plain columns, not entities: the stored values, and fast at 100,000 vouchers
        select(*columns, *[func.coalesce(ledger.c[k.value], 0) for k in EntryKind]).outerjoin(
            ledger, ledger.c.voucher_id == Voucher.id
        )
    )
    problems = []
    for row in rows:
        voucher = SimpleNamespace(**dict(zip(["code", "status", *BALANCES], row, strict=False)))
        sums = row[len(columns) :]
        s = dict(zip(EntryKind, (int(x) for x in sums), strict=True))
        expected = {
            "face_value_fen": s[EntryKind.ISSUE],
            "reserved_fen": s[EntryKind.RESERVE] - s[EntryKind.RELEASE] - s[EntryKind.REDEEM],
            "redeemed_fen": s[EntryKind.REDEEM] - s[EntryKind.CLAWBACK],
            "settled_fen": s[EntryKind.SETTLE],
            "expired_fen": s[EntryKind.EXPIRE],
            "clawed_back_fen": s[EntryKind.CLAWBACK],
            "revoked_fen": s[EntryKind.REVOKE],
        }
        for column, value in expected.items():
            if getattr(voucher, column) != value:
                problems.append(
                    f"voucher {voucher.code}: {column} is {getattr(voucher, column)}"
                    f" but the ledger says {value}"
                )
        used = voucher.reserved_fen + voucher.redeemed_fen
        if not 0 <= used <= voucher.face_value_fen:
            problems.append(f"voucher {voucher.code}: reserved + redeemed {used} outside 0..face")
        left = voucher.face_value_fen - sum(
            getattr(voucher, c) for c in BALANCES if c not in ("face_value_fen", "settled_fen")
        )
        if voucher.status is not VoucherStatus.ACTIVE and left:
            problems.append(f"voucher {voucher.code}: {voucher.status.value} with {left} left")
        if voucher.status is not VoucherStatus.ACTIVE and voucher.reserved_fen:
            problems.append(
                f"voucher {voucher.code}: {voucher.status.value} but {voucher.reserved_fen}"
                " still reserved"
            )
    return problems


def _amount_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, Reservation.amount_fen), else_=0)), 0)


def _vouchers_against_reservations() -> list[str]:
    """Each balance column equals what the voucher's reservations hold in that state."""
    by_state = (
        select(
            Reservation.voucher_id,
            _amount_when(Reservation.status == ReservationStatus.RESERVED).label("reserved_fen"),
            _amount_when(Reservation.status == ReservationStatus.REDEEMED).label("redeemed_fen"),
            _amount_when(Reservation.status == ReservationStatus.CLAWED_BACK).label(
                "clawed_back_fen"
            ),
            _amount_when(Settlement.status == SettlementStatus.PAID).label("settled_fen"),
        )
        .outerjoin(Settlement, Settlement.id == Reservation.settlement_id)
        .group_by(Reservation.voucher_id)
        .subquery()
    )
    names = ("reserved_fen", "redeemed_fen", "clawed_back_fen", "settled_fen")
    rows = db.session.execute(
        select(
            Voucher.code,
            *(getattr(Voucher, n) for n in names),
            *(func.coalesce(by_state.c[n], 0) for n in names),
        ).outerjoin(by_state, by_state.c.voucher_id == Voucher.id)
    )
    problems = []
    for code, *values in rows:
        for name, column, held in zip(names, values[:4], values[4:], strict=True):
            if column != held:
                problems.append(f"voucher {code}: {name} {column} but its reservations hold {held}")
    return problems


def _reservations_against_rules() -> list[str]:
    """A reservation belongs to its voucher's enterprise and programme, a settlement's lines
    to its provider and programme, and no line gets more than the rate of its amount."""
    problems = []
    mismatched = db.session.execute(
        select(Reservation.id)
        .join(Voucher, Voucher.id == Reservation.voucher_id)
        .where(
            (Reservation.enterprise_id != Voucher.enterprise_id)
            | (Reservation.programme_id != Voucher.programme_id)
        )
    ).scalars()
    problems += [f"reservation {r}: not its voucher's enterprise or programme" for r in mismatched]
    misfiled = db.session.execute(
        select(Reservation.id)
        .join(Settlement, Settlement.id == Reservation.settlement_id)
        .where(
            (Reservation.provider_id != Settlement.provider_id)
            | (Reservation.programme_id != Settlement.programme_id)
        )
    ).scalars()
    problems += [
        f"reservation {r}: in another provider's or programme's settlement" for r in misfiled
    ]
    per_line = db.session.execute(
        select(
            Reservation.order_line_id,
            func.sum(Reservation.amount_fen),
            func.max(Reservation.line_amount_fen),
            func.max(VoucherProgramme.rate_bp),
        )
        .join(VoucherProgramme, VoucherProgramme.id == Reservation.programme_id)
        .where(Reservation.status != ReservationStatus.RELEASED)
        # a usage line's months are each priced apart (``period``)
        .group_by(Reservation.order_line_id, Reservation.for_success_fee, Reservation.period)
    )
    for line_id, total, amount, rate in per_line:
        if total > share_of(amount, rate):
            problems.append(
                f"order line {line_id}: vouchers hold {total}, more than the rate allows"
            )
    return problems


# What the ledger must show for a reservation in each status: (reserve, release, redeem,
# clawback) as multiples of its amount. Every fen reserved ends redeemed, released or expired
# (expiry releases first), or is still reserved. A reservation trimmed to a reduced line
# amount (``trimmed_fen``) was reserved for that much more and released that much.
EXPECTED = {
    ReservationStatus.RESERVED: (1, 0, 0, 0),
    ReservationStatus.RELEASED: (1, 1, 0, 0),
    ReservationStatus.REDEEMED: (1, 0, 1, 0),
    ReservationStatus.CLAWED_BACK: (1, 0, 1, 1),
}


def _reservations_against_ledger() -> list[str]:
    kinds = (EntryKind.RESERVE, EntryKind.RELEASE, EntryKind.REDEEM, EntryKind.CLAWBACK)
    ledger = (
        select(
            VoucherEntry.reservation_id,
            *[_sum_when(VoucherEntry.kind == k).label(k.value) for k in kinds],
        )
        .where(VoucherEntry.reservation_id.is_not(None))
        .group_by(VoucherEntry.reservation_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Reservation.id,
            Reservation.status,
            Reservation.amount_fen,
            Reservation.trimmed_fen,
            *[func.coalesce(ledger.c[k.value], 0) for k in kinds],
        ).outerjoin(ledger, ledger.c.reservation_id == Reservation.id)
    )
    problems = []
    for reservation_id, status, amount, trimmed, *sums in rows:
        reserve, release, redeem, clawback = (m * amount for m in EXPECTED[status])
        expected = (reserve + trimmed, release + trimmed, redeem, clawback)
        if tuple(int(x) for x in sums) != expected:
            problems.append(
                f"reservation {reservation_id} ({status.value}, {amount}): ledger shows"
                f" reserve/release/redeem/clawback {tuple(int(x) for x in sums)}, expected {expected}"
            )
    return problems


def _programmes() -> list[str]:
    issued = (
        select(
            Voucher.programme_id,
            # revoked, clawed-back and recovered money went back to the budget (``risk.claw_back``)
            func.sum(Voucher.face_value_fen - Voucher.revoked_fen - Voucher.clawed_back_fen).label(
                "issued"
            ),
        )
        .group_by(Voucher.programme_id)
        .subquery()
    )
    recovered = (
        select(RecoveryClaim.programme_id, func.sum(RecoveryClaim.amount_fen).label("total"))
        .where(RecoveryClaim.status == RecoveryStatus.RECOVERED)
        .group_by(RecoveryClaim.programme_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            VoucherProgramme,
            func.coalesce(issued.c.issued, 0) - func.coalesce(recovered.c.total, 0),
        )
        .outerjoin(issued, issued.c.programme_id == VoucherProgramme.id)
        .outerjoin(recovered, recovered.c.programme_id == VoucherProgramme.id)
        .execution_options(populate_existing=True)
    )
    problems = []
    for programme, total in rows:
        if programme.issued_fen != total:
            problems.append(
                f"programme {programme.id}: issued_fen {programme.issued_fen} but its vouchers"
                f" add up to {total}"
            )
        if programme.issued_fen > programme.budget_fen:
            problems.append(
                f"programme {programme.id}: issued {programme.issued_fen} over budget"
                f" {programme.budget_fen}"
            )
    return problems


def _settlements() -> list[str]:
    claimed = (
        select(Reservation.settlement_id, func.sum(Reservation.amount_fen).label("total"))
        .where(Reservation.settlement_id.is_not(None))
        .group_by(Reservation.settlement_id)
        .subquery()
    )
    settled = (
        select(VoucherEntry.settlement_id, func.sum(VoucherEntry.amount_fen).label("total"))
        .where(VoucherEntry.kind == EntryKind.SETTLE)
        .group_by(VoucherEntry.settlement_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Settlement.number,
            Settlement.status,
            Settlement.total_fen,
            func.coalesce(claimed.c.total, 0),
            func.coalesce(settled.c.total, 0),
        )
        .outerjoin(claimed, claimed.c.settlement_id == Settlement.id)
        .outerjoin(settled, settled.c.settlement_id == Settlement.id)
    )
    problems: list[str] = []
    for number, status, total, lines, paid in rows:
        if status is SettlementStatus.CANCELLED:
            if lines or paid:
                problems.append(f"settlement {number}: cancelled but still holds money")
            continue
        if lines != total:
            problems.append(f"settlement {number}: total {total} but its lines add up to {lines}")
        if (status is SettlementStatus.PAID) != (paid == total) or paid not in (0, total):
            problems.append(f"settlement {number}: {status.value} but the ledger settled {paid}")
    return problems


def _figures() -> list[str]:
    """The figures every page shows (``figures``: sums of ledger entries) against the vouchers'
    balance columns and the programme's budget counter."""
    balances = {
        pid: [int(v) for v in rest]
        for pid, *rest in db.session.execute(
            select(
                Voucher.programme_id,
                func.sum(Voucher.face_value_fen),
                func.sum(Voucher.revoked_fen),
                func.sum(Voucher.expired_fen),
                func.sum(Voucher.reserved_fen),
                func.sum(Voucher.redeemed_fen + Voucher.clawed_back_fen),
                func.sum(Voucher.clawed_back_fen),
                func.sum(Voucher.settled_fen),
                func.sum(case((Voucher.status == VoucherStatus.ACTIVE, AVAILABLE), else_=0)),
            ).group_by(Voucher.programme_id)
        )
    }
    programmes = list(db.session.scalars(select(VoucherProgramme)))
    names = (
        "issued",
        "revoked",
        "expired",
        "reserved",
        "redeemed",
        "clawed_back",
        "settled",
        "available",
    )
    found = figures.of_programmes(programmes)
    problems = []
    for pid, shown in found.items():
        held = balances.get(pid, [0] * len(names))
        for name, column in zip(names, held, strict=True):
            if getattr(shown, f"{name}_fen") != column:
                problems.append(
                    f"programme {pid}: {name} is {getattr(shown, f'{name}_fen')} on its pages"
                    f" but its vouchers hold {column}"
                )
    for programme in programmes:
        shown = found[programme.id]
        back = shown.revoked_fen + shown.clawed_back_fen + shown.recovered_fen
        if programme.issued_fen != shown.issued_fen - back:
            problems.append(
                f"programme {programme.id}: {shown.left_to_issue_fen} left to issue on its pages"
                f" but its budget counter leaves {programme.budget_fen - programme.issued_fen}"
            )
    return problems
