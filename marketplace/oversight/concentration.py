"""Market concentration (防垄断): each provider's share of a programme's redeemed voucher
money and of its orders, per category and overall, the HHI, and the alerts they raise.

HHI = Σ (share in per cent)²: 10,000 when one provider has everything; above 2,500 a market
is highly concentrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Organisation
from marketplace.catalog import freshness
from marketplace.db import add_unique, db, utcnow
from marketplace.errors import DomainError
from marketplace.money import ratio_bp
from marketplace.orders.models import OrderLine
from marketplace.oversight.models import (
    HHI_LIMIT,
    ConcentrationAlert,
    ConcentrationReading,
    ReadingEvent,
)
from marketplace.security import Actor
from marketplace.vouchers.models import (
    ProgrammeStatus,
    Reservation,
    ReservationStatus,
    VoucherProgramme,
)

ALL = "all"
INTEGRATION = "integration"
# The page lists the largest providers of each market and sums up the rest: a pool of a
# thousand providers would otherwise print a thousand rows per category.
SHOWN_PER_MARKET = 15
MAX_RANK = 2**31 - 1  # after any share: where a market's own row comes


class ProviderName(NamedTuple):
    id: int
    name: str


@dataclass(slots=True)
class Share:
    provider: ProviderName
    value_fen: int
    orders: int
    value_bp: int = 0  # share of the category's redeemed value, in basis points
    orders_bp: int = 0


class Rest(NamedTuple):
    """The shares after the largest SHOWN_PER_MARKET, summed up."""

    providers: int
    value_fen: int
    orders: int
    value_bp: int
    orders_bp: int


def hhi(squares: int) -> int:
    """The HHI from the sum of the squared shares in basis points: Σ (share in per cent)² is
    that sum / 10,000, rounded to the nearest whole number, a half to the even one (as
    ``round`` does). Exact integers: no float can land a half on the wrong side."""
    whole, part = divmod(squares, 10_000)
    return whole + (part > 5_000 or (part == 5_000 and whole % 2 == 1))


@dataclass
class Market:
    """One market's shares, largest first (ties by provider id), with its totals, HHI and
    the summed-up rest. ``markets`` has the database compute them; ``of`` is the same
    definition in Python over shares at hand (the tests hold the two to each other)."""

    category: str  # a category code, INTEGRATION or ALL
    shares: list[Share]  # every share, or the largest listed when ``rest`` sums up the others
    value_fen: int = 0
    orders: int = 0
    hhi_value: int = 0
    hhi_orders: int = 0
    rest: Rest | None = None

    @classmethod
    def of(cls, category: str, shares: list[Share]) -> Market:
        value = sum(s.value_fen for s in shares)
        orders = sum(s.orders for s in shares)
        for share in shares:
            share.value_bp = ratio_bp(share.value_fen, value)
            share.orders_bp = ratio_bp(share.orders, orders)
        shares.sort(key=lambda s: (-s.value_fen, s.provider.id))
        others = shares[SHOWN_PER_MARKET:]
        rest = None
        if others:
            rest = Rest(
                len(others),
                sum(s.value_fen for s in others),
                sum(s.orders for s in others),
                sum(s.value_bp for s in others),
                sum(s.orders_bp for s in others),
            )
        return cls(
            category,
            shares,
            value,
            orders,
            hhi(sum(s.value_bp**2 for s in shares)),
            hhi(sum(s.orders_bp**2 for s in shares)),
            rest,
        )

    @property
    def shown(self) -> list[Share]:
        return self.shares[:SHOWN_PER_MARKET]


def _int(value: Any) -> Any:
    """A whole number on both databases (PostgreSQL sums a BIGINT to a NUMERIC)."""
    return cast(value, BigInteger)


def hhi_sql(squares: Any) -> Any:
    """``hhi`` in SQL."""
    whole, part = squares // 10_000, squares % 10_000
    up = or_(part > 5_000, and_(part == 5_000, whole % 2 == 1))
    return whole + case((up, 1), else_=0)


def markets(programme: VoucherProgramme, shown: int | None = SHOWN_PER_MARKET) -> list[Market]:
    """The programme's markets (``computed_markets``), the page's and /transparency's kept per
    process while the programme's redeemed money and the providers' names stay as they are
    (their freshness stamps): computing them reads every redemption of the programme, which
    changes far less often than officials look. Every share (``shown=None``, the daily
    check's) is computed each time, not kept: thousands of rows a programme. The objects are
    shared between requests: read them, never change them."""
    if shown is None or shown > SHOWN_PER_MARKET:
        return computed_markets(programme, shown)
    return freshness.cached(
        "concentration.markets",
        (programme.id, shown),
        lambda: computed_markets(programme, shown),
        depends_on=_read_by_markets(programme),
    )


def _read_by_markets(programme: VoucherProgramme) -> tuple[str, ...]:
    """What the markets are computed from: the programme's redeemed reservations and their
    lines (whose category and routing integrator are fixed at checkout), and the providers'
    names."""
    return (freshness.money(programme.id), freshness.PROVIDERS)


def computed_markets(
    programme: VoucherProgramme, shown: int | None = SHOWN_PER_MARKET
) -> list[Market]:
    """The programme's markets (each category, INTEGRATION and ALL), ready for the page and
    computed by the database in one statement: redeemed voucher money and voucher-paid order
    lines by market and provider, each share in basis points (rounded down, as ``ratio_bp``),
    its rank (largest first, ties by provider id), the market's totals and HHI, the largest
    ``shown`` shares with their providers' names and one summed-up rest per market. With
    ``shown=None`` every share and no rest (what the daily check needs); with 0 only the
    totals and HHI. Categories in order, ALL last; the same figures as ``Market.of``."""
    # the category the line was ordered in (checkout copies the version's), as the statistics
    category = func.coalesce(OrderLine.category_code, INTEGRATION)
    per_category = (
        select(
            category.label("market"),
            Reservation.provider_id.label("provider_id"),
            _int(func.sum(Reservation.amount_fen)).label("value_fen"),
            _int(func.count(func.distinct(Reservation.order_line_id))).label("orders"),
        )
        .join(OrderLine, OrderLine.id == Reservation.order_line_id)
        .where(
            Reservation.programme_id == programme.id,
            Reservation.status == ReservationStatus.REDEEMED,
        )
        .group_by(category, Reservation.provider_id)
        .cte("per_category")
    )
    # A line has one category, so a provider's lines of all categories are the sum.
    by_market = union_all(
        select(per_category),
        select(
            literal(ALL, String).label("market"),
            per_category.c.provider_id,
            _int(func.sum(per_category.c.value_fen)),
            _int(func.sum(per_category.c.orders)),
        ).group_by(per_category.c.provider_id),
    ).cte("by_market")
    m = by_market.c
    value_total = _int(func.sum(m.value_fen).over(partition_by=m.market))
    orders_total = _int(func.sum(m.orders).over(partition_by=m.market))
    ranked = select(
        m.market,
        m.provider_id,
        m.value_fen,
        m.orders,
        (m.value_fen * 10_000 // value_total).label("value_bp"),
        (m.orders * 10_000 // orders_total).label("orders_bp"),
        value_total.label("market_value_fen"),
        orders_total.label("market_orders"),
        func.row_number()
        .over(partition_by=m.market, order_by=(m.value_fen.desc(), m.provider_id))
        .label("rank"),
    ).cte("ranked")
    r = ranked.c
    # the name by its key for each row listed (a join would make PostgreSQL hash every
    # organisation first)
    name = select(Organisation.name).where(Organisation.id == r.provider_id).scalar_subquery()
    listed = select(
        r.market, r.rank, r.provider_id, name, r.value_fen, r.orders, r.value_bp, r.orders_bp
    )
    # then one row per market: its totals and HHI, and the sum of the shares not listed
    beyond = r.rank > shown if shown is not None else false()

    def rest(column: Any) -> Any:
        return _int(func.sum(case((beyond, column))))

    per_market = select(
        r.market,
        literal(MAX_RANK),
        literal(None, Integer),
        literal(None, String),
        rest(r.value_fen),
        rest(r.orders),
        rest(r.value_bp),
        rest(r.orders_bp),
        _int(func.count(case((beyond, 1)))),
        _int(func.max(r.market_value_fen)),
        _int(func.max(r.market_orders)),
        hhi_sql(_int(func.sum(r.value_bp * r.value_bp))),
        hhi_sql(_int(func.sum(r.orders_bp * r.orders_bp))),
    ).group_by(r.market)
    if shown is not None:
        listed = listed.where(r.rank <= shown)
    stmt = union_all(listed.add_columns(*[literal(None, Integer)] * 5), per_market)
    found: dict[str, Market] = {}  # a market's listed shares come largest first, then its row
    # a Core result: for the check's thousands of shares the ORM would add 5 µs a row
    for row in db.session.connection().execute(stmt.order_by(literal_column("rank"))):
        code, rank, provider_id, provider, value, orders, value_bp, orders_bp = row[:8]
        found.setdefault(code, Market(code, []))
        if rank != MAX_RANK:
            found[code].shares.append(
                Share(
                    ProviderName(provider_id, provider),
                    int(value),
                    int(orders),
                    int(value_bp),
                    int(orders_bp),
                )
            )
            continue
        n, total_fen, total_orders, hhi_value, hhi_orders = (int(x) for x in row[8:])
        found[code].value_fen, found[code].orders = total_fen, total_orders
        found[code].hhi_value, found[code].hhi_orders = hhi_value, hhi_orders
        if n:
            found[code].rest = Rest(n, int(value), int(orders), int(value_bp), int(orders_bp))
    return [found[code] for code in sorted(found, key=lambda c: (c == ALL, c))]


@dataclass(frozen=True)
class Routing:
    """An integrator's part of a programme's redeemed voucher money: the lines its curated
    bundles routed (delivered by others, or by itself), what it delivered itself, and the
    two together, which is what its hold on the market is (issue 22)."""

    provider: ProviderName
    routed_fen: int  # lines it routed, whoever delivered them (its fees included)
    routed_lines: int
    delivered_fen: int  # everything it delivered itself, routed or not
    combined_fen: int  # delivered itself or routed by it
    combined_bp: int  # share of the programme's redeemed money


def by_routing_integrator(programme: VoucherProgramme) -> list[Routing]:
    """``computed_routing``, kept per process as ``markets`` is."""
    return freshness.cached(
        "concentration.routing",
        (programme.id,),
        lambda: computed_routing(programme),
        depends_on=_read_by_markets(programme),
    )


def computed_routing(programme: VoucherProgramme) -> list[Routing]:
    """The concentration counting the integrator that routed a line as well as the provider
    that delivered it: for each integrator that routed a redeemed line, computed by the
    database in one statement; largest combined share first."""
    redeemed = (
        Reservation.programme_id == programme.id,
        Reservation.status == ReservationStatus.REDEEMED,
    )
    routed_by = OrderLine.integrator_id  # the line's routing integrator, set at checkout
    integrators = (
        select(routed_by.label("integrator_id"))
        .select_from(Reservation)
        .join(OrderLine, OrderLine.id == Reservation.order_line_id)
        .where(*redeemed, routed_by.is_not(None))
        .distinct()
        .cte("i")
    )
    total = (
        select(_int(func.coalesce(func.sum(Reservation.amount_fen), 0)))
        .where(*redeemed)
        .scalar_subquery()
    )
    party = integrators.c.integrator_id
    mine = or_(routed_by == party, Reservation.provider_id == party)

    def sum_when(condition: Any) -> Any:
        return _int(func.coalesce(func.sum(case((condition, Reservation.amount_fen))), 0))

    combined = sum_when(mine)
    stmt = (
        select(
            party,
            select(Organisation.name).where(Organisation.id == party).scalar_subquery(),
            sum_when(routed_by == party),
            _int(func.count(func.distinct(case((routed_by == party, OrderLine.id))))),
            sum_when(Reservation.provider_id == party),
            combined,
            total,
        )
        .select_from(integrators)
        .join(Reservation, and_(*redeemed))
        .join(OrderLine, and_(OrderLine.id == Reservation.order_line_id, mine))
        .group_by(party)
        .order_by(combined.desc(), party)
    )
    found = []
    for pid, name, routed, lines, delivered, both, whole in db.session.execute(stmt):
        found.append(
            Routing(
                ProviderName(pid, name),
                int(routed),
                int(lines),
                int(delivered),
                int(both),
                ratio_bp(int(both), int(whole)),
            )
        )
    return found


def breaches(
    programme: VoucherProgramme, found: list[Market], min_orders: int = 5
) -> dict[tuple, tuple[int, int]]:
    """(category, measure, kind, provider) → (value, threshold) for each limit crossed now,
    in markets of at least ``min_orders`` order lines (``CONCENTRATION_MIN_ORDERS``)."""
    limit = programme.concentration_threshold_bp
    crossed: dict[tuple, tuple[int, int]] = {}
    for market in found:
        if market.orders < min_orders:
            continue
        for share in market.shares:
            if share.value_bp > limit:
                crossed[(market.category, "value", "share", share.provider.id)] = (
                    share.value_bp,
                    limit,
                )
            if share.orders_bp > limit:
                crossed[(market.category, "orders", "share", share.provider.id)] = (
                    share.orders_bp,
                    limit,
                )
        if market.hhi_value > HHI_LIMIT:
            crossed[(market.category, "value", "hhi", 0)] = (market.hhi_value, HHI_LIMIT)
        if market.hhi_orders > HHI_LIMIT:
            crossed[(market.category, "orders", "hhi", 0)] = (market.hhi_orders, HHI_LIMIT)
    return crossed


def figures(programme: VoucherProgramme, found: list[Market]) -> dict[tuple, tuple[int, int]]:
    """(category, measure, kind, provider) → (value, threshold) for every share and HHI of
    the markets, crossed or not: what an alert clearing now is left at."""
    limit = programme.concentration_threshold_bp
    now: dict[tuple, tuple[int, int]] = {}
    for market in found:
        for share in market.shares:
            now[(market.category, "value", "share", share.provider.id)] = (share.value_bp, limit)
            now[(market.category, "orders", "share", share.provider.id)] = (share.orders_bp, limit)
        now[(market.category, "value", "hhi", 0)] = (market.hhi_value, HHI_LIMIT)
        now[(market.category, "orders", "hhi", 0)] = (market.hhi_orders, HHI_LIMIT)
    return now


def _set_figure(alert: ConcentrationAlert, event: ReadingEvent, value: int, threshold: int) -> bool:
    """Write today's figure and limit on an open alert (and clear it, for CLEARED), with a
    reading as history. False when another check closed the alert first."""
    changes: dict[str, object] = {"value": value, "threshold": threshold}
    if event is ReadingEvent.CLEARED:
        changes["cleared_at"] = utcnow()
    result = db.session.execute(
        update(ConcentrationAlert)
        .where(ConcentrationAlert.id == alert.id, ConcentrationAlert.cleared_at.is_(None))
        .values(**changes)
        .execution_options(synchronize_session="evaluate")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.session.add(
        ConcentrationReading(alert_id=alert.id, event=event, value=value, threshold=threshold)
    )
    return True


def scan(programme: VoucherProgramme, actor: Actor) -> tuple[int, int]:
    """Open an alert for each limit newly crossed, bring each open alert to today's figure
    and limit, clear those no longer crossed; every change is a reading, so the history
    stays. Returns (raised, cleared). Run daily, by an official's button, and after the
    threshold is changed."""
    found = markets(programme, shown=None)
    crossed = breaches(programme, found, current_app.config["CONCENTRATION_MIN_ORDERS"])
    open_alerts = {
        (a.category, a.measure, a.kind, a.provider_id): a
        for a in db.session.scalars(
            select(ConcentrationAlert).where(
                ConcentrationAlert.programme_id == programme.id,
                ConcentrationAlert.cleared_at.is_(None),
            )
        )
    }
    raised = cleared = 0
    for key, (value, threshold) in crossed.items():
        category, measure, kind, provider_id = key
        alert = open_alerts.get(key)
        if alert is None:
            alert = ConcentrationAlert(
                programme_id=programme.id,
                category=category,
                measure=measure,
                kind=kind,
                provider_id=provider_id,
                value=value,
                threshold=threshold,
            )
            if not add_unique(alert):  # a check running at the same moment raised it
                continue
            db.session.add(
                ConcentrationReading(
                    alert_id=alert.id, event=ReadingEvent.RAISED, value=value, threshold=threshold
                )
            )
            audit.record(
                actor,
                "concentration.alert_raised",
                "programme",
                programme.id,
                alert_id=alert.id,
                category=category,
                measure=measure,
                kind=kind,
                provider_id=provider_id,
                value=value,
                threshold=threshold,
            )
            raised += 1
        elif (alert.value, alert.threshold) != (value, threshold):
            before = (alert.value, alert.threshold)
            if _set_figure(alert, ReadingEvent.CHANGED, value, threshold):
                audit.record(
                    actor,
                    "concentration.alert_changed",
                    "programme",
                    programme.id,
                    alert_id=alert.id,
                    before={"value": before[0], "threshold": before[1]},
                    after={"value": value, "threshold": threshold},
                )
    now = figures(programme, found)
    for key, alert in open_alerts.items():
        if key in crossed:
            continue
        # the figure today (0: the provider or the market has gone), and today's limit
        value, threshold = now.get(
            key, (0, HHI_LIMIT if alert.kind == "hhi" else programme.concentration_threshold_bp)
        )
        if _set_figure(alert, ReadingEvent.CLEARED, value, threshold):
            audit.record(
                actor,
                "concentration.alert_cleared",
                "programme",
                programme.id,
                alert_id=alert.id,
                value=value,
                threshold=threshold,
            )
            cleared += 1
    db.session.flush()
    return raised, cleared


def alerts(programme: VoucherProgramme) -> list[ConcentrationAlert]:
    """The programme's alerts, open ones first, with their readings (one more query)."""
    stmt = (
        select(ConcentrationAlert)
        .where(ConcentrationAlert.programme_id == programme.id)
        .options(selectinload(ConcentrationAlert.readings))
        .order_by(ConcentrationAlert.cleared_at.is_not(None), ConcentrationAlert.id.desc())
        .limit(100)
    )
    return list(db.session.scalars(stmt))


def set_threshold(programme: VoucherProgramme, threshold_bp: int, actor: Actor) -> None:
    """Change the share an alert is raised at. The caller then runs ``scan``, which brings
    the open alerts to the new limit (and clears those now under it)."""
    if not 1 <= threshold_bp <= 10_000:
        raise DomainError(_l("Enter a share from 0.01 to 100."), field="threshold")
    before = programme.concentration_threshold_bp
    programme.concentration_threshold_bp = threshold_bp
    db.session.flush()
    audit.record(
        actor,
        "programme.concentration_threshold",
        "programme",
        programme.id,
        before=before,
        after=threshold_bp,
    )


def active_alerts(agency_id: int) -> int:
    stmt = (
        select(func.count(ConcentrationAlert.id))
        .join(VoucherProgramme, VoucherProgramme.id == ConcentrationAlert.programme_id)
        .where(VoucherProgramme.agency_id == agency_id, ConcentrationAlert.cleared_at.is_(None))
    )
    return int(db.session.scalar(stmt) or 0)


def open_alerts(agency_id: int) -> list[tuple[ConcentrationAlert, str, str | None]]:
    """The agency's open alerts with the programme's and the provider's names."""
    stmt = (
        select(ConcentrationAlert, VoucherProgramme.name, Organisation.name)
        .join(VoucherProgramme, VoucherProgramme.id == ConcentrationAlert.programme_id)
        .outerjoin(Organisation, Organisation.id == ConcentrationAlert.provider_id)
        .where(VoucherProgramme.agency_id == agency_id, ConcentrationAlert.cleared_at.is_(None))
        .order_by(ConcentrationAlert.raised_at.desc())
        .limit(20)
    )
    return [(a, p, o) for a, p, o in db.session.execute(stmt)]


def watched_programmes() -> list[int]:
    """Programmes whose markets are watched (every one opened at least once; the scan job's
    items)."""
    stmt = select(VoucherProgramme.id).where(VoucherProgramme.status != ProgrammeStatus.DRAFT)
    return list(db.session.scalars(stmt.order_by(VoucherProgramme.id)))


def scan_programme(programme_id: int, actor: Actor) -> tuple[int, int]:
    """``scan`` one programme by its id (a job's item)."""
    programme = db.session.get(VoucherProgramme, programme_id)
    return (0, 0) if programme is None else scan(programme, actor)
