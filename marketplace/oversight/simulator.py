"""Mode-switch simulator (issue 22): before an official changes a programme's mode or caps,
a projection from the programme's own orders, under the other mode and the proposed caps,
with the assumptions it rests on.

``project`` is a pure function over plain data (``LineFact`` …), tested against a case
computed by hand; ``facts`` reads a programme's orders for it (SQL, a few statements).

The figures, for the orders as placed and as projected:

- money: the price of the lines (package lines and integration fees), in fen;
- shares by the accountable party: the integrator that routed a line (its curated bundle),
  or the provider that delivers it where no integrator routed it; integration fees are the
  integrator's. HHI = Σ (share in per cent)², the largest share;
- price per module: money ÷ package lines;
- days to delivery: the providers' own mean days from order to go-live, weighted by the
  money each delivers (providers without a delivered line are left out);
- providers reached: providers delivering a package line.

Assumptions (``ASSUMPTIONS``, shown on the page):

- to open mode: the same modules are bought from the same providers at their list price,
  without integration fees; no integrator routes a line;
- to integrator mode: lines an integrator routed stay with it; every other order is routed,
  whole, by an appointed integrator in turn (orders by their number, integrators by name),
  at the integration fee rate the programme's routed orders paid (or the proposed fee cap,
  or none, when no order was routed);
- to hybrid mode: routed as in integrator mode; in each order the enterprise swaps every
  module a specialist admitted to the pool in its category delivers (not the routing
  integrator), at the price it paid, and keeps the rest with the integrator; the order's
  fee is then pro-rated by the programme's rule (``vouchers.models.prorated_fee``, as
  ``orders.bundles`` computes it: fee × kept ÷ whole, at least the floor
  ``hybrid_fee_floor_bp``) before a fee cap applies; the integrator still routes the
  swapped lines (checkout records it on them, and concentration counts it);
- an integration fee cap lowers each order's fee to the cap's share of the bundle;
- a provider cap: the share of a party above it is cut to the cap; in open mode its excess
  money goes, category by category, to the other admitted providers of the category below
  the cap, pro rata to their money there (equally when none has any), none beyond the cap;
  in integrator mode to the other appointed integrators the same way; what none can take
  would be refused, and is left out;
- prices and the modules an enterprise needs stay as they were ordered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import Package, PackageVersion
from marketplace.db import db
from marketplace.money import ratio_bp
from marketplace.orders.models import LineStatus, OrderLine
from marketplace.oversight.concentration import hhi
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.vouchers.models import (
    DEFAULT_HYBRID_FEE_FLOOR_BP,
    ProgrammeMode,
    Reservation,
    ReservationStatus,
    VoucherProgramme,
    prorated_fee,
)

OPEN = ProgrammeMode.OPEN.value
INTEGRATOR = ProgrammeMode.INTEGRATOR.value
HYBRID = ProgrammeMode.HYBRID.value
BP = 10_000
K = TypeVar("K", int, str)


@dataclass(frozen=True)
class LineFact:
    """One line of one of the programme's orders, as placed."""

    order_id: int
    provider_id: int  # who delivers it (the integrator, for an integration fee)
    amount_fen: int  # its price
    category: str | None = None  # None for an integration fee
    integrator_id: int | None = None  # the integrator that routed a package line
    is_integration: bool = False
    days_to_delivery: int | None = None  # order to go-live, when delivered


@dataclass(frozen=True)
class Scenario:
    mode: str  # OPEN, INTEGRATOR or HYBRID
    provider_cap_bp: int | None = None
    integration_fee_cap_bp: int | None = None
    hybrid_fee_floor_bp: int = DEFAULT_HYBRID_FEE_FLOOR_BP  # the programme's rule


@dataclass(frozen=True)
class Figures:
    money_fen: int
    fees_fen: int
    modules: int
    hhi: int
    largest_share_bp: int
    largest_party_id: int | None
    price_per_module_fen: int | None
    days_to_delivery: Decimal | None  # one decimal
    providers_reached: int
    left_out_fen: int = 0  # refused under a cap: no admitted provider to take it


@dataclass(frozen=True)
class Projection:
    current: Figures
    projected: Figures | None  # None: not possible (integrator mode without integrators)
    scenario: Scenario
    fee_rate_bp: int | None = None  # the integration fee rate assumed (to integrator mode)
    notes: list[str] = field(default_factory=list)  # keys of ``NOTES`` that applied


