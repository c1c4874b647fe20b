"""On-site diagnosis by an advisor (顾问上门诊断).

An enterprise asks, from one of its diagnoses, an advisor admitted to the pool of an agency
it belongs to: the agencies it may share its report with (its region's agency and those of
the voucher programmes it holds or applied to, ``sharing.eligible_agencies``). The advisor
accepts or declines with a reason, visits, and records findings per maturity dimension and
recommendations: they become a section of that diagnosis' report, which its agencies see
when it is shared. The enterprise then rates the advisor once (1–5), which closes the
request. Transitions follow ``VISIT_MACHINE`` and each writes a history row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import atomic, db, local_today, move_status, utcnow
from marketplace.diagnosis import questionnaire as qn
from marketplace.diagnosis import sharing
from marketplace.diagnosis.models import (
    VISIT_MACHINE,
    AdvisorVisit,
    Diagnosis,
    Priority,
    VisitEvent,
    VisitFinding,
    VisitStatus,
    VisitStatusChange,
)
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.pool import advisors as advisor_pool
from marketplace.pool.models import AdvisorMembership, PoolStatus
from marketplace.security import Actor

MAX_ADJUSTMENT = 50  # points a finding may suggest to move a dimension's score, either way
CHANGED = _l("This request changed meanwhile. Reload the page.")


@dataclass(frozen=True)
class Rating:
    average: float
    count: int


@dataclass(frozen=True)
class Choice:
    """An advisor an enterprise may ask: its membership in one eligible pool, its rating."""

    membership: AdvisorMembership
    rating: Rating | None


@dataclass(frozen=True)
class FindingInput:
    dimension: str
    text: str
    score_adjustment: int | None = None
    priority: str | None = None


def ratings(advisor_ids: list[int]) -> dict[int, Rating]:
    """Each advisor's average rating and the number of ratings (one grouped query)."""
    if not advisor_ids:
        return {}
    stmt = (
        select(AdvisorVisit.advisor_id, func.avg(AdvisorVisit.rating), func.count())
        .where(AdvisorVisit.advisor_id.in_(advisor_ids), AdvisorVisit.rating.is_not(None))
        .group_by(AdvisorVisit.advisor_id)
    )
    return {
        advisor_id: Rating(round(float(avg), 1), count)
        for advisor_id, avg, count in db.session.execute(stmt)
    }


def choices(enterprise: Organisation) -> list[Choice]:
    """The admitted advisors of the pools of the enterprise's agencies, each advisor once
    (through its first such pool), with its rating: a fixed number of queries."""
    agencies = {a.id for a in sharing.eligible_agencies(enterprise)}
    seen: dict[int, AdvisorMembership] = {}
    for m in advisor_pool.admitted_advisors(agencies):
        seen.setdefault(m.advisor_id, m)
    rated = ratings(list(seen))
    found = [Choice(m, rated.get(advisor_id)) for advisor_id, m in seen.items()]
    return sorted(found, key=lambda c: (-(c.rating.average if c.rating else 0), c.membership.id))


def _history(
    visit: AdvisorVisit, before: VisitStatus | None, event: VisitEvent, reason: str, actor: Actor
) -> None:
    db.session.add(
        VisitStatusChange(
            visit_id=visit.id,
            from_status=before,
            to_status=visit.status,
            event=event,
            reason=reason,
            actor_user_id=actor.user_id,
        )
    )
    audit.record(
        actor,
        f"visit.{event.value}",
        "advisor_visit",
        visit.id,
        advisor_id=visit.advisor_id,
        enterprise_id=visit.enterprise_id,
        status=visit.status.value,
        reason=reason,
    )


def _move(
    visit: AdvisorVisit,
    event: VisitEvent,
    kind: OrgKind,
    reason: str,
    actor: Actor,
    **values: object,
) -> None:
    before = visit.status
    after = VISIT_MACHINE.next_state(before, event, kind.value)
    move_status(visit, before, changed=CHANGED, status=after, updated_at=utcnow(), **values)
    _history(visit, before, event, reason, actor)


