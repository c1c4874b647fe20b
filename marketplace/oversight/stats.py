"""The officials' statistics: per programme or over the whole agency, filtered by period,
industry, region and category. Every figure is a grouped SQL query over the order lines in
scope; Python only shapes the few rows that come back (medians come from a histogram of
whole days, so the database never ships one row per line).

Scope: for a programme, the lines its vouchers paid for (at least in part); for the agency as a
whole, the lines of providers in its pool (admitted, suspended or exited) and the lines its
vouchers paid for.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, ColumnElement, Select, bindparam, case, cast, func, select
from sqlalchemy.orm import aliased

from marketplace import csvfile
from marketplace.accounts.models import Organisation
from marketplace.db import LOCAL_ZONE, db
from marketplace.diagnosis.models import Diagnosis
from marketplace.orders.models import (
    LineStatus,
    OrderLine,
    Ticket,
)
from marketplace.outcomes.models import ContractStatus, OutcomeContract
from marketplace.oversight.dashboard import month_of
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.shared_cache import SharedCache
from marketplace.vouchers import figures
from marketplace.vouchers.models import (
    EntryKind,
    Reservation,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
)

INTEGRATION = "integration"
OVERSEEN = (PoolStatus.ADMITTED, PoolStatus.SUSPENDED, PoolStatus.EXITED)


@dataclass(frozen=True)
class Filters:
    programme_id: int | None = None
    since: date | None = None
    until: date | None = None
    industry: str | None = None
    region: str | None = None  # a region code; a city's code takes in its districts
    category: str | None = None  # a category code, or "integration"


@dataclass
class Table:
    """One section's figures: the chart is drawn from it and the CSV is it."""

    key: str
    columns: list[str]  # CSV column names
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_ZONE)


def _programmes(agency: Organisation, f: Filters) -> Select[Any]:
    stmt = select(VoucherProgramme.id).where(VoucherProgramme.agency_id == agency.id)
    if f.programme_id is not None:
        stmt = stmt.where(VoucherProgramme.id == f.programme_id)
    return stmt


def overseen(agency: Organisation) -> list[int]:
    """The providers of the agency's pool (admitted, suspended or exited), read once for a
    page's statements (``Pool``)."""
    return list(db.session.scalars(_pool(agency).order_by(PoolMembership.provider_id)))


def _pool(agency: Organisation) -> Select[Any]:
    return select(PoolMembership.provider_id).where(
        PoolMembership.agency_id == agency.id, PoolMembership.status.in_(OVERSEEN)
    )


# The pool's providers as read by ``overseen``, or None: each statement selects them itself.
Pool = Sequence[int] | None


def line_conditions(
    agency: Organisation, f: Filters, pool: Pool = None
) -> list[ColumnElement[bool]]:
    """What picks the order lines the figures are about, as conditions on ``order_lines``
    alone (its provider, its copied category, its time); no subquery of 200,000 ids."""
    if f.programme_id is not None:
        paid = select(Reservation.order_line_id).where(
            Reservation.programme_id.in_(_programmes(agency, f))
        )
        conditions: list[ColumnElement[bool]] = [OrderLine.id.in_(paid)]
    else:
        # Vouchers pay only providers admitted to the agency's pool (open mode) or integrators
        # it appointed, who must be admitted too: the pool's lines include every paid one.
        conditions = [_provider_column().in_(_pool(agency) if pool is None else _listed(pool))]
    if f.since is not None:
        conditions.append(OrderLine.created_at >= _instant(f.since))
    if f.until is not None:
        conditions.append(OrderLine.created_at < _instant(f.until + timedelta(days=1)))
    if f.category == INTEGRATION:
        conditions.append(OrderLine.kind == INTEGRATION)
    elif f.category:
        conditions.append(OrderLine.category_code == f.category)
    return conditions