ASSUMPTIONS = {
    OPEN: _l(
        "In open mode the same modules are bought from the same providers at their list"
        " price, without integration fees; no integrator routes a line."
    ),
    INTEGRATOR: _l(
        "In integrator mode the lines an integrator routed stay with it; every other order"
        " is routed whole by an appointed integrator in turn, at the integration fee rate the"
        " programme's routed orders paid."
    ),
    HYBRID: _l(
        "In hybrid mode orders are routed as in integrator mode, and in each the enterprise"
        " swaps every module that a specialist admitted to the pool in its category delivers"
        " (at the price it paid) and keeps the rest with the integrator. The integration fee"
        " is then pro-rated as the programme's rule has it: the fee times the value kept over"
        " the value of the modules, at least the programme's floor of the fee, rounded down,"
        " before any fee cap. The integrator still routes the swapped lines and counts them"
        " in its share."
    ),
    "fee_cap": _l(
        "An integration fee cap lowers each order's fee to the cap's share of its bundle."
    ),
    "provider_cap": _l(
        "A provider cap cuts a share above it to the cap. In open mode the excess goes,"
        " category by category, to the other admitted providers of the category, pro rata"
        " to their money there (equally when none has any) and none beyond the cap; in"
        " integrator mode to the other appointed integrators. What none can take would be"
        " refused and is left out."
    ),
    "days": _l(
        "Days to delivery are each provider's own mean from order to go-live, weighted by"
        " the money it delivers; providers that have not delivered yet are left out."
    ),
    "prices": _l("Prices and the modules enterprises need stay as they were ordered."),
}
NOTES = {
    "no_integrators": _l(
        "The programme has no appointed integrator: integrator and hybrid modes cannot be"
        " projected."
    ),
    "no_fee_history": _l(
        "No order of the programme was routed by an integrator: the projection assumes the"
        " proposed integration fee cap as the fee rate, or no fee when there is none."
    ),
    "left_out": _l(
        "Some money has no other admitted provider below the cap to go to: those orders"
        " would be refused and their money is left out."
    ),
}


# --- the pure projection --------------------------------------------------------------------


def split(amount: int, weights: Mapping[K, int]) -> dict[K, int]:
    """``amount`` shared by ``weights`` in whole fen: each gets its share rounded down, the
    fen left over go one each to the largest remainders (ties: the smaller key). Equal
    shares when every weight is 0."""
    if not weights:
        return {}
    if not any(weights.values()):
        weights = dict.fromkeys(weights, 1)
    total = sum(weights.values())
    shares = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(shares.values())
    by_remainder = sorted(weights, key=lambda k: (-(amount * weights[k] % total), k))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares


@dataclass
class _Book:
    """Money by accountable party and by (delivering provider, category)."""

    party: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    delivered: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    fees: int = 0
    modules: int = 0
    left_out: int = 0


def _book(lines: Iterable[LineFact]) -> _Book:
    book = _Book()
    for line in lines:
        if line.is_integration:
            book.fees += line.amount_fen
            book.party[line.provider_id] += line.amount_fen
            continue
        book.modules += 1
        book.party[line.integrator_id or line.provider_id] += line.amount_fen
        book.delivered[line.provider_id, line.category or ""] += line.amount_fen
    return book


def _mean_days(lines: Iterable[LineFact]) -> dict[int, Decimal]:
    days: dict[int, list[int]] = defaultdict(list)
    for line in lines:
        if not line.is_integration and line.days_to_delivery is not None:
            days[line.provider_id].append(line.days_to_delivery)
    return {p: Decimal(sum(d)) / len(d) for p, d in days.items()}


def _figures(book: _Book, days: Mapping[int, Decimal]) -> Figures:
    parties = {p: m for p, m in book.party.items() if m > 0}
    total = sum(parties.values())
    shares = {p: ratio_bp(m, total) for p, m in parties.items()}
    largest = min(shares, key=lambda p: (-shares[p], p)) if shares else None
    delivered: dict[int, int] = defaultdict(int)
    for (provider, _category), money in book.delivered.items():
        delivered[provider] += money
    reached = {p for p, m in delivered.items() if m > 0}
    weighted = [(delivered[p], days[p]) for p in reached if p in days]
    weight = sum(m for m, _ in weighted)
    mean = None
    if weight:
        total_days = sum((m * d for m, d in weighted), Decimal(0))
        mean = (total_days / weight).quantize(Decimal("0.1"), ROUND_HALF_EVEN)
    return Figures(
        money_fen=total,
        fees_fen=book.fees,
        modules=book.modules,
        hhi=hhi(sum(s * s for s in shares.values())),
        largest_share_bp=shares[largest] if largest is not None else 0,
        largest_party_id=largest,
        price_per_module_fen=total // book.modules if book.modules else None,
        days_to_delivery=mean,
        providers_reached=len(reached),
        left_out_fen=book.left_out,
    )