@atomic
def request(
    diagnosis: Diagnosis,
    membership_id: int | None,
    preferred_date: date | None,
    note: str,
    actor: Actor,
) -> AdvisorVisit:
    """The enterprise asks an advisor admitted to one of its agencies' pools for an on-site
    diagnosis on or after a day that is not past."""
    enterprise = diagnosis.enterprise
    if actor.org_id != enterprise.id:
        raise NotFound(_l("Not found."))
    membership = db.session.get(AdvisorMembership, membership_id) if membership_id else None
    agencies = {a.id for a in sharing.eligible_agencies(enterprise)}
    if (
        membership is None
        or membership.status is not PoolStatus.ADMITTED
        or membership.agency_id not in agencies
    ):
        raise DomainError(
            _l(
                "Choose an advisor admitted to the resource pool of one of your agencies;"
                " this one is not (or no longer) admitted."
            ),
            field="membership_id",
        )
    if preferred_date is None:
        raise DomainError(_l("Choose the day you would like the visit."), field="preferred_date")
    if preferred_date < local_today():
        raise DomainError(
            _l("The preferred date is past: choose today or a later day."), field="preferred_date"
        )
    visit = AdvisorVisit(
        diagnosis_id=diagnosis.id,
        enterprise_id=enterprise.id,
        advisor_id=membership.advisor_id,
        agency_id=membership.agency_id,
        status=VISIT_MACHINE.next_state(None, VisitEvent.REQUEST, OrgKind.ENTERPRISE.value),
        preferred_date=preferred_date,
        note=note.strip(),
    )
    db.session.add(visit)
    db.session.flush()
    _history(visit, None, VisitEvent.REQUEST, "", actor)
    notifications.notify(
        visit.advisor_id,
        "visit_requested",
        f"/advisor/visits/{visit.id}",
        enterprise=enterprise.name,
        day=preferred_date.isoformat(),
    )
    return visit


def visits_of_advisor(
    advisor: Organisation, status: VisitStatus | None = None
) -> list[AdvisorVisit]:
    stmt = select(AdvisorVisit).where(AdvisorVisit.advisor_id == advisor.id)
    if status is not None:
        stmt = stmt.where(AdvisorVisit.status == status)
    return list(db.session.scalars(stmt.order_by(AdvisorVisit.id.desc())))


def visits_of_enterprise(
    enterprise: Organisation, status: VisitStatus | None = None
) -> list[AdvisorVisit]:
    stmt = select(AdvisorVisit).where(AdvisorVisit.enterprise_id == enterprise.id)
    if status is not None:
        stmt = stmt.where(AdvisorVisit.status == status)
    return list(db.session.scalars(stmt.order_by(AdvisorVisit.id.desc())))


def visits_of_diagnosis(diagnosis: Diagnosis) -> list[AdvisorVisit]:
    stmt = (
        select(AdvisorVisit)
        .where(AdvisorVisit.diagnosis_id == diagnosis.id)
        .order_by(AdvisorVisit.id.desc())
    )
    return list(db.session.scalars(stmt))


def reported(diagnosis: Diagnosis) -> list[AdvisorVisit]:
    """The visits whose findings are recorded: the report's advisor section."""
    stmt = (
        select(AdvisorVisit)
        .where(
            AdvisorVisit.diagnosis_id == diagnosis.id,
            AdvisorVisit.status.in_([VisitStatus.VISITED, VisitStatus.CLOSED]),
        )
        .order_by(AdvisorVisit.visited_at, AdvisorVisit.id)
    )
    return list(db.session.scalars(stmt))


def visit_for_advisor(advisor: Organisation, visit_id: int) -> AdvisorVisit:
    """Another advisor's request is not found."""
    return get_owned(AdvisorVisit, visit_id, advisor_id=advisor.id)


def visit_for_enterprise(enterprise: Organisation, visit_id: int) -> AdvisorVisit:
    return get_owned(AdvisorVisit, visit_id, enterprise_id=enterprise.id)


def _own(visit: AdvisorVisit, actor: Actor) -> None:
    if actor.org_id != visit.advisor_id:
        raise NotFound(_l("Not found."))


@atomic
def accept(visit: AdvisorVisit, actor: Actor) -> None:
    _own(visit, actor)
    if advisor_pool.admitted_membership(visit.advisor_id, visit.agency_id) is None:
        raise DomainError(
            _l(
                "You are no longer admitted to the pool this request came through: you cannot"
                " take it. Decline it with a reason."
            )
        )
    _move(visit, VisitEvent.ACCEPT, OrgKind.ADVISOR, "", actor)
    notifications.notify(
        visit.enterprise_id,
        "visit_accepted",
        f"/diagnosis/visits/{visit.id}",
        advisor=visit.advisor.name,
        day=visit.preferred_date.isoformat(),
    )