def _listed(pool: Sequence[int]) -> Any:
    """The pool's providers written into the statement as numbers: PostgreSQL hashes a list
    of constants and checks each line against it where it reads the line, in the index's
    order, instead of hash-joining the pool's subquery to every line (200,000 lines, a pool
    of 1,000: enterprises served 71 → 28 ms of server CPU, then grouped in index order; the
    lines by category 102 → 84 ms). Integers from the database, written by SQLAlchemy."""
    return bindparam("pool", list(pool), expanding=True, literal_execute=True)


def _provider_column() -> Any:
    """The line's provider; on SQLite as ``provider_id + 0``, which keeps its planner from
    walking the provider index row by row when the pool covers most lines (a plain scan is
    three times faster there at 200,000 lines). PostgreSQL plans this well by itself."""
    if db.engine.dialect.name == "sqlite":
        return OrderLine.provider_id + 0
    return OrderLine.provider_id


def _by_enterprise(agency: Organisation, f: Filters) -> list[ColumnElement[bool]]:
    """Conditions on the ordering enterprise: in the agency's jurisdiction (a city's agency
    sees its city's enterprises, not another pilot's customers of the same providers), and
    the filters."""
    conditions: list[ColumnElement[bool]] = []
    for region in (agency.jurisdiction, f.region):
        # A code of zeros is the whole country, where every enterprise has its region (a
        # CHECK): no condition, so no join of every line to its order and enterprise.
        if region and _prefix(region):
            conditions.append(Organisation.region_code.startswith(_prefix(region)))
    if f.industry:
        conditions.append(Organisation.industry_code == f.industry)
    return conditions


def scoped(
    stmt: Any, agency: Organisation, f: Filters, *, every_line: bool = False, pool: Pool = None
) -> Any:
    """``stmt`` (whose FROM has ``order_lines``) narrowed to the lines in scope: placed by
    enterprises of the agency's jurisdiction (the line's copy of its order's enterprise: no
    order is read), and within the filters. ``every_line``: the statement reads the lines
    themselves in an index's order (the lines by category), not through a smaller table
    (contracts, tickets)."""
    stmt = stmt.where(*line_conditions(agency, f, pool))
    by_enterprise = _by_enterprise(agency, f)
    if not by_enterprise:
        return stmt
    placers = select(Organisation.id).where(*by_enterprise)
    if db.engine.dialect.name == "postgresql":
        # hashes those enterprises once and looks each line's up
        return stmt.where(OrderLine.enterprise_id.in_(placers))
    if every_line:
        # SQLite keeps the lines in their index's order and looks each one's enterprise up in
        # a list made once; ``+ 0`` keeps it from driving the statement from that list through
        # the lines' enterprise index, then reading and sorting each line
        return stmt.where((OrderLine.enterprise_id + 0).in_(placers))
    # SQLite starts from those enterprises, then walks to their lines
    return stmt.join(Organisation, Organisation.id == OrderLine.enterprise_id).where(*by_enterprise)


def _prefix(region: str) -> str:
    """110000 → 11, 130100 → 1301: a province's or city's code takes in what lies within."""
    code = region.rstrip("0")
    return code + "0" * (len(code) % 2)


# Money


def money(agency: Organisation, f: Filters) -> Table:
    """Each programme's budget and where it stands now: the programme's figures
    (``vouchers.figures``), as on its page, the monthly page and /transparency."""
    found = list(
        db.session.scalars(
            select(VoucherProgramme)
            .where(VoucherProgramme.id.in_(_programmes(agency, f)))
            .order_by(VoucherProgramme.id)
        )
    )
    money = figures.of_programmes(found)
    return Table(
        "money",
        ["programme", "budget_fen", "issued_fen", "reserved_fen", "redeemed_fen", "settled_fen"],
        [
            (
                p.name,
                money[p.id].budget_fen,
                money[p.id].issued_fen,
                money[p.id].reserved_fen,
                money[p.id].redeemed_fen,
                money[p.id].settled_fen,
            )
            for p in found
        ],
    )