def _capped_fee(fee: int, modules_fen: int, cap_bp: int | None) -> int:
    """The fee lowered to ``cap_bp`` of the bundle: fee ÷ (modules + fee) ≤ cap."""
    if cap_bp is None or cap_bp >= BP:
        return fee
    return min(fee, modules_fen * cap_bp // (BP - cap_bp))


def _to_mode(
    lines: Sequence[LineFact], scenario: Scenario, integrators: Sequence[int], fee_rate_bp: int
) -> list[LineFact]:
    """The lines as they would be ordered in the scenario's mode, with its fee cap."""
    if scenario.mode == OPEN:
        return [
            LineFact(
                line.order_id,
                line.provider_id,
                line.amount_fen,
                line.category,
                None,
                False,
                line.days_to_delivery,
            )
            for line in lines
            if not line.is_integration
        ]
    by_order: dict[int, list[LineFact]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    result: list[LineFact] = []
    turn = 0
    for order_id in sorted(by_order):
        order = by_order[order_id]
        packages = [line for line in order if not line.is_integration]
        modules_fen = sum(line.amount_fen for line in packages)
        routed = [line for line in order if line.is_integration or line.integrator_id]
        if routed:  # routed by an integrator already: as ordered, the fee within the cap
            for line in order:
                if line.is_integration:
                    fee = _capped_fee(line.amount_fen, modules_fen, scenario.integration_fee_cap_bp)
                    result.append(LineFact(order_id, line.provider_id, fee, None, None, True))
                else:
                    result.append(line)
            continue
        integrator = integrators[turn % len(integrators)]
        turn += 1
        for line in packages:
            result.append(
                LineFact(
                    order_id,
                    line.provider_id,
                    line.amount_fen,
                    line.category,
                    integrator,
                    False,
                    line.days_to_delivery,
                )
            )
        fee = _capped_fee(
            modules_fen * fee_rate_bp // BP, modules_fen, scenario.integration_fee_cap_bp
        )
        if fee:
            result.append(LineFact(order_id, integrator, fee, None, None, True))
    return result


def _swap_specialists(
    lines: Sequence[LineFact],
    floor_bp: int,
    fee_cap_bp: int | None,
    admitted: Mapping[str, set[int]],
) -> list[LineFact]:
    """Hybrid mode over lines routed as in integrator mode (fees not capped yet): in each
    order, the modules an admitted specialist delivers are swapped (the integrator keeps the
    others) and the fee is pro-rated by the programme's rule, then capped."""
    by_order: dict[int, list[LineFact]] = defaultdict(list)
    for line in lines:
        by_order[line.order_id].append(line)
    result: list[LineFact] = []
    for order_id in sorted(by_order):
        order = by_order[order_id]
        modules = [line for line in order if not line.is_integration]
        whole = sum(line.amount_fen for line in modules)
        swapped = sum(
            line.amount_fen
            for line in modules
            if line.integrator_id is not None
            and line.provider_id != line.integrator_id
            and line.provider_id in admitted.get(line.category or "", set())
        )
        for line in order:
            if line.is_integration:
                fee = prorated_fee(line.amount_fen, whole - swapped, whole, floor_bp)
                line = replace(line, amount_fen=_capped_fee(fee, whole, fee_cap_bp))
            result.append(line)
    return result


def _fill(amount: int, weights: dict[int, int], room: dict[int, int]) -> dict[int, int]:
    """``amount`` shared pro rata to ``weights`` (equally when all are 0), none above its
    ``room``: what one cannot take goes round the others again. Returns what each takes."""
    taken = dict.fromkeys(weights, 0)
    while amount > 0:
        open_ = {k: w for k, w in weights.items() if room[k] - taken[k] > 0}
        if not open_:
            break
        given = 0
        for k, share in split(amount, open_).items():
            share = min(share, room[k] - taken[k])
            taken[k] += share
            given += share
        if given == 0:
            break
        amount -= given
    return taken


def _apply_provider_cap(
    book: _Book,
    scenario: Scenario,
    admitted: Mapping[str, set[int]],
    integrators: Sequence[int],
) -> None:
    """Cut each party above the cap to it; its excess goes to parties below the cap (up to
    the cap), pro rata to their money; what none can take is left out (refused)."""
    cap = scenario.provider_cap_bp
    if cap is None:
        return
    total = sum(book.party.values())
    limit = total * cap // BP
    over = sorted(p for p, m in book.party.items() if m > limit)
    for party in over:
        excess = book.party[party] - limit
        book.party[party] = limit
        if scenario.mode != OPEN:  # integrator or hybrid mode: the integrators take it
            others = [i for i in integrators if i not in over]
            weights = {i: book.party.get(i, 0) for i in others}
            room = {i: limit - book.party.get(i, 0) for i in others}
            got = _fill(excess, weights, room)
            for i, amount in got.items():
                book.party[i] += amount
            book.left_out += excess - sum(got.values())
            continue
        mine = {c: m for (p, c), m in book.delivered.items() if p == party and m > 0}
        for code, taken in split(excess, mine).items():
            book.delivered[party, code] -= taken
            others = sorted(admitted.get(code, set()) - set(over))
            weights = {q: book.delivered.get((q, code), 0) for q in others}
            room = {q: limit - book.party.get(q, 0) for q in others}
            got = _fill(taken, weights, room)
            for q, amount in got.items():
                book.party[q] += amount
                book.delivered[q, code] += amount
            book.left_out += taken - sum(got.values())


def project(
    lines: Sequence[LineFact],
    scenario: Scenario,
    admitted: Mapping[str, set[int]] | None = None,
    integrators: Sequence[int] = (),
) -> Projection:
    """The programme's figures as ordered, and projected under ``scenario``: its mode (the
    other one, or the same to see caps alone) and its proposed caps. ``admitted`` is, per
    category, the providers admitted to the pool with a package in it; ``integrators`` the
    appointed integrators (in the order they take turns)."""
    admitted = admitted or {}
    days = _mean_days(lines)
    current = _figures(_book(lines), days)
    notes: list[str] = []
    routed_fees = sum(line.amount_fen for line in lines if line.is_integration)
    routed_modules = sum(
        line.amount_fen for line in lines if not line.is_integration and line.integrator_id
    )
    fee_rate: int | None = None
    if scenario.mode != OPEN:
        if not integrators and any(
            not line.is_integration and not line.integrator_id for line in lines
        ):
            return Projection(current, None, scenario, None, ["no_integrators"])
        if routed_modules:
            fee_rate = routed_fees * BP // routed_modules
        else:
            notes.append("no_fee_history")
            fee_rate = scenario.integration_fee_cap_bp or 0
    if scenario.mode == HYBRID:  # routed uncapped; the cap applies after pro-rating
        routed = _to_mode(
            lines, replace(scenario, integration_fee_cap_bp=None), integrators, fee_rate or 0
        )
        moved = _swap_specialists(
            routed, scenario.hybrid_fee_floor_bp, scenario.integration_fee_cap_bp, admitted
        )
    else:
        moved = _to_mode(lines, scenario, integrators, fee_rate or 0)
    book = _book(moved)
    _apply_provider_cap(book, scenario, admitted, integrators)
    if book.left_out:
        notes.append("left_out")
    return Projection(current, _figures(book, days), scenario, fee_rate, notes)


# --- the programme's own orders ---------------------------------------------------------------


def facts(programme: VoucherProgramme) -> list[LineFact]:
    """The lines of the orders the programme's vouchers pay for (reserved or spent), and the
    integration fees of those orders; rejected and cancelled lines left out. A line's routing
    integrator is the one checkout recorded on it (``OrderLine.integrator_id``)."""
    paid = (
        select(OrderLine.order_id)
        .join(Reservation, Reservation.order_line_id == OrderLine.id)
        .where(
            Reservation.programme_id == programme.id,
            Reservation.status.in_((ReservationStatus.RESERVED, ReservationStatus.REDEEMED)),
        )
        .distinct()
    )
    rows = db.session.execute(
        select(
            OrderLine.order_id,
            OrderLine.provider_id,
            OrderLine.committed_fen,
            OrderLine.category_code,
            OrderLine.integrator_id,
            OrderLine.kind,
            OrderLine.days_to_go_live,
        )
        .where(
            OrderLine.order_id.in_(paid),
            OrderLine.status.not_in((LineStatus.REJECTED, LineStatus.CANCELLED)),
        )
        .order_by(OrderLine.order_id, OrderLine.id)
    ).all()
    return [
        LineFact(
            order_id=order,
            provider_id=provider,
            amount_fen=int(amount),
            category=category,
            integrator_id=None if kind == "integration" else integrator,
            is_integration=kind == "integration",
            days_to_delivery=days,
        )
        for order, provider, amount, category, integrator, kind, days in rows
    ]


def admitted_by_category(programme: VoucherProgramme) -> dict[str, set[int]]:
    """Per category, the providers admitted to the programme's agency's pool with a published
    package in it (where excess money may go under a cap)."""
    rows = db.session.execute(
        select(PackageVersion.category_code, Package.provider_id)
        .join(Package, Package.published_version_id == PackageVersion.id)
        .join(PoolMembership, PoolMembership.provider_id == Package.provider_id)
        .where(
            PoolMembership.agency_id == programme.agency_id,
            PoolMembership.status == PoolStatus.ADMITTED,
        )
        .distinct()
    )
    found: dict[str, set[int]] = defaultdict(set)
    for category, provider in rows:
        found[category].add(provider)
    return found


def names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
        ).all()
    )
