"""The demand radar (需求雷达, issue 21): where an agency's enterprises need help, by industry and
district, against the supply the agency's pool offers, per category.

Demand comes from each enterprise's latest diagnosis: its maturity by dimension and the pain
points it chose. An enterprise needs a category when one of its chosen pain points or its
weakest dimension (several when they tie) points to it, by the mapping the recommendations
use (``diagnosis.questionnaire.PAIN_POINTS`` and ``DIMENSION_CATEGORIES``).

Supply is the agency's own pool: the admitted providers' published packages by category, the
range of their "from" prices (the default plan's commitment, ``entry_price_fen``), and their
verified results (contracts met and missed) from the track-record service.

Scope: the enterprises of the agency's jurisdiction (its division and what lies within) and
those holding one of its programmes' vouchers. Everything is a fixed number of grouped
statements, whatever the number of enterprises, diagnoses and packages.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true

from marketplace import csvfile
from marketplace.accounts.credit_code import region_prefix
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog.models import Package, PackageVersion, VersionStatus
from marketplace.db import db
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis.models import Diagnosis
from marketplace.diagnosis.services import MAX_PAIN_POINTS
from marketplace.oversight import track_record
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.vouchers.models import Voucher, VoucherProgramme

THIN = 2  # fewer admitted providers than this in a category: thin supply
TOP_PAIN_POINTS = 3  # the most chosen pain points shown in a cell
WEAKEST_SHOWN = 2  # the weakest dimensions shown in a cell of the grid
ONE_PLACE = Decimal("0.1")

DIMENSIONS = list(qn.DIMENSIONS)
PAIN_POINTS = list(qn.PAIN_POINTS)


def _categories() -> list[str]:
    """Every category a pain point or a dimension points to, in a stable order."""
    found: list[str] = []
    for _label, codes in qn.PAIN_POINTS.values():
        found += codes
    for codes in qn.DIMENSION_CATEGORIES.values():
        found += codes
    return list(dict.fromkeys(found))


CATEGORIES = _categories()
# what makes an enterprise need a category: these pain points, or these weakest dimensions
NEEDED_BY_PAIN = {c: [p for p, (_t, cs) in qn.PAIN_POINTS.items() if c in cs] for c in CATEGORIES}
NEEDED_BY_DIMENSION = {
    c: [d for d, cs in qn.DIMENSION_CATEGORIES.items() if c in cs] for c in CATEGORIES
}


@dataclass(frozen=True)
class Filters:
    industry: str | None = None
    district: str | None = None  # a region code; a city's takes in its districts


@dataclass
class Cell:
    """The diagnosed enterprises of one industry in one district."""

    industry: str
    district: str
    enterprises: int = 0
    score_sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIMENSIONS, 0))
    pains: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PAIN_POINTS, 0))
    needs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    def add(self, other: Cell) -> None:
        self.enterprises += other.enterprises
        for d in DIMENSIONS:
            self.score_sums[d] += other.score_sums[d]
        for p in PAIN_POINTS:
            self.pains[p] += other.pains[p]
        for c in CATEGORIES:
            self.needs[c] += other.needs[c]

    def average(self, dimension: str) -> Decimal | None:
        if not self.enterprises:
            return None
        return (Decimal(self.score_sums[dimension]) / self.enterprises).quantize(ONE_PLACE)

    @property
    def dimensions(self) -> list[tuple[str, Decimal]]:
        """Every dimension with its average score, lowest first (then in the questionnaire's
        order)."""
        if not self.enterprises:
            return []
        order = {d: i for i, d in enumerate(DIMENSIONS)}
        found = [(d, Decimal(self.score_sums[d]) / self.enterprises) for d in DIMENSIONS]
        found = [(d, value.quantize(ONE_PLACE)) for d, value in found]
        return sorted(found, key=lambda item: (item[1], order[item[0]]))

    @property
    def weakest(self) -> list[tuple[str, Decimal]]:
        return self.dimensions[:WEAKEST_SHOWN]

    @property
    def pain_points(self) -> list[tuple[str, int]]:
        """The chosen pain points with how many enterprises chose each, most chosen first."""
        order = {p: i for i, p in enumerate(PAIN_POINTS)}
        chosen = [(p, n) for p, n in self.pains.items() if n]
        return sorted(chosen, key=lambda item: (-item[1], order[item[0]]))

    @property
    def top_pain_points(self) -> list[tuple[str, int]]:
        return self.pain_points[:TOP_PAIN_POINTS]


@dataclass
class Supply:
    """One category in the agency's pool."""

    category: str
    providers: int = 0
    packages: int = 0
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    contracts_met: int = 0
    contracts_missed: int = 0


NO_SUPPLY = "no_supply"
THIN_SUPPLY = "thin_supply"


@dataclass
class CategoryRow:
    category: str
    demand: int  # diagnosed enterprises in scope that need it
    by_pain: int  # of those, the ones that chose a pain point pointing to it
    by_dimension: int  # ... whose weakest dimension points to it
    supply: Supply

    @property
    def gap(self) -> str | None:
        if not self.demand:
            return None
        if self.supply.providers == 0:
            return NO_SUPPLY
        if self.supply.providers < THIN:
            return THIN_SUPPLY
        return None


