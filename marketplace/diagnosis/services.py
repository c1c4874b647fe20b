"""Diagnosing an enterprise's digital maturity and recommending a starter bundle.

Recommendations are explainable: every suggested package comes with the reasons it was
chosen, computed from the diagnosis, the enterprise's profile and the package's declarations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import ColumnElement, ColumnExpressionArgument, exists, literal, select
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Organisation, OrgKind, SizeTier
from marketplace.catalog import search, track_records
from marketplace.catalog.models import Better, Deployment, Package, PackageVersion, PlanKind
from marketplace.db import db
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis.models import Diagnosis
from marketplace.errors import DomainError, get_owned
from marketplace.security import Actor

MAX_PAIN_POINTS = 3
STARTER_SIZE = 3
ALTERNATIVES_PER_CATEGORY = 2
LIGHTWEIGHT_TIERS = {SizeTier.MICRO, SizeTier.SMALL}
MIN_RATINGS = 3  # fewer verified ratings are cited but do not rank


def diagnose(
    enterprise: Organisation,
    answers: dict[str, int],
    pain_points: list[str],
    budget: str,
    actor: Actor,
) -> Diagnosis:
    if enterprise.kind is not OrgKind.ENTERPRISE:
        raise DomainError(_l("Only enterprises diagnose themselves."))
    missing = [q.code for q in qn.QUESTIONS if answers.get(q.code) not in qn.SCALE_OPTIONS]
    if missing:
        raise DomainError(_l("Answer every question."), field=missing[0])
    unknown = [p for p in pain_points if p not in qn.PAIN_POINTS]
    if unknown or len(set(pain_points)) > MAX_PAIN_POINTS:
        raise DomainError(_l("Choose up to three pain points from the list."), field="pain_points")
    if budget not in qn.BUDGETS:
        raise DomainError(_l("Choose a budget from the list."), field="budget")
    dimensions, overall, level = qn.score(answers)
    diagnosis = Diagnosis(
        enterprise_id=enterprise.id,
        created_by_id=actor.user_id,
        answers={q.code: answers[q.code] for q in qn.QUESTIONS},
        pain_points=list(dict.fromkeys(pain_points)),
        budget=budget,
        dimension_scores=dimensions,
        overall=overall,
        level=level,
    )
    db.session.add(diagnosis)
    db.session.flush()
    audit.record(
        actor, "diagnosis.completed", "diagnosis", diagnosis.id, level=level, overall=overall
    )
    return diagnosis


def history(enterprise: Organisation) -> list[Diagnosis]:
    stmt = (
        select(Diagnosis)
        .where(Diagnosis.enterprise_id == enterprise.id)
        .order_by(Diagnosis.id.desc())
    )
    return list(db.session.scalars(stmt))


def get(enterprise: Organisation, diagnosis_id: int) -> Diagnosis:
    return get_owned(Diagnosis, diagnosis_id, enterprise_id=enterprise.id)


# For the domains above (voucher eligibility): whether an enterprise has diagnosed itself.


def has_diagnosis(enterprise_id: int) -> bool:
    stmt = select(literal(1)).where(Diagnosis.enterprise_id == enterprise_id).limit(1)
    return db.session.scalar(stmt) is not None


def diagnosed(enterprise_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
    """EXISTS a diagnosis of the enterprise whose id is ``enterprise_id``, a column of the
    enclosing query (``.where(diagnosed(Organisation.id))``)."""
    return exists().where(Diagnosis.enterprise_id == enterprise_id)


@dataclass
class Suggestion:
    """A package proposed for the enterprise, tied back to the diagnosis: the chosen pain
    points it answers, the dimension it lifts, why it fits and the verified evidence behind it."""

    version: PackageVersion
    score: int  # fit with the enterprise's profile and budget; a package must score above 0
    reasons: list[str] = field(default_factory=list)
    pain_points: list[str] = field(default_factory=list)  # codes of the chosen pain points
    dimension: str | None = None  # the diagnosis dimension its kind of package lifts
    dimension_score: int | None = None
    weakest: bool = False  # that dimension is (one of) the diagnosis' weakest
    evidence: list[str] = field(default_factory=list)
    results_points: int = 0  # verified outcome contracts: met up, missed down, improvement up
    verdict_points: int = 0  # the provider's evaluation rounds: passed up, failed down

    @property
    def merit(self) -> int:
        """The ranking score: fit by the rules plus verified results plus evaluation verdicts."""
        return self.score + self.results_points + self.verdict_points

    @property
    def rank(self) -> tuple[int, int, int, int, int, int]:
        """Lower ranks first: relevance (pain points answered, then the weaker dimension),
        then the ranking score (fit, verified results, evaluation verdicts), then ratings
        from enough verified buyers, then price."""
        package = self.version.package
        rated = package.rating_sum * 100 // package.rating_count if ranked_by_rating(package) else 0
        return (
            -len(self.pain_points),
            101 if self.dimension_score is None else self.dimension_score,
            -self.merit,
            -rated,
            self.version.entry_price_fen,
            self.version.id,
        )


@dataclass
class Recommendation:
    categories: list[str]
    starter: list[Suggestion]
    alternatives: list[Suggestion]
    weakest: list[str]  # the weakest dimensions (several when they score the same)
    unanswered: list[str] = field(default_factory=list)  # chosen pain points nothing answers
    # every package that fits, best first, per category: the next candidates when the first
    # picks do not work together
    ranked: dict[str, list[Suggestion]] = field(default_factory=dict)

    @property
    def weakest_covered(self) -> bool:
        return any(s.weakest for s in self.starter)


def ranked_by_rating(package: Package) -> bool:
    """Ratings rank a package only with enough verified buyers behind them."""
    return package.rating_count >= MIN_RATINGS


def weakest_dimensions(diagnosis: Diagnosis) -> list[str]:
    lowest = min(diagnosis.dimension_scores.values())
    return [d for d in qn.DIMENSIONS if diagnosis.dimension_scores[d] == lowest]


CATEGORY_DIMENSION = {c: d for d, cs in qn.DIMENSION_CATEGORIES.items() for c in cs}


def priority_categories(diagnosis: Diagnosis) -> list[str]:
    """Pain points first, in the order chosen, then the weakest dimensions."""
    ordered: list[str] = []
    for pain in diagnosis.pain_points:
        ordered += qn.PAIN_POINTS[pain][1]
    weakest = sorted(diagnosis.dimension_scores.items(), key=lambda item: (item[1], item[0]))
    for dimension, _score in weakest:
        ordered += qn.DIMENSION_CATEGORIES[dimension]
    return list(dict.fromkeys(ordered))


# The ranking score's verified parts (explained on the recommendations page in one line).
RESULT_POINTS = 2  # per outcome contract met; minus as much per contract missed
RESULT_CAP = 6  # the contracts' points stay within ± this
IMPROVEMENT_STEP_PCT = 10  # one point per this median improvement over the baseline, in %
IMPROVEMENT_CAP = 3
PASSED_POINTS = 2  # per evaluation round the provider passed
FAILED_POINTS = 3  # taken per round it failed


def results_points(ev: track_records.Evidence) -> int:
    contracts = RESULT_POINTS * (ev.met - ev.missed)
    points = max(-RESULT_CAP, min(RESULT_CAP, contracts))
    if ev.met and ev.improvement_pct is not None and ev.improvement_pct > 0:
        points += min(int(ev.improvement_pct // IMPROVEMENT_STEP_PCT), IMPROVEMENT_CAP)
    return points


def verdict_points(ev: track_records.Evidence) -> int:
    return PASSED_POINTS * ev.passed - FAILED_POINTS * ev.failed


def _change(result: track_records.PeerResult) -> str:
    """The change in the metric's own direction (a defect rate down 1.2 points is −1.2)."""
    change = -result.change if result.metric.better is Better.LOWER else result.change
    number = f"{change:+.1f}".replace("-", "−")
    if result.metric.unit == "%":
        return str(_l("%(change)s points", change=number))
    return f"{number} {result.metric.unit_label}"