@atomic
def decline(visit: AdvisorVisit, reason: str, actor: Actor) -> None:
    _own(visit, actor)
    reason = reason.strip()
    if not reason:
        raise DomainError(_l("Give a written reason; the enterprise will see it."), field="reason")
    _move(visit, VisitEvent.DECLINE, OrgKind.ADVISOR, reason, actor, decline_reason=reason)
    notifications.notify(
        visit.enterprise_id,
        "visit_declined",
        f"/diagnosis/visits/{visit.id}",
        advisor=visit.advisor.name,
        reason=reason,
    )


def _finding(given: FindingInput) -> VisitFinding | None:
    text = given.text.strip()
    if given.dimension not in qn.DIMENSIONS:
        raise DomainError(_l("Unknown maturity area."))
    field = f"finding_{given.dimension}"
    if not text:
        if given.score_adjustment is not None or given.priority:
            raise DomainError(
                _l("Write the finding that the adjustment or priority belongs to."), field=field
            )
        return None
    adjustment = given.score_adjustment
    if adjustment is not None and not -MAX_ADJUSTMENT <= adjustment <= MAX_ADJUSTMENT:
        raise DomainError(
            _l("Suggest an adjustment from -%(max)d to %(max)d points.", max=MAX_ADJUSTMENT),
            field=f"adjust_{given.dimension}",
        )
    if given.priority and given.priority not in Priority._value2member_map_:
        raise DomainError(
            _l("Choose a priority from the list."), field=f"priority_{given.dimension}"
        )
    return VisitFinding(
        dimension=given.dimension,
        text=text,
        score_adjustment=adjustment or None,
        priority=Priority(given.priority) if given.priority else None,
    )


@atomic
def record_findings(
    visit: AdvisorVisit, findings: list[FindingInput], recommendations: str, actor: Actor
) -> None:
    """The advisor who accepted the request records what it found, per maturity dimension,
    and its recommendations; they become part of the diagnosis report."""
    _own(visit, actor)
    rows = [row for row in (_finding(f) for f in findings) if row is not None]
    if not rows:
        raise DomainError(_l("Record a finding for at least one maturity area."))
    if len({r.dimension for r in rows}) != len(rows):
        raise DomainError(_l("One finding per maturity area."))
    _move(
        visit,
        VisitEvent.RECORD_FINDINGS,
        OrgKind.ADVISOR,
        "",
        actor,
        recommendations=recommendations.strip(),
        visited_at=utcnow(),
    )
    for row in rows:
        row.visit_id = visit.id
        db.session.add(row)
    db.session.flush()
    db.session.refresh(visit)
    notifications.notify(
        visit.enterprise_id,
        "visit_findings",
        f"/diagnosis/visits/{visit.id}",
        advisor=visit.advisor.name,
    )


@atomic
def rate(visit: AdvisorVisit, rating: int | None, comment: str, actor: Actor) -> None:
    """The enterprise rates the advisor once, after the findings are recorded; that closes
    the request. The conditional UPDATE (no rating yet) keeps it once."""
    if actor.org_id != visit.enterprise_id:
        raise NotFound(_l("Not found."))
    if visit.rating is not None:
        raise DomainError(_l("You have already rated this advisor for this visit."))
    if rating is None or not 1 <= rating <= 5:
        raise DomainError(_l("Rate from 1 to 5 stars."), field="rating")
    before = visit.status
    after = VISIT_MACHINE.next_state(before, VisitEvent.RATE, OrgKind.ENTERPRISE.value)
    now = utcnow()
    moved = db.session.execute(
        update(AdvisorVisit)
        .where(
            AdvisorVisit.id == visit.id,
            AdvisorVisit.status == before,
            AdvisorVisit.rating.is_(None),
        )
        .values(
            status=after,
            rating=rating,
            rating_comment=comment.strip(),
            rated_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("You have already rated this advisor for this visit."))
    db.session.refresh(visit)
    _history(visit, before, VisitEvent.RATE, "", actor)