@dataclass
class Radar:
    cells: list[Cell]  # in scope and within the filters, busiest first
    total: Cell  # those cells together
    categories: list[CategoryRow]  # every category with demand or supply, most needed first

    @property
    def industries(self) -> list[str]:
        """The grid's rows: the industries with the most diagnosed enterprises first."""
        return _busiest(self.cells, "industry")

    @property
    def districts(self) -> list[str]:
        """The grid's columns: the districts with the most diagnosed enterprises first."""
        return _busiest(self.cells, "district")

    def cell(self, industry: str, district: str) -> Cell | None:
        return next(
            (c for c in self.cells if c.industry == industry and c.district == district), None
        )

    @property
    def gaps(self) -> list[CategoryRow]:
        """The categories needed but without supply, or with fewer than two providers: the
        most enterprises in need first; without supply before thin supply when they tie."""
        flagged = [r for r in self.categories if r.gap is not None]
        return sorted(
            flagged, key=lambda r: (-r.demand, r.gap != NO_SUPPLY, CATEGORIES.index(r.category))
        )


def _busiest(found: list[Cell], attribute: str) -> list[str]:
    sizes: dict[str, int] = defaultdict(int)
    for cell in found:
        sizes[getattr(cell, attribute)] += cell.enterprises
    return sorted(sizes, key=lambda key: (-sizes[key], key))


def in_scope(agency: Organisation) -> ColumnElement[bool]:
    """The agency's enterprises, as a condition on ``organisations``: of its jurisdiction, or
    holding a voucher of one of its programmes."""
    holders = (
        select(Voucher.enterprise_id)
        .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(VoucherProgramme.agency_id == agency.id)
    )
    region = agency.jurisdiction
    if region and not region_prefix(region):
        local: ColumnElement[bool] = true()  # the whole country
    elif region:
        local = Organisation.region_code.startswith(region_prefix(region))
    else:
        local = false()
    return and_(Organisation.kind == OrgKind.ENTERPRISE, or_(local, Organisation.id.in_(holders)))


def _diagnosed(agency: Organisation, f: Filters) -> Any:
    """One row per enterprise in scope and within the filters: its industry and district, the
    scores of its latest diagnosis and the pain points it chose, read out of their JSON once
    (a materialised CTE: the grouped query compares plain columns)."""
    latest = select(func.max(Diagnosis.id)).group_by(Diagnosis.enterprise_id)
    stmt = (
        select(
            Organisation.industry_code.label("industry"),
            Organisation.region_code.label("district"),
            *(Diagnosis.dimension_scores[d].as_integer().label(f"s_{d}") for d in DIMENSIONS),
            *(Diagnosis.pain_points[i].as_string().label(f"p_{i}") for i in range(MAX_PAIN_POINTS)),
        )
        .join(Diagnosis, Diagnosis.enterprise_id == Organisation.id)
        .where(Diagnosis.id.in_(latest), in_scope(agency))
    )
    if f.industry:
        stmt = stmt.where(Organisation.industry_code == f.industry)
    if f.district and region_prefix(f.district):
        stmt = stmt.where(Organisation.region_code.startswith(region_prefix(f.district)))
    return stmt.cte("diagnosed").prefix_with("MATERIALIZED")


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def cells(agency: Organisation, f: Filters) -> tuple[list[Cell], dict[str, tuple[int, int]]]:
    """The grid from one GROUP BY over the enterprises' latest diagnoses, and per category the
    enterprises in need because of a pain point and because of a weak dimension (the cells'
    ``needs`` count either, each enterprise once)."""
    e = _diagnosed(agency, f).c
    score = {d: e[f"s_{d}"] for d in DIMENSIONS}
    chose = {p: or_(*(e[f"p_{i}"] == p for i in range(MAX_PAIN_POINTS))) for p in PAIN_POINTS}
    # the dimension is (one of) the diagnosis' lowest scores
    weakest = {
        d: and_(*(score[d] <= score[other] for other in DIMENSIONS if other != d))
        for d in DIMENSIONS
    }
    needs = [
        (
            or_(false(), *(chose[p] for p in NEEDED_BY_PAIN[c])),
            or_(false(), *(weakest[d] for d in NEEDED_BY_DIMENSION[c])),
        )
        for c in CATEGORIES
    ]
    columns = [
        func.count(),
        *(func.coalesce(func.sum(score[d]), 0) for d in DIMENSIONS),
        *(_count(chose[p]) for p in PAIN_POINTS),
        *(_count(or_(by_pain, by_dimension)) for by_pain, by_dimension in needs),
        *(_count(by_pain) for by_pain, _d in needs),
        *(_count(by_dimension) for _p, by_dimension in needs),
    ]
    stmt = select(e.industry, e.district, *columns).group_by(e.industry, e.district)
    found = []
    reasons: dict[str, list[int]] = {c: [0, 0] for c in CATEGORIES}
    n_dims, n_pains, n_cats = len(DIMENSIONS), len(PAIN_POINTS), len(CATEGORIES)
    for industry, district, n, *values in db.session.execute(stmt):
        values = [int(v) for v in values]
        cell = Cell(str(industry), str(district), int(n))
        cell.score_sums = dict(zip(DIMENSIONS, values[:n_dims], strict=True))
        rest = values[n_dims:]
        cell.pains = dict(zip(PAIN_POINTS, rest[:n_pains], strict=True))
        rest = rest[n_pains:]
        cell.needs = dict(zip(CATEGORIES, rest[:n_cats], strict=True))
        for k, c in enumerate(CATEGORIES):
            reasons[c][0] += rest[n_cats + k]
            reasons[c][1] += rest[2 * n_cats + k]
        found.append(cell)
    found.sort(key=lambda c: (-c.enterprises, c.industry, c.district))
    return found, {c: (p, d) for c, (p, d) in reasons.items()}