def _peer_line(ev: track_records.Evidence, industry: str, locale: str) -> str:
    """ "3 machining firms of your size met their target: OEE +6.0 points in 4 months"."""
    if ev.base == "size":
        who = ngettext(
            "%(num)d %(industry)s firm of your size met its target",
            "%(num)d %(industry)s firms of your size met their target",
            ev.peers_met,
            industry=industry,
        )
    else:
        who = ngettext(
            "%(num)d %(industry)s firm (all sizes; fewer than three of your size) met its target",
            "%(num)d %(industry)s firms (all sizes; fewer than three of your size) met their"
            " target",
            ev.peers_met,
            industry=industry,
        )
    if not ev.results:
        return who
    best = ev.results[0]
    result = f"{best.metric.name(locale)} {_change(best)}"
    if best.months is not None:
        result = ngettext(
            "%(result)s in %(num)d month",
            "%(result)s in %(num)d months",
            best.months,
            result=result,
        )
    return str(_l("%(who)s: %(result)s", who=who, result=result))


def _evidence(
    package: Package, ev: track_records.Evidence | None, industry: str | None, locale: str
) -> list[str]:
    """What the platform holds on the package from verified data only: its peers' met
    contracts first (the enterprise's industry and size), then all its settled contracts,
    its provider's evaluations and its verified buyers' rating."""
    cited = []
    ev = ev or track_records.Evidence()
    settled = ev.met + ev.missed
    if industry is not None and ev.peers_met:
        cited.append(_peer_line(ev, industry, locale))
        if ev.thin:
            cited.append(str(_l("fewer than three cases: a first sign, not yet a proof")))
    elif industry is not None and settled:
        cited.append(str(_l("no contract met in %(industry)s yet", industry=industry)))
    if ev.peers_missed and industry is not None:
        cited.append(
            ngettext(
                "%(num)d %(industry)s firm missed its target",
                "%(num)d %(industry)s firms missed their target",
                ev.peers_missed,
                industry=industry,
            )
        )
    if settled:
        cited.append(
            ngettext(
                "%(met)d of %(num)d pay-for-results contract met its target on verified "
                "measurements",
                "%(met)d of %(num)d pay-for-results contracts met their target on verified "
                "measurements",
                settled,
                met=ev.met,
            )
        )
    if ev.passed or ev.failed:
        cited.append(
            str(
                _l(
                    "provider's evaluations: %(passed)d rounds passed, %(failed)d failed",
                    passed=ev.passed,
                    failed=ev.failed,
                )
            )
        )
    if package.rating_count:
        cited.append(
            ngettext(
                "rated %(rating)s of 5 by %(num)d verified buyer",
                "rated %(rating)s of 5 by %(num)d verified buyers",
                package.rating_count,
                rating=package.rating,
            )
        )
        if not ranked_by_rating(package):
            cited.append(str(_l("fewer than %(n)d ratings: too few to rank by", n=MIN_RATINGS)))
    return cited


