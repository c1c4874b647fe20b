"""Advisors (数字化顾问) in the agencies' resource pools: an advisor applies, the agency admits
or rejects with a written reason, suspends, reinstates or removes it, like a provider.

Only an admitted advisor takes new on-site diagnosis requests (``admitted_advisors``);
the visits themselves belong to the diagnosis domain, above this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import atomic, db, move_status, utcnow
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.pool.models import (
    ADVISOR_POOL_MACHINE,
    AdvisorMembership,
    AdvisorStatusChange,
    PoolEvent,
    PoolStatus,
)
from marketplace.pool.services import REASON_REQUIRED
from marketplace.security import Actor

TOLD = {
    PoolEvent.ADMIT: "advisor_pool_admitted",
    PoolEvent.REJECT: "advisor_pool_rejected",
    PoolEvent.SUSPEND: "advisor_pool_suspended",
    PoolEvent.REINSTATE: "advisor_pool_reinstated",
    PoolEvent.EXIT: "advisor_pool_exited",
}


@dataclass(frozen=True)
class AdvisorQualification:
    years_of_experience: int
    expertise: str
    certifications: str
    contact_name: str
    contact_phone: str
    contact_email: str


def memberships_of(advisor: Organisation) -> list[AdvisorMembership]:
    stmt = (
        select(AdvisorMembership)
        .where(AdvisorMembership.advisor_id == advisor.id)
        .options(selectinload(AdvisorMembership.history))
        .order_by(AdvisorMembership.id)
    )
    return list(db.session.scalars(stmt))


def _record(
    membership: AdvisorMembership,
    before: PoolStatus | None,
    event: PoolEvent,
    reason: str,
    actor: Actor,
) -> None:
    db.session.add(
        AdvisorStatusChange(
            membership_id=membership.id,
            from_status=before,
            to_status=membership.status,
            event=event,
            reason=reason,
            actor_user_id=actor.user_id,
        )
    )
    audit.record(
        actor,
        f"advisor_pool.{event.value}",
        "advisor_membership",
        membership.id,
        advisor_id=membership.advisor_id,
        agency_id=membership.agency_id,
        status=membership.status.value,
        reason=reason,
    )


@atomic
def apply(
    advisor: Organisation, agency_id: int, q: AdvisorQualification, actor: Actor
) -> AdvisorMembership:
    """An advisor applies to an agency's pool, or applies again after a rejection."""
    if advisor.kind is not OrgKind.ADVISOR:
        raise DomainError(_l("Only advisors apply to a pool as advisors."))
    agency = db.session.get(Organisation, agency_id)
    if agency is None or agency.kind is not OrgKind.AGENCY:
        raise NotFound(_l("Not found."))
    if not q.expertise.strip():
        raise DomainError(_l("Describe your expertise."), field="expertise")
    membership = db.session.scalar(
        select(AdvisorMembership).where(
            AdvisorMembership.advisor_id == advisor.id, AdvisorMembership.agency_id == agency.id
        )
    )
    if membership is None:
        event, before = PoolEvent.APPLY, None
        membership = AdvisorMembership(advisor=advisor, agency=agency)
    elif membership.status is PoolStatus.REJECTED:
        event, before = PoolEvent.REAPPLY, PoolStatus.REJECTED
    else:
        raise DomainError(
            _l(
                "You are already in this pool's records (status: %(status)s).",
                status=membership.status.label,
            )
        )
    membership.status = ADVISOR_POOL_MACHINE.next_state(before, event, OrgKind.ADVISOR.value)
    membership.years_of_experience = q.years_of_experience
    membership.expertise = q.expertise.strip()
    membership.certifications = q.certifications.strip()
    membership.contact_name = q.contact_name.strip()
    membership.contact_phone = q.contact_phone.strip()
    membership.contact_email = q.contact_email.strip().lower()
    membership.applied_at = membership.updated_at = utcnow()
    db.session.add(membership)
    db.session.flush()
    _record(membership, before, event, "", actor)
    notifications.notify(
        agency.id,
        "advisor_pool_applied",
        f"/agency/advisors/{membership.id}",
        advisor=advisor.name,
    )
    return membership


def membership_for_agency(agency: Organisation, membership_id: int) -> AdvisorMembership:
    """Only officials of the agency that runs the pool see an advisor's application."""
    return get_owned(AdvisorMembership, membership_id, agency_id=agency.id)


@atomic
def decide(membership: AdvisorMembership, event: PoolEvent, reason: str, actor: Actor) -> None:
    """An agency official admits, rejects, suspends, reinstates or removes an advisor, always
    with a written reason the advisor sees."""
    if actor.org_id != membership.agency_id:
        raise NotFound(_l("Not found."))
    reason = reason.strip()
    if event in REASON_REQUIRED and not reason:
        raise DomainError(_l("Give a written reason; the advisor will see it."), field="reason")
    before = membership.status
    after = ADVISOR_POOL_MACHINE.next_state(before, event, OrgKind.AGENCY.value)
    # Only from the status this official saw: two decisions at once cannot both apply.
    move_status(
        membership,
        before,
        changed=_l("Someone decided on this application meanwhile. Reload the page."),
        status=after,
        updated_at=utcnow(),
    )
    _record(membership, before, event, reason, actor)
    if event in TOLD:
        notifications.notify(
            membership.advisor_id,
            TOLD[event],
            "/advisor/pools",
            agency=membership.agency.name,
            reason=reason,
        )


def queue(agency: Organisation, status: PoolStatus | None = None) -> list[AdvisorMembership]:
    """The advisors' memberships in an agency's pool (one query, advisors joined)."""
    stmt = select(AdvisorMembership).where(AdvisorMembership.agency_id == agency.id)
    if status is not None:
        stmt = stmt.where(AdvisorMembership.status == status)
    return list(db.session.scalars(stmt.order_by(AdvisorMembership.applied_at)))


def admitted_advisors(agency_ids: set[int]) -> list[AdvisorMembership]:
    """The admitted memberships in these agencies' pools, an advisor's first pool first (one
    query): whom an enterprise of these agencies may ask for an on-site diagnosis."""
    if not agency_ids:
        return []
    stmt = (
        select(AdvisorMembership)
        .where(
            AdvisorMembership.agency_id.in_(agency_ids),
            AdvisorMembership.status == PoolStatus.ADMITTED,
        )
        .order_by(AdvisorMembership.advisor_id, AdvisorMembership.agency_id)
    )
    return list(db.session.scalars(stmt))


def admitted_membership(advisor_id: int, agency_id: int) -> AdvisorMembership | None:
    """The advisor's membership in the agency's pool if it is admitted there now."""
    return db.session.scalar(
        select(AdvisorMembership).where(
            AdvisorMembership.advisor_id == advisor_id,
            AdvisorMembership.agency_id == agency_id,
            AdvisorMembership.status == PoolStatus.ADMITTED,
        )
    )