def supply(agency: Organisation) -> dict[str, Supply]:
    """The agency's pool by category: admitted providers, their published packages, the range
    of the packages' "from" prices, and the contracts they met and missed (the track-record
    service's figures, summed over the category's packages)."""
    admitted = select(PoolMembership.provider_id).where(
        PoolMembership.agency_id == agency.id, PoolMembership.status == PoolStatus.ADMITTED
    )
    category = PackageVersion.category_code
    published = (
        select(Package.id, Package.provider_id, category, PackageVersion.entry_price_fen)
        .join(PackageVersion, PackageVersion.id == Package.published_version_id)
        .where(PackageVersion.status == VersionStatus.PUBLISHED, Package.provider_id.in_(admitted))
        .subquery("published")
    )
    stmt = select(
        published.c.category_code,
        func.count(func.distinct(published.c.provider_id)),
        func.count(published.c.id),
        func.min(published.c.entry_price_fen),
        func.max(published.c.entry_price_fen),
    ).group_by(published.c.category_code)
    found = {
        str(c): Supply(str(c), int(providers), int(packages), low, high)
        for c, providers, packages, low, high in db.session.execute(stmt)
    }
    ids = db.session.execute(select(published.c.id, published.c.category_code)).all()
    records = track_record.for_packages([package_id for package_id, _c in ids])
    for package_id, c in ids:
        record = records[package_id]
        found[str(c)].contracts_met += record.contracts_met
        found[str(c)].contracts_missed += record.contracts_missed
    return found


def radar(agency: Organisation, f: Filters) -> Radar:
    grid, reasons = cells(agency, f)
    total = Cell("", "")
    for cell in grid:
        total.add(cell)
    pool = supply(agency)
    rows = [
        CategoryRow(c, total.needs.get(c, 0), *reasons.get(c, (0, 0)), pool.get(c, Supply(c)))
        for c in dict.fromkeys([*CATEGORIES, *sorted(pool)])
    ]
    rows = [r for r in rows if r.demand or r.supply.packages]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    rows.sort(key=lambda r: (-r.demand, order.get(r.category, len(order)), r.category))
    return Radar(grid, total, rows)


# The CSV of the grid


CSV_COLUMNS: dict[str, Any] = {
    "industry": _l("Industry"),
    "district": _l("District"),
    "diagnosed_enterprises": _l("Diagnosed enterprises"),
    "weakest_dimensions": _l("Weakest dimensions"),
    "top_pain_points": _l("Most chosen pain points"),
    **{
        f"score_{d}": _l("Average score: %(dimension)s", dimension=t)
        for d, t in qn.DIMENSIONS.items()
    },
    **{
        f"pain_{p}": _l("Chose: %(pain_point)s", pain_point=t)
        for p, (t, _cs) in qn.PAIN_POINTS.items()
    },
    "industry_code": _l("Industry code"),
    "district_code": _l("District code"),
}


def as_csv(found: list[Cell], industries: Mapping[str, str], districts: Mapping[str, str]) -> str:
    """One row per cell: the enterprises, the weakest dimensions and most chosen pain points
    (named in the reader's language), each dimension's average and each pain point's count,
    then the codes for the scripts that read them."""
    names = [
        "industry",
        "district",
        "diagnosed_enterprises",
        "weakest_dimensions",
        "top_pain_points",
        *(f"score_{d}" for d in DIMENSIONS),
        *(f"pain_{p}" for p in PAIN_POINTS),
        "industry_code",
        "district_code",
    ]
    rows: list[list[object]] = [list(csvfile.header(names, CSV_COLUMNS))]
    for cell in found:
        rows.append(
            [
                industries.get(cell.industry, cell.industry),
                districts.get(cell.district, cell.district),
                cell.enterprises,
                "; ".join(f"{qn.DIMENSIONS[d]} {score}" for d, score in cell.weakest),
                "; ".join(f"{qn.PAIN_POINTS[p][0]} {n}" for p, n in cell.top_pain_points),
                *(cell.average(d) for d in DIMENSIONS),
                *(cell.pains[p] for p in PAIN_POINTS),
                cell.industry,
                cell.district,
            ]
        )
    return csvfile.write(rows)
