"""Diagnosing an enterprise's digital maturity and recommending a starter bundle.

Recommendations are explainable: every suggested package comes with the reasons it was
chosen, computed from the diagnosis, the enterprise's profile and the package's declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, ColumnExpressionArgument, exists, literal, select
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Organisation, OrgKind, SizeTier
from marketplace.catalog import search
from marketplace.catalog.models import Deployment, Package, PackageVersion, PlanKind
from marketplace.db import db
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis.models import Diagnosis
from marketplace.errors import DomainError, get_owned
from marketplace.security import Actor

MAX_PAIN_POINTS = 3
STARTER_SIZE = 3
ALTERNATIVES_PER_CATEGORY = 2
LIGHTWEIGHT_TIERS = {SizeTier.MICRO, SizeTier.SMALL}


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
    version: PackageVersion
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    categories: list[str]
    starter: list[Suggestion]
    alternatives: list[Suggestion]


def priority_categories(diagnosis: Diagnosis) -> list[str]:
    """Pain points first, in the order chosen, then the weakest dimensions."""
    ordered: list[str] = []
    for pain in diagnosis.pain_points:
        ordered += qn.PAIN_POINTS[pain][1]
    weakest = sorted(diagnosis.dimension_scores.items(), key=lambda item: (item[1], item[0]))
    for dimension, _score in weakest:
        ordered += qn.DIMENSION_CATEGORIES[dimension]
    return list(dict.fromkeys(ordered))


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
    package = version.package
    if package.rating_count >= 3 and package.rating_sum >= 4 * package.rating_count:
        s.score += 2
        s.reasons.append(
            str(
                _l(
                    "rated %(rating)s by %(n)d verified buyers",
                    rating=package.rating,
                    n=package.rating_count,
                )
            )
        )
    if package.results_met:
        s.score += min(package.results_met, 3)
        s.reasons.append(
            str(
                _l(
                    "%(n)d pay-for-results contracts met on verified measurements",
                    n=package.results_met,
                )
            )
        )
    if any(plan.kind is PlanKind.OUTCOME for plan in version.plans):
        s.score += 1
        s.reasons.append(str(_l("can be paid for results")))
    return s


def recommend(enterprise: Organisation, diagnosis: Diagnosis, locale: str = "zh") -> Recommendation:
    categories = priority_categories(diagnosis)[: STARTER_SIZE + 1]
    budget_fen = qn.BUDGETS[diagnosis.budget][1]
    # One package should not take more than half of the year's budget.
    per_item_budget = None if budget_fen is None else budget_fen // 2
    # the catalogue's own search (its visibility rule and filters), by the chosen categories
    stmt = (
        search.matching(search.Query())
        .where(PackageVersion.category_code.in_(categories))
        .options(
            selectinload(PackageVersion.plans),
            selectinload(PackageVersion.industries),
            selectinload(PackageVersion.size_tier_rows),
            selectinload(PackageVersion.package).joinedload(Package.provider),
        )
    )
    by_category: dict[str, list[Suggestion]] = {c: [] for c in categories}
    for version in db.session.scalars(stmt):
        by_category[version.category_code].append(
            _score(version, enterprise, per_item_budget, locale)
        )
    for suggestions in by_category.values():
        suggestions.sort(key=lambda s: (-s.score, s.version.entry_price_fen, s.version.id))
    starter: list[Suggestion] = []
    alternatives: list[Suggestion] = []
    for category in categories:
        ranked = [s for s in by_category[category] if s.score > 0]
        if ranked and len(starter) < STARTER_SIZE:
            starter.append(ranked[0])
            alternatives += ranked[1 : 1 + ALTERNATIVES_PER_CATEGORY]
        else:
            alternatives += ranked[:ALTERNATIVES_PER_CATEGORY]
    return Recommendation(categories=categories, starter=starter, alternatives=alternatives)
