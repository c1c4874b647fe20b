"""A programme's money figures, from the ledger: the one source for every page, chart, CSV,
the transparency page and the API.

Every figure is a sum of ledger entries (``VoucherEntry``), so it means the same wherever it
is shown: *issued* is every voucher ever issued (a revoked one included: it was issued, and
*revoked* says what went back to the budget), *redeemed* is every redemption (one later clawed
back included: *clawed back* says how much). What stands now (reserved, available, held, in
a settlement) follows from the same entries. ``vouchers check`` proves the entries agree with
the vouchers' balance columns, so no page needs those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select

from marketplace.db import db
from marketplace.vouchers.models import (
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
)


@dataclass(frozen=True)
class Figures:
    budget_fen: int
    issued_fen: int  # every voucher issued, at face value
    revoked_fen: int  # taken back unused: returned to the budget
    expired_fen: int  # left unspent at the redeem-by date
    reserved_fen: int  # set aside now by orders not yet accepted
    redeemed_fen: int  # spent at acceptance (验收), clawed-back redemptions included
    clawed_back_fen: int  # redemptions found not genuine: returned to the budget
    settled_fen: int  # paid out to providers
    recovered_fen: int  # settled, then clawed back and repaid by the provider: back in budget
    in_settlement_fen: int  # redeemed, in a settlement drawn up or approved, not yet paid
    held_fen: int  # redeemed, held for the review of a risk flag
    available_fen: int  # what holders may still spend
    integration_fen: int  # the part of redeemed money that paid integration fees
    vouchers: int
    holders: int

    @property
    def returned_fen(self) -> int:
        """What went back: revoked, expired or clawed back (the monthly page's last column)."""
        return self.revoked_fen + self.expired_fen + self.clawed_back_fen

    @property
    def left_to_issue_fen(self) -> int:
        """The budget not yet given out as vouchers: revoked vouchers give theirs back, and so
        does clawed-back money, once the agency holds it again (``risk.claw_back``)."""
        return (
            self.budget_fen
            - self.issued_fen
            + self.revoked_fen
            + self.clawed_back_fen
            + self.recovered_fen
        )

    @property
    def spent_fen(self) -> int:
        """Redeemed and not clawed back: what vouchers have paid for."""
        return self.redeemed_fen - self.clawed_back_fen


def _sum(*kinds: EntryKind) -> ColumnElement[int]:
    return func.coalesce(
        func.sum(case((VoucherEntry.kind.in_(kinds), VoucherEntry.amount_fen), else_=0)), 0
    )


def _redeemed(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """Redeemed money (not clawed back) of the reservations meeting ``condition``."""
    redeemed = (Reservation.status == ReservationStatus.REDEEMED) & condition
    return func.coalesce(func.sum(case((redeemed, Reservation.amount_fen), else_=0)), 0)


def of_programmes(programmes: Iterable[VoucherProgramme]) -> dict[int, Figures]:
    """Figures of each programme: three grouped queries, whatever the number of programmes."""
    budgets = {p.id: p.budget_fen for p in programmes}
    if not budgets:
        return {}
    ids = list(budgets)
    ledger = {
        pid: rest
        for pid, *rest in db.session.execute(
            select(
                Voucher.programme_id,
                _sum(EntryKind.ISSUE),
                _sum(EntryKind.REVOKE),
                _sum(EntryKind.EXPIRE),
                _sum(EntryKind.RESERVE),
                _sum(EntryKind.RELEASE),
                _sum(EntryKind.REDEEM),
                _sum(EntryKind.CLAWBACK),
                _sum(EntryKind.SETTLE),
            )
            .join(Voucher, Voucher.id == VoucherEntry.voucher_id)
            .where(Voucher.programme_id.in_(ids))
            .group_by(Voucher.programme_id)
        )
    }
    counts = {
        pid: (int(n), int(holders))
        for pid, n, holders in db.session.execute(
            select(
                Voucher.programme_id,
                func.count(Voucher.id),
                func.count(func.distinct(Voucher.enterprise_id)),
            )
            .where(Voucher.programme_id.in_(ids))
            .group_by(Voucher.programme_id)
        )
    }
    open_settlement = Reservation.settlement_id.in_(
        select(Settlement.id).where(
            Settlement.status.in_([SettlementStatus.DRAFT, SettlementStatus.APPROVED])
        )
    )
    recovered = select(RecoveryClaim.reservation_id).where(
        RecoveryClaim.status == RecoveryStatus.RECOVERED
    )
    now = {
        pid: rest
        for pid, *rest in db.session.execute(
            select(
                Reservation.programme_id,
                _redeemed(open_settlement),
                _redeemed(Reservation.held.is_(True)),
                _redeemed(Reservation.is_integration.is_(True)),
                _redeemed(Reservation.id.in_(recovered)),
            )
            .where(Reservation.programme_id.in_(ids))
            .group_by(Reservation.programme_id)
        )
    }
    found = {}
    for pid, budget in budgets.items():
        issued, revoked, expired, reserve, release, redeem, clawback, settle = (
            int(v) for v in ledger.get(pid, [0] * 8)
        )
        in_settlement, held, integration, recovered_fen = (int(v) for v in now.get(pid, [0] * 4))
        vouchers, holders = counts.get(pid, (0, 0))
        found[pid] = Figures(
            budget_fen=budget,
            issued_fen=issued,
            revoked_fen=revoked,
            expired_fen=expired,
            reserved_fen=reserve - release - redeem,
            redeemed_fen=redeem,
            clawed_back_fen=clawback,
            settled_fen=settle,
            recovered_fen=recovered_fen,
            in_settlement_fen=in_settlement,
            held_fen=held,
            available_fen=issued - reserve + release - expired - revoked,
            integration_fen=integration,
            vouchers=vouchers,
            holders=holders,
        )
    return found


def of(programme: VoucherProgramme) -> Figures:
    return of_programmes([programme])[programme.id]


def platform_totals() -> dict[str, int]:
    """Every programme's figures added up (the platform overview): issued, reserved,
    redeemed, held, in settlement and settled, each the sum of ``of_programmes``."""
    found = of_programmes(db.session.scalars(select(VoucherProgramme)))
    names = ("issued", "reserved", "redeemed", "held", "in_settlement", "settled")
    return {n: sum(getattr(f, f"{n}_fen") for f in found.values()) for n in names}
