"""Caps that hold (issue 22): one provider's share of a programme's voucher money, and the
integration fee's share of a curated bundle.

A provider's share is its part of the programme's voucher money reserved and spent, this
order included; it counts the money of the lines it delivers *and* of the lines it routed as
the integrator of a curated bundle ("某集成商占据80%市场份额" is routed money as much as
delivered money). An order that would take a party above the cap is refused with the reason,
or (as the programme sets) reserved but held for an official's decision (``cap_holds``).

Checked at reservation, serialised per programme: the programme's row is locked
(``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite a checkout's ``BEGIN IMMEDIATE`` already
holds the database's one write lock), so the shares read are those every earlier checkout
committed, and two checkouts racing at the limit cannot both pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Select, cast, func, select, union_all

from marketplace.accounts.models import Organisation
from marketplace.db import db, local_today
from marketplace.errors import DomainError
from marketplace.vouchers.models import (
    CapPolicy,
    Reservation,
    ReservationStatus,
    VoucherProgramme,
)

if TYPE_CHECKING:
    from marketplace.vouchers.spending import LineSubsidy

IN_USE = (ReservationStatus.RESERVED, ReservationStatus.REDEEMED)


def percent(bp: int) -> str:
    """A share in basis points as the pages write it: 30 %, 27.5 %."""
    return f"{bp / 100:.2f}".rstrip("0").rstrip(".") + "%"


@dataclass(frozen=True)
class PartyShare:
    """One provider's voucher money under a programme: what it delivers and what it routed
    as an integrator (lines it did not deliver itself)."""

    provider_id: int
    name: str
    money_fen: int
    share_bp: int  # of the programme's money in use, rounded down


# Which integrator routed an order line is a fact of the line (``OrderLine.integrator_id``,
# written at checkout). Orders sit above vouchers: the app factory connects here the statement
# that gives (``order_line_id``, ``integrator_id``) of the routed lines
# (``orders.services.routed_lines``). Nothing connected: no money counts as routed.
RoutedLines = Callable[[], Select[int, int | None]]
_routed_lines: list[RoutedLines] = []


def routed_lines_from(source: RoutedLines) -> None:
    _routed_lines[:] = [source]


def _party_money(programme_ids: Iterable[int]) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """(programme, party) → money delivered or routed, and programme → money in use, from
    the reservations reserved or spent. Two statements however many reservations."""
    ids = list(programme_ids)
    in_use = (Reservation.programme_id.in_(ids), Reservation.status.in_(IN_USE))
    delivered = select(
        Reservation.programme_id.label("programme_id"),
        Reservation.provider_id.label("party"),
        Reservation.amount_fen.label("amount"),
    ).where(*in_use)
    parts = [delivered]
    if _routed_lines:
        lines = _routed_lines[0]().subquery()
        routed = (
            select(Reservation.programme_id, lines.c.integrator_id, Reservation.amount_fen)
            .join(lines, lines.c.order_line_id == Reservation.order_line_id)
            .where(*in_use, lines.c.integrator_id != Reservation.provider_id)
        )
        parts.append(routed)
    both = union_all(*parts).subquery()
    parties: dict[tuple[int, int], int] = {}
    for programme_id, party, money in db.session.execute(
        select(
            both.c.programme_id, both.c.party, cast(func.sum(both.c.amount), BigInteger)
        ).group_by(both.c.programme_id, both.c.party)
    ):
        parties[programme_id, party] = int(money)
    totals = {
        pid: int(total)
        for pid, total in db.session.execute(
            select(Reservation.programme_id, cast(func.sum(Reservation.amount_fen), BigInteger))
            .where(*in_use)
            .group_by(Reservation.programme_id)
        )
    }
    return parties, totals


def current_shares(programme: VoucherProgramme, limit: int = 10) -> list[PartyShare]:
    """The largest parties' shares of the programme's voucher money now (for the caps form:
    a cap below a share applies to new orders only, and the form says whose)."""
    parties, totals = _party_money([programme.id])
    total = totals.get(programme.id, 0)
    if not total:
        return []
    top = sorted(
        ((money, party) for (_, party), money in parties.items()), key=lambda m: (-m[0], m[1])
    )[:limit]
    names = dict(
        db.session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_([party for _, party in top])
            )
        ).all()
    )
    return [PartyShare(party, names[party], money, money * 10_000 // total) for money, party in top]


@dataclass(frozen=True)
class Over:
    """A line this order would pay under a programme whose cap one of its parties exceeds."""

    programme: VoucherProgramme
    provider_id: int  # the party over the cap
    share_bp: int  # its share with this order
    cap_bp: int


def _lock(programmes: Sequence[VoucherProgramme]) -> None:
    """Serialise the checkouts of these programmes (in id order: no two checkouts wait on
    each other). PostgreSQL locks the rows; SQLite ignores FOR UPDATE, and there the
    checkout's transaction already holds the write lock."""
    ids = sorted(p.id for p in programmes)
    if ids:
        db.session.execute(
            select(VoucherProgramme.id)
            .where(VoucherProgramme.id.in_(ids))
            .order_by(VoucherProgramme.id)
            .with_for_update()
        ).all()