def _score(
    version: PackageVersion, enterprise: Organisation, budget_fen: int | None, locale: str
) -> Suggestion:
    s = Suggestion(version=version, score=0)
    tier = enterprise.size_tier
    if enterprise.industry_code in {i.code for i in version.industries}:
        s.score += 3
        s.reasons.append(str(_l("fits %(industry)s", industry=enterprise.industry.name(locale))))  # type: ignore[union-attr]
    if tier in version.size_tiers:
        s.score += 2
        s.reasons.append(str(_l("made for %(tier)s firms", tier=tier.label)))
    if tier in LIGHTWEIGHT_TIERS:
        if version.deployment is Deployment.SAAS:
            s.score += 2
            s.reasons.append(str(_l("SaaS: light to start, nothing to install")))
        elif version.deployment is Deployment.ON_PREMISES:
            s.score -= 2
    elif version.deployment in (Deployment.ON_PREMISES, Deployment.HYBRID):
        s.score += 1
        s.reasons.append(str(_l("a deeper, on-site solution")))
    if budget_fen is not None:
        if version.entry_price_fen <= budget_fen:
            s.score += 2
            s.reasons.append(str(_l("within budget")))
        else:
            s.score -= 3
    if version.go_live_days <= 14:
        s.score += 1
        s.reasons.append(str(_l("go-live %(n)d days", n=version.go_live_days)))
    if any(plan.kind is PlanKind.OUTCOME for plan in version.plans):
        s.score += 1
        s.reasons.append(str(_l("can be paid for results")))
    return s