def burn(agency: Organisation, f: Filters) -> Table:
    """Issued, redeemed and settled voucher money by month, from the ledger."""
    month = group = month_of(VoucherEntry.at)
    if db.engine.dialect.name == "postgresql":
        # grouped by the month's first moment, each month's name written once, not for each
        # of the ledger's entries (51,000: 41 → 35 ms); the same ``YYYY-MM`` as ``month_of``
        group = func.date_trunc("month", func.timezone(str(LOCAL_ZONE), VoucherEntry.at))
        month = func.to_char(group, "YYYY-MM")

    def total(*kinds: EntryKind) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(case((VoucherEntry.kind.in_(kinds), VoucherEntry.amount_fen), else_=0)), 0
        )

    stmt = (
        select(month, total(EntryKind.ISSUE), total(EntryKind.REDEEM), total(EntryKind.SETTLE))
        .join(Voucher, Voucher.id == VoucherEntry.voucher_id)
        .where(Voucher.programme_id.in_(_programmes(agency, f)))
        .group_by(group)
        .order_by(group)
    )
    if f.since is not None:
        stmt = stmt.where(VoucherEntry.at >= _instant(f.since))
    if f.until is not None:
        stmt = stmt.where(VoucherEntry.at < _instant(f.until + timedelta(days=1)))
    return Table(
        "burn",
        ["month", "issued_fen", "redeemed_fen", "settled_fen"],
        [(str(m), int(i), int(r), int(s)) for m, i, r, s in db.session.execute(stmt)],
    )


# Enterprises and orders


DIMENSIONS = ("industry", "size", "region")
LEVELS = range(1, 6)  # diagnosis maturity


def by_enterprise(agency: Organisation, f: Filters, pool: Pool = None) -> dict[str, Table]:
    """The enterprises served by industry, size tier and region, and their diagnosis maturity
    at the first and the latest diagnosis (those that diagnosed themselves at least twice),
    from one GROUP BY over the five: an enterprise has one of each, so each table's sums count
    it once."""
    # every enterprise's first and latest diagnosis (only the served ones' would look for
    # the served a second time)
    ends = (
        select(
            Diagnosis.enterprise_id,
            func.min(Diagnosis.id).label("first_id"),
            func.max(Diagnosis.id).label("last_id"),
        )
        .group_by(Diagnosis.enterprise_id)
        .having(func.count(Diagnosis.id) >= 2)
        .subquery("ends")
    )
    first, last = aliased(Diagnosis, name="first"), aliased(Diagnosis, name="last")
    columns = (
        Organisation.industry_code,
        Organisation.size_tier,
        Organisation.region_code,
        first.level,
        last.level,
    )
    stmt = (
        select(*columns, func.count(Organisation.id))
        .outerjoin(ends, ends.c.enterprise_id == Organisation.id)
        .outerjoin(first, first.id == ends.c.first_id)
        .outerjoin(last, last.id == ends.c.last_id)
        .where(Organisation.id.in_(_served(agency, f, pool)), *_by_enterprise(agency, f))
        .group_by(*columns)
    )
    served: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    levels = {level: [0, 0] for level in LEVELS}
    for industry, size, region, first_level, last_level, n in db.session.execute(stmt):
        for dimension, key in zip(DIMENSIONS, (industry, size, region), strict=True):
            served[dimension][str(key)] += int(n)
        for slot, level in enumerate((first_level, last_level)):
            if level is not None:
                levels[int(level)][slot] += int(n)
    tables = {
        f"enterprises_{d}": Table(
            f"enterprises_{d}",
            [d, "enterprises"],
            sorted(served[d].items(), key=lambda kv: (-kv[1], kv[0])),
        )
        for d in DIMENSIONS
    }
    tables["maturity"] = Table(
        "maturity",
        ["level", "enterprises_first_diagnosis", "enterprises_latest_diagnosis"],
        [(level, *pair) for level, pair in levels.items()],
    )
    return tables


