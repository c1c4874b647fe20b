"""A diagnosis report (诊断报告): the enterprise's maturity by dimension against its peers on
the platform, the answers that pulled each dimension down, and a phased roadmap of the kinds
of package to buy, quick wins first (小快轻准), then the steps that build on them.

Reads only: the report is computed each time it is opened, never stored.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from sqlalchemy import func, select

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import search
from marketplace.catalog.models import Category, PackageVersion
from marketplace.db import db
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import services, visits
from marketplace.diagnosis.models import AdvisorVisit, Diagnosis

MIN_PEERS = 3  # fewer peers of the same industry: compare with all enterprises instead

# A dimension scoring this much or more is in place: the roadmap neither targets its kinds of
# package nor adds them as a step another one builds on.
IN_PLACE = 60

# A kind of package is a quick win when its lightest package goes live within this many days
# and costs no more than half the year's budget (the recommendations' rule for one package).
QUICK_GO_LIVE_DAYS = 30

# Which kinds of package build on which: a step needs the data an earlier one produces.
# Networked equipment feeds the workshop dashboards and the energy meters; the dashboards'
# history is what predictive maintenance and a data platform learn from; scheduling (APS)
# plans on the work orders an MES tracks. Kinds not named here build on nothing.
BUILDS_ON: dict[str, tuple[str, ...]] = {
    "production_visualisation": ("equipment_networking",),
    "energy_management": ("equipment_networking",),
    "predictive_maintenance": ("equipment_networking", "production_visualisation"),
    "data_platform": ("production_visualisation",),
    "aps": ("mes",),
}


# Peers


@dataclass(frozen=True)
class Spread:
    """The peers' scores of one dimension: quartiles and median."""

    q1: float
    median: float
    q3: float


def spread(values: list[int]) -> Spread | None:
    """Quartiles by the inclusive method (the median of each half, interpolated), so that
    a set of one gives that value three times."""
    if not values:
        return None
    if len(values) == 1:
        return Spread(values[0], values[0], values[0])
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(round(q1, 1), round(median, 1), round(q3, 1))


@dataclass
class Peers:
    count: int
    same_industry: bool  # False: fewer than MIN_PEERS of the industry, so all enterprises
    industry_count: int  # the peers of the same industry, whether compared with or not
    spreads: dict[str, Spread | None]


def _latest_scores(enterprise: Organisation, industry_code: str | None) -> list[dict[str, int]]:
    """The dimension scores of the latest diagnosis (the highest id) of every other
    enterprise, of the industry when one is given."""
    latest = (
        select(func.max(Diagnosis.id))
        .join(Organisation, Organisation.id == Diagnosis.enterprise_id)
        .where(Organisation.kind == OrgKind.ENTERPRISE, Diagnosis.enterprise_id != enterprise.id)
        .group_by(Diagnosis.enterprise_id)
    )
    if industry_code is not None:
        latest = latest.where(Organisation.industry_code == industry_code)
    return list(
        db.session.scalars(select(Diagnosis.dimension_scores).where(Diagnosis.id.in_(latest)))
    )


def peers(enterprise: Organisation) -> Peers:
    scores = _latest_scores(enterprise, enterprise.industry_code)
    industry_count = len(scores)
    same = industry_count >= MIN_PEERS
    if not same:
        scores = _latest_scores(enterprise, None)
    return Peers(
        count=len(scores),
        same_industry=same,
        industry_count=industry_count,
        spreads={d: spread(sorted(s[d] for s in scores if d in s)) for d in qn.DIMENSIONS},
    )


# Reasons


@dataclass(frozen=True)
class Reason:
    """An answer that cost its dimension points."""

    question: qn.Question
    answer: int

    @property
    def label(self) -> object:
        return self.question.options[self.answer]

    @property
    def lost(self) -> int:
        return qn.TOP - self.answer


def reasons(diagnosis: Diagnosis) -> dict[str, list[Reason]]:
    """Per dimension, the answers below best practice, the lowest (costliest) first."""
    found: dict[str, list[Reason]] = {d: [] for d in qn.DIMENSIONS}
    for q in qn.QUESTIONS:
        answer = diagnosis.answers[q.code]
        if answer < qn.TOP:
            found[q.dimension].append(Reason(q, answer))
    for items in found.values():
        items.sort(key=lambda r: r.answer)
    return found


# Roadmap


@dataclass
class Step:
    category: str
    name: str
    dimension: str | None
    pain_points: list[str]  # the chosen pain points it answers
    builds_on: list[str]  # category names of the steps before it that it needs
    packages: int  # visible packages of the category in the catalogue
    price_low_fen: int | None
    price_high_fen: int | None
    go_live_low: int | None
    go_live_high: int | None
    quick: bool = False


@dataclass
class Phase:
    number: int
    quick_wins: bool
    steps: list[Step] = field(default_factory=list)