# What ``assess`` and the interoperability check read of each version, loaded with it.
ASSESSED = (
    selectinload(PackageVersion.plans),
    selectinload(PackageVersion.industries),
    selectinload(PackageVersion.size_tier_rows),
    selectinload(PackageVersion.interfaces),
    selectinload(PackageVersion.package).joinedload(Package.provider),
)


def assess(
    enterprise: Organisation, diagnosis: Diagnosis, versions: Iterable[PackageVersion], locale: str
) -> list[Suggestion]:
    """Each version as a suggestion for this enterprise: its fit, the chosen pain points and
    the dimension it answers, and its evidence (for the domains above that add packages to a
    recommended set, so these explain themselves the same way)."""
    budget_fen = qn.BUDGETS[diagnosis.budget][1]
    # One package should not take more than half of the year's budget.
    per_item_budget = None if budget_fen is None else budget_fen // 2
    weakest = set(weakest_dimensions(diagnosis))
    versions = list(versions)
    tier = enterprise.size_tier
    evidence = track_records.evidence_for(
        [v.package_id for v in versions],
        enterprise.industry_code,
        tier.value if tier is not None else None,
    )
    industry = enterprise.industry.name(locale) if enterprise.industry is not None else None
    result = []
    for version in versions:
        s = _score(version, enterprise, per_item_budget, locale)
        ev = evidence.get(version.package_id)
        s.evidence = _evidence(version.package, ev, industry, locale)
        if ev is not None:
            s.results_points, s.verdict_points = results_points(ev), verdict_points(ev)
        s.pain_points = [
            p for p in diagnosis.pain_points if version.category_code in qn.PAIN_POINTS[p][1]
        ]
        s.dimension = CATEGORY_DIMENSION.get(version.category_code)
        if s.dimension is not None:
            s.dimension_score = diagnosis.dimension_scores[s.dimension]
            s.weakest = s.dimension in weakest
        result.append(s)
    return result


def _best(candidates: Iterable[Suggestion], taken: set[str]) -> Suggestion | None:
    return min(
        (s for s in candidates if s.version.category_code not in taken),
        key=lambda s: s.rank,
        default=None,
    )


def recommend(enterprise: Organisation, diagnosis: Diagnosis, locale: str = "zh") -> Recommendation:
    """A starter set of one package per kind: first one for each chosen pain point (in the
    order chosen), then one that lifts the weakest dimension if none does yet, then the next
    kinds by priority. Within the candidates for a place, the rank decides (``Suggestion.rank``)."""
    weakest = weakest_dimensions(diagnosis)
    first = priority_categories(diagnosis)[: STARTER_SIZE + 1]
    categories = list(
        dict.fromkeys(first + [c for d in weakest for c in qn.DIMENSION_CATEGORIES[d]])
    )
    # the catalogue's own search (its visibility rule and filters), by the chosen categories
    stmt = (
        search.matching(search.Query())
        .where(PackageVersion.category_code.in_(categories))
        .options(*ASSESSED)
    )
    ranked: dict[str, list[Suggestion]] = {c: [] for c in categories}
    for s in assess(enterprise, diagnosis, db.session.scalars(stmt), locale):
        if s.score > 0:
            ranked[s.version.category_code].append(s)
    for suggestions in ranked.values():
        suggestions.sort(key=lambda s: s.rank)
    fitting = [s for c in categories for s in ranked[c]]
    starter: list[Suggestion] = []
    taken: set[str] = set()

    def take(pick: Suggestion | None) -> None:
        if pick is not None and len(starter) < STARTER_SIZE:
            starter.append(pick)
            taken.add(pick.version.category_code)

    unanswered = []
    for pain in diagnosis.pain_points:
        if any(pain in s.pain_points for s in starter):
            continue
        pick = _best((s for s in fitting if pain in s.pain_points), taken)
        if pick is None:
            unanswered.append(pain)
        take(pick)
    if not any(s.weakest for s in starter):
        take(_best((s for s in fitting if s.weakest), taken))
    for category in first:
        if category not in taken and ranked[category]:
            take(ranked[category][0])
    alternatives = [
        s
        for c in categories
        for s in [s for s in ranked[c] if s not in starter][:ALTERNATIVES_PER_CATEGORY]
    ]
    return Recommendation(
        categories=categories,
        starter=starter,
        alternatives=alternatives,
        weakest=weakest,
        unanswered=unanswered,
        ranked=ranked,
    )