def _served(agency: Organisation, f: Filters, pool: Pool = None) -> Any:
    """The enterprises that placed lines in scope, as far as the lines tell (a set, not a
    join over every line); the conditions on the enterprise itself are the caller's. The
    lines' copy of their order's enterprise, read with their providers and times from one
    index in enterprise order: no order and no line is read."""
    return select(OrderLine.enterprise_id).where(*line_conditions(agency, f, pool))


def enterprises_by(agency: Organisation, f: Filters, dimension: str) -> Table:
    return by_enterprise(agency, f)[f"enterprises_{dimension}"]


def maturity(agency: Organisation, f: Filters) -> Table:
    return by_enterprise(agency, f)["maturity"]


def median(histogram: Sequence[tuple[int, int]]) -> float | None:
    """The median of values given as (value, count) pairs, sorted by value."""
    n = sum(c for _v, c in histogram)
    if n == 0:
        return None
    wanted = [(n - 1) // 2, n // 2]
    found: list[int] = []
    seen = 0
    for value, count in histogram:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return sum(found) / 2


NOT_COMMITTED = (LineStatus.REJECTED, LineStatus.CANCELLED)  # their money is not committed


def by_line(agency: Organisation, f: Filters, pool: Pool = None) -> dict[str, Table]:
    """Order lines by category with the money committed on the live ones, and the median days
    from order to go-live (delivery) and to acceptance (验收) by category, from one GROUP BY
    over the category and the two whole-day counts: the database sends a few thousand groups
    (a histogram of days per category), never one row per line. The day counts are the
    line's own (stored by its transitions), and the statement reads the lines' statistics
    index in the order of its groups: nothing is sorted or computed per line."""
    category = OrderLine.category_code  # none: an integration fee
    to_go_live, to_acceptance = OrderLine.days_to_go_live, OrderLine.days_to_acceptance
    live = OrderLine.status.not_in(NOT_COMMITTED)
    stmt = scoped(
        select(
            category,
            to_go_live,
            to_acceptance,
            func.count(),
            # a BIGINT, not PostgreSQL's NUMERIC sum: no Decimal made for each group
            cast(func.sum(case((live, OrderLine.committed_fen), else_=0)), BigInteger),
        ),
        agency,
        f,
        every_line=True,
        pool=pool,
    ).group_by(category, to_go_live, to_acceptance)
    lines: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    # (to go-live, to acceptance) → category → days → lines
    days: tuple[dict[str, dict[int, int]], ...] = (defaultdict(dict), defaultdict(dict))
    # a Core result, fetched at once: the ORM would spend 5 µs on each of the thousands of
    # rows, and a row at a time a few more
    for cat, go_live, acceptance, n, committed in db.session.connection().execute(stmt).all():
        key = cat or INTEGRATION
        counts = lines[key]
        counts[0] += int(n)
        counts[1] += int(committed)
        for slot, whole in ((0, go_live), (1, acceptance)):
            if whole is not None:
                histogram = days[slot][key]
                histogram[whole] = histogram.get(whole, 0) + int(n)
    for by_category in days:  # every category's days together
        every: dict[int, int] = {}
        for histogram in list(by_category.values()):
            for whole, n in histogram.items():
                every[whole] = every.get(whole, 0) + n
        if every:
            by_category["all"] = every
    medians: dict[str, list[float | None]] = {"all": [None, None]}
    for slot, by_category in enumerate(days):
        for key, histogram in by_category.items():
            medians.setdefault(key, [None, None])[slot] = median(sorted(histogram.items()))
    return {
        "orders_category": Table(
            "orders_category",
            ["category", "order_lines", "committed_fen"],
            [(c, n, v) for c, (n, v) in sorted(lines.items(), key=lambda kv: (-kv[1][0], kv[0]))],
        ),
        "lead_times": Table(
            "lead_times",
            ["category", "median_days_to_go_live", "median_days_to_acceptance"],
            [
                (key, *values)
                for key, values in sorted(medians.items(), key=lambda kv: (kv[0] == "all", kv[0]))
            ],
        ),
    }


def orders_by_category(agency: Organisation, f: Filters) -> Table:
    return by_line(agency, f)["orders_category"]


def lead_times(agency: Organisation, f: Filters) -> Table:
    return by_line(agency, f)["lead_times"]


# Results after delivery


def _line_of(column: Any) -> Any:
    """A contract's or ticket's line id, for the join to ``order_lines``: on SQLite as
    ``line_id + 0``, so that it reads the few contracts (tickets) and looks each line up,
    rather than walking every line in scope and looking for its contract (5,000 contracts at
    200,000 lines: 6 against 65 ms when its statistics misled it)."""
    if db.engine.dialect.name == "sqlite":
        return column + 0
    return column


def outcomes(agency: Organisation, f: Filters, pool: Pool = None) -> Table:
    stmt = (
        select(
            OutcomeContract.status,
            func.count(OutcomeContract.id),
            func.coalesce(func.sum(OutcomeContract.fee_fen), 0),
        )
        .join(OrderLine, OrderLine.id == _line_of(OutcomeContract.order_line_id))
        .group_by(OutcomeContract.status)
    )
    stmt = scoped(stmt, agency, f, pool=pool)
    found = {ContractStatus(s): (int(n), int(fee or 0)) for s, n, fee in db.session.execute(stmt)}
    order = (ContractStatus.MET, ContractStatus.MISSED)
    in_progress = sum(n for s, (n, _fee) in found.items() if s not in order)
    rows: list[tuple[Any, ...]] = [
        (
            s.value,
            found.get(s, (0, 0))[0],
            found.get(s, (0, 0))[1] if s is ContractStatus.MET else 0,
        )
        for s in order
    ]
    rows.append(("in_progress", in_progress, 0))
    return Table("outcomes", ["result", "contracts", "success_fees_fen"], rows)


def tickets(agency: Organisation, f: Filters, pool: Pool = None) -> Table:
    late = func.coalesce(func.sum(case((Ticket.breached.is_(True), 1), else_=0)), 0)
    stmt = (
        select(Ticket.severity, func.count(Ticket.id), late)
        .join(OrderLine, OrderLine.id == _line_of(Ticket.line_id))
        .group_by(Ticket.severity)
    )
    stmt = scoped(stmt, agency, f, pool=pool)
    return Table(
        "tickets",
        ["severity", "tickets", "sla_breaches"],
        [(str(getattr(s, "value", s)), int(n), int(b)) for s, n, b in db.session.execute(stmt)],
    )


SECTIONS = (
    "money",
    "burn",
    "enterprises_industry",
    "enterprises_size",
    "enterprises_region",
    "orders_category",
    "lead_times",
    "outcomes",
    "tickets",
    "maturity",
)


def cached_sections(
    agency: Organisation, f: Filters, seconds: int
) -> tuple[datetime, dict[str, Table]]:
    """The sections as computed at most ``seconds`` ago (0: now), and when they were. The
    figures are aggregates over every line in scope: recomputing them for each view of a busy
    page gains nothing an official can see.

    One snapshot per agency and filters, in the app's shared cache (Redis when configured,
    so every instance serves the same one: a page and its CSV agree, whichever instance
    answers each); a cache that is down is skipped."""
    cache: SharedCache = current_app.extensions["shared_cache"]
    key = snapshot_key(agency, f)
    if seconds > 0:
        found = cache.get(key)
        if found is not None:
            try:
                return _loads(found)
            except (ValueError, KeyError, TypeError):
                pass  # not a snapshot this code wrote: compute it again
    tables = every_section(agency, f)
    computed = datetime.now(LOCAL_ZONE)
    cache.set(key, _dumps(computed, tables), seconds)
    return computed, tables


def snapshot_key(agency: Organisation, f: Filters) -> str:
    filters = json.dumps(asdict(f), sort_keys=True, default=str)
    return f"stats:v1:{agency.id}:{hashlib.sha256(filters.encode()).hexdigest()[:32]}"


def _dumps(computed: datetime, tables: dict[str, Table]) -> bytes:
    return json.dumps(
        {
            "computed_at": computed.isoformat(),
            "tables": [[t.key, t.columns, [list(row) for row in t.rows]] for t in tables.values()],
        },
        ensure_ascii=False,
    ).encode()


def _loads(raw: bytes) -> tuple[datetime, dict[str, Table]]:
    data = json.loads(raw)
    tables = {
        key: Table(key, list(columns), [tuple(row) for row in rows])
        for key, columns, rows in data["tables"]
    }
    return datetime.fromisoformat(data["computed_at"]), tables


def every_section(agency: Organisation, f: Filters) -> dict[str, Table]:
    """All the sections of the page, in order: the enterprise tables and maturity from one
    grouped query, the line tables from another; ten statements in all, at any scale (the
    agency's pool read once for the four over its lines; nine for a programme's lines)."""
    found = {"money": money(agency, f), "burn": burn(agency, f)}
    pool = overseen(agency) if f.programme_id is None else None
    found.update(by_enterprise(agency, f, pool))
    found.update(by_line(agency, f, pool))
    found["outcomes"] = outcomes(agency, f, pool)
    found["tickets"] = tickets(agency, f, pool)
    return {key: found[key] for key in SECTIONS}


# What each column holds, for the header of an export made in Chinese.
CSV_COLUMNS = {
    "programme": _l("Programme"),
    "budget_yuan": _l("Budget (yuan)"),
    "issued_yuan": _l("Issued (yuan)"),
    "reserved_yuan": _l("Reserved (yuan)"),
    "redeemed_yuan": _l("Redeemed (yuan)"),
    "settled_yuan": _l("Settled (yuan)"),
    "month": _l("Month"),
    "industry": _l("Industry"),
    "region": _l("Region"),
    "size": _l("Size"),
    "enterprises": _l("Enterprises"),
    "category": _l("Category"),
    "order_lines": _l("Order lines"),
    "committed_yuan": _l("Committed (yuan)"),
    "median_days_to_go_live": _l("Median days to go live"),
    "median_days_to_acceptance": _l("Median days to acceptance"),
    "result": _l("Result"),
    "contracts": _l("Contracts"),
    "success_fees_yuan": _l("Success fees (yuan)"),
    "severity": _l("Severity"),
    "tickets": _l("Tickets"),
    "sla_breaches": _l("SLA breaches"),
    "level": _l("Maturity level"),
    "enterprises_first_diagnosis": _l("Enterprises (first diagnosis)"),
    "enterprises_latest_diagnosis": _l("Enterprises (latest diagnosis)"),
    "industry_code": _l("Industry code"),
    "size_code": _l("Size code"),
    "region_code": _l("Region code"),
    "category_code": _l("Category code"),
    "result_code": _l("Result code"),
    "severity_code": _l("Severity code"),
}


# The first columns that hold codes (a category's, a region's, ...): an export writes what
# each code means, in the reader's language, and keeps the code in a column of its own at the
# end (``category_code``) for the scripts that read them.
CODED_COLUMNS = ("industry", "size", "region", "category", "result", "severity")


def as_csv(table: Table, labels: Mapping[str, str]) -> str:
    """The table as CSV; amounts in yuan (columns ``*_fen`` become ``*_yuan``); the header in
    the reader's language (see ``csvfile.header``); a coded first column written as its
    ``labels`` (code → text in the reader's language) with the codes in a last column."""
    names = [c.removesuffix("_fen") + "_yuan" if c.endswith("_fen") else c for c in table.columns]
    coded = bool(table.columns) and table.columns[0] in CODED_COLUMNS
    if coded:
        names.append(f"{table.columns[0]}_code")
    rows = []
    for row in table.rows:
        cells = [
            csvfile.yuan(v) if c.endswith("_fen") and isinstance(v, int) else v
            for c, v in zip(table.columns, row, strict=True)
        ]
        if coded:
            code = str(row[0])
            cells = [labels.get(code, code), *cells[1:], code]
        rows.append(cells)
    return csvfile.write([csvfile.header(names, CSV_COLUMNS), *rows])