def _names(ids: Iterable[int]) -> dict[int, str]:
    return dict(
        db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(list(ids)))
        ).all()
    )


def _fee_cap(programme: VoucherProgramme, integrator_id: int | None) -> int | None:
    """The lower of the programme's integration fee cap and the one the integrator's current
    appointment in it set (appointments in the open record a fee cap each); None: no cap."""
    today = local_today()
    found = [
        a.integration_fee_cap_bp
        for a in programme.appointments
        if a.integrator_id == integrator_id and a.current(today)
    ]
    if programme.integration_fee_cap_bp is not None:
        found.append(programme.integration_fee_cap_bp)
    return min(found, default=None)


def _check_integration_fees(subsidies: Sequence[LineSubsidy]) -> None:
    """A curated bundle whose integration fee is above a paying programme's cap of the
    bundle (fee ÷ (modules + fee)), or above the cap of the integrator's appointment in it,
    is refused."""
    for fee_line in subsidies:
        claim = fee_line.claim
        if not claim.is_integration:
            continue
        members = [
            s
            for s in subsidies
            if not s.claim.is_integration and s.claim.integrator_id == claim.integrator_id
        ]
        bundle_fen = claim.amount_fen + sum(s.claim.amount_fen for s in members)
        paying = {s.programme.id: s.programme for s in [fee_line, *members] if s.programme}
        for programme in sorted(paying.values(), key=lambda p: p.id):
            cap = _fee_cap(programme, claim.integrator_id)
            if cap is not None and claim.amount_fen * 10_000 > cap * bundle_fen:
                raise DomainError(
                    _l(
                        "The integration fee is %(share)s of this bundle, above the %(cap)s"
                        " that %(programme)s allows: its vouchers cannot pay for this bundle."
                        " Order the packages without the integrator's bundle, or without"
                        " vouchers.",
                        share=percent(claim.amount_fen * 10_000 // bundle_fen),
                        cap=percent(cap),
                        programme=programme.name,
                    )
                )


def enforce(subsidies: Sequence[LineSubsidy]) -> dict[int, Over]:
    """Check the caps of the programmes paying these lines, before their money is reserved.

    Refuses (a ``DomainError`` with the reason) a bundle above an integration fee cap, and an
    order that would take a party above a programme's share cap when the programme refuses
    such orders; returns the lines to hold (``claim.key`` → ``Over``) when it holds them."""
    paying = {s.programme.id: s.programme for s in subsidies if s.programme and s.subsidy_fen}
    _check_integration_fees(subsidies)
    capped = [p for p in paying.values() if p.provider_cap_bp is not None]
    if not capped:
        return {}
    _lock(capped)
    parties, totals = _party_money(p.id for p in capped)
    added: dict[tuple[int, int], int] = defaultdict(int)
    added_total: dict[int, int] = defaultdict(int)
    for line in subsidies:
        if line.programme is None or line.programme.provider_cap_bp is None:
            continue
        pid = line.programme.id
        added_total[pid] += line.subsidy_fen
        for party in _parties(line):
            added[pid, party] += line.subsidy_fen
    over: dict[tuple[int, int], int] = {}  # (programme, party) → share with this order
    for (pid, party), amount in added.items():
        programme = paying[pid]
        cap = programme.provider_cap_bp
        assert cap is not None
        total = totals.get(pid, 0) + added_total[pid]
        if total < programme.cap_from_fen:
            continue
        money = parties.get((pid, party), 0) + amount
        if money * 10_000 > cap * total:
            over[pid, party] = money * 10_000 // total
    if not over:
        return {}
    names = _names(party for _, party in over)
    for (pid, party), share in sorted(over.items()):
        programme = paying[pid]
        if programme.cap_policy is CapPolicy.REFUSE:
            raise DomainError(
                _l(
                    "With this order %(provider)s would hold %(share)s of the voucher money of"
                    " %(programme)s, above its cap of %(cap)s per provider: the programme's"
                    " vouchers cannot pay for it. Choose another provider's package, or order"
                    " without vouchers.",
                    provider=names.get(party, str(party)),
                    share=percent(share),
                    programme=programme.name,
                    cap=percent(programme.provider_cap_bp or 0),
                )
            )
    held: dict[int, Over] = {}
    for line in subsidies:
        if line.programme is None or not line.subsidy_fen:
            continue
        pid = line.programme.id
        for party in _parties(line):
            if (pid, party) in over:
                cap = line.programme.provider_cap_bp or 0
                held[line.claim.key] = Over(line.programme, party, over[pid, party], cap)
                break
    return held


def _parties(line: LineSubsidy) -> set[int]:
    parties = {line.claim.provider_id}
    if line.claim.integrator_id is not None:
        parties.add(line.claim.integrator_id)
    return parties