def _targets(diagnosis: Diagnosis) -> list[str]:
    """The kinds of package the diagnosis asks for: the chosen pain points' first, then the
    kinds that lift the weakest dimensions and every dimension not yet in place."""
    weakest = set(services.weakest_dimensions(diagnosis))
    wanted = [c for p in diagnosis.pain_points for c in qn.PAIN_POINTS[p][1]]
    for dimension, score in sorted(diagnosis.dimension_scores.items(), key=lambda i: (i[1], i[0])):
        if dimension in weakest or score < IN_PLACE:
            wanted += qn.DIMENSION_CATEGORIES[dimension]
    return list(dict.fromkeys(wanted))


def _with_foundations(diagnosis: Diagnosis, targets: list[str]) -> list[str]:
    """The targets and, before them, what they build on unless its dimension is in place."""
    result: list[str] = []

    def add(category: str) -> None:
        if category in result:
            return
        for base in BUILDS_ON.get(category, ()):
            dimension = services.CATEGORY_DIMENSION.get(base)
            if dimension is None or diagnosis.dimension_scores[dimension] < IN_PLACE:
                add(base)
        result.append(category)

    for category in targets:
        add(category)
    return result


def catalogue_ranges(categories: list[str]) -> dict[str, tuple[int, int, int, int, int]]:
    """Per category of the visible catalogue: packages, lowest and highest entry price and
    go-live days, grouped in SQL."""
    visible = search.matching(search.Query()).with_only_columns(PackageVersion.id)
    stmt = (
        select(
            PackageVersion.category_code,
            func.count(PackageVersion.id),
            func.min(PackageVersion.entry_price_fen),
            func.max(PackageVersion.entry_price_fen),
            func.min(PackageVersion.go_live_days),
            func.max(PackageVersion.go_live_days),
        )
        .where(PackageVersion.id.in_(visible), PackageVersion.category_code.in_(categories))
        .group_by(PackageVersion.category_code)
    )
    return {row[0]: tuple(row[1:]) for row in db.session.execute(stmt)}  # type: ignore[misc]


def roadmap(diagnosis: Diagnosis, locale: str) -> list[Phase]:
    """Phases of steps. A kind of package is a quick win when its lightest package is light
    (QUICK_GO_LIVE_DAYS, half the budget) and it builds on nothing still to do: phase 1.
    Any other step comes in the phase after the latest of the steps it builds on, and not
    before phase 2. Within a phase, steps keep the diagnosis' priority (pain points, then
    the weakest dimensions)."""
    categories = _with_foundations(diagnosis, _targets(diagnosis))
    ranges = catalogue_ranges(categories)
    names = {
        c.code: c.name(locale)
        for c in db.session.scalars(select(Category).where(Category.code.in_(categories)))
    }
    budget_fen = qn.BUDGETS[diagnosis.budget][1]
    per_item = None if budget_fen is None else budget_fen // 2
    priority = {c: i for i, c in enumerate(_targets(diagnosis))}
    phase_of: dict[str, int] = {}
    steps: list[Step] = []
    for category in categories:  # foundations come before what builds on them
        found = ranges.get(category)
        count, price_low, price_high, days_low, days_high = found or (0, None, None, None, None)
        bases = [b for b in BUILDS_ON.get(category, ()) if b in phase_of]
        light = found is not None and (
            found[3] <= QUICK_GO_LIVE_DAYS and (per_item is None or found[1] <= per_item)
        )
        quick = light and not bases
        phase_of[category] = max([1 if quick else 2] + [phase_of[b] + 1 for b in bases])
        steps.append(
            Step(
                category=category,
                name=names.get(category, category),
                dimension=services.CATEGORY_DIMENSION.get(category),
                pain_points=[p for p in diagnosis.pain_points if category in qn.PAIN_POINTS[p][1]],
                builds_on=[names.get(b, b) for b in bases],
                packages=count,
                price_low_fen=price_low,
                price_high_fen=price_high,
                go_live_low=days_low,
                go_live_high=days_high,
                quick=quick,
            )
        )
    phases: dict[int, Phase] = {}
    for step in sorted(steps, key=lambda s: (phase_of[s.category], priority.get(s.category, -1))):
        number = phase_of[step.category]
        phases.setdefault(number, Phase(number, quick_wins=number == 1)).steps.append(step)
    ordered = [phases[n] for n in sorted(phases)]
    for number, phase in enumerate(ordered, start=1):  # no quick wins: the first phase is 1
        phase.number = number
    return ordered


@dataclass
class Report:
    diagnosis: Diagnosis
    peers: Peers
    reasons: dict[str, list[Reason]]
    weakest: list[str]
    phases: list[Phase]
    # On-site diagnoses whose advisor recorded findings (顾问上门诊断), oldest first.
    visits: list[AdvisorVisit] = field(default_factory=list)


def build(diagnosis: Diagnosis, locale: str) -> Report:
    return Report(
        diagnosis=diagnosis,
        peers=peers(diagnosis.enterprise),
        reasons=reasons(diagnosis),
        weakest=services.weakest_dimensions(diagnosis),
        phases=roadmap(diagnosis, locale),
        visits=visits.reported(diagnosis),
    )
