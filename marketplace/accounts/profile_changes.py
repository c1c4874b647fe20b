"""Verified profile fields: an enterprise's industry, region, headcount and revenue decide which
voucher programmes it may apply to, so it cannot change them by itself (issue 16).

A change is kept as a pending ``ProfileChange``; the organisation's columns keep the verified
values (which eligibility reads) until an official of an agency whose jurisdiction covers the
enterprise's current verified region approves it. Where no agency covers that region the
platform administrator decides. A region must always lie within the division that registered
the enterprise's credit code. Approving changes only the enterprise's columns: vouchers
already applied for or issued are not touched; only later eligibility checks see new values.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from marketplace import audit, notifications
from marketplace.accounts import credit_code
from marketplace.accounts.models import (
    VERIFIED_FIELDS,
    ChangeStatus,
    Industry,
    Organisation,
    OrgKind,
    ProfileChange,
    Region,
)
from marketplace.db import add_unique, atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

QUEUE_LINK = "/verification/profile-changes"
CODE_FIELDS = ("industry_code", "region_code")  # the others are whole numbers
PROFILE_LINK = "/org/profile"


def check_region_matches_code(code: str | None, region: str, field: str = "region_code") -> None:
    """Refuse a region outside the division encoded in characters 3–8 of the credit code."""
    if not credit_code.matches_region(code, region):
        raise DomainError(
            _l(
                "This region does not lie within the division that registered the unified"
                " social credit code (%(division)s).",
                division=credit_code.division(code) or "—",
            ),
            field=field,
        )


def value_names(locale: str) -> dict[str, dict[str, str]]:
    """How a change's coded values read: per field, code → name in ``locale``."""
    return {
        "industry_code": {i.code: i.name(locale) for i in db.session.scalars(select(Industry))},
        "region_code": {r.code: r.name(locale) for r in db.session.scalars(select(Region))},
    }


def agencies() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.AGENCY)))


def covering_agencies(
    region: str | None, among: list[Organisation] | None = None
) -> list[Organisation]:
    """The agencies whose jurisdiction takes in this region (pilot cities run by agencies)."""
    if not region:
        return []
    return [
        a
        for a in (agencies() if among is None else among)
        if a.jurisdiction and credit_code.region_within(region, a.jurisdiction)
    ]


def covers(
    official_org: Organisation, enterprise: Organisation, among: list[Organisation] | None = None
) -> bool:
    """Whether an official's organisation decides this enterprise's profile changes: an
    agency for its jurisdiction, the platform where no agency's jurisdiction reaches."""
    if official_org.kind is OrgKind.AGENCY:
        area = official_org.jurisdiction
        return bool(
            area
            and enterprise.region_code
            and credit_code.region_within(enterprise.region_code, area)
        )
    if official_org.kind is OrgKind.PLATFORM:
        return not covering_agencies(enterprise.region_code, among)
    return False


def _as_text(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def pending_of(org: Organisation) -> list[ProfileChange]:
    stmt = (
        select(ProfileChange)
        .where(ProfileChange.org_id == org.id, ProfileChange.status == ChangeStatus.PENDING)
        .order_by(ProfileChange.id)
    )
    return list(db.session.scalars(stmt))


def history_of(org: Organisation) -> list[ProfileChange]:
    stmt = (
        select(ProfileChange)
        .where(ProfileChange.org_id == org.id)
        .order_by(ProfileChange.id.desc())
    )
    return list(db.session.scalars(stmt))


def request_changes(org: Organisation, wanted: dict[str, int | str], actor: Actor) -> list[str]:
    """Store a pending change for each verified field whose wanted value differs from the
    verified one (and from what is already waiting). Returns the fields now pending anew.

    Raises a ``DomainError`` on the field for a region outside the credit code's division,
    or when a different change of the same field is already waiting."""
    pending = {c.field: c for c in pending_of(org)}
    requested = []
    for field, value in wanted.items():
        if field not in VERIFIED_FIELDS:
            raise ValueError(field)
        new = _as_text(value)
        if new == _as_text(getattr(org, field)):
            continue
        waiting = pending.get(field)
        if waiting is not None:
            if waiting.new_value == new:
                continue
            raise DomainError(
                _l("A change of this field is already waiting for verification."),
                field="annual_revenue" if field == "annual_revenue_fen" else field,
            )
        if field == "region_code":
            if db.session.get(Region, str(value)) is None:
                raise DomainError(_l("Choose a region from the list."), field="region_code")
            check_region_matches_code(org.credit_code, str(value))
        if field == "industry_code" and db.session.get(Industry, str(value)) is None:
            raise DomainError(_l("Choose an industry from the list."), field="industry_code")
        change = ProfileChange(
            org=org,
            field=field,
            old_value=_as_text(getattr(org, field)),
            new_value=new or "",
            requested_by_id=actor.user_id,
        )
        if not add_unique(change):  # another tab asked for a change of it at the same moment
            raise DomainError(
                _l("A change of this field is already waiting for verification."),
                field="annual_revenue" if field == "annual_revenue_fen" else field,
            )
        audit.record(
            actor,
            "profile_change.requested",
            "organisation",
            org.id,
            change_id=change.id,
            field=field,
            old=change.old_value,
            new=change.new_value,
        )
        requested.append(field)
    if requested:
        reviewers = [a.id for a in covering_agencies(org.region_code)] or [
            p.id
            for p in db.session.scalars(
                select(Organisation).where(Organisation.kind == OrgKind.PLATFORM)
            )
        ]
        for reviewer in reviewers:
            notifications.notify(
                reviewer, "profile_change_requested", QUEUE_LINK, enterprise=org.name
            )
    return requested


def queue(official_org: Organisation) -> list[ProfileChange]:
    """Pending changes this official's organisation decides, oldest first."""
    stmt = (
        select(ProfileChange)
        .where(ProfileChange.status == ChangeStatus.PENDING)
        .order_by(ProfileChange.requested_at, ProfileChange.id)
    )
    among = agencies()
    return [c for c in db.session.scalars(stmt) if covers(official_org, c.org, among)]


def decidable(official_org: Organisation, change_id: int) -> ProfileChange:
    """A change this official may see and decide; anything else is not found (404)."""
    change = db.session.get(ProfileChange, change_id)
    if change is None or not covers(official_org, change.org):
        raise NotFound(_l("Not found."))
    return change


def enterprise_for(official_org: Organisation, org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None or org.kind is not OrgKind.ENTERPRISE or not covers(official_org, org):
        raise NotFound(_l("Not found."))
    return org


@atomic
def decide(change: ProfileChange, approve: bool, note: str, actor: Actor) -> None:
    """Approve (the verified column takes the new value) or reject (a reason is needed).
    Deciding twice is refused, even when two officials decide at the same moment."""
    note = note.strip()
    if not approve and not note:
        raise DomainError(_l("Give the reason for the rejection."), field="note")
    org = change.org
    if approve and change.field == "region_code":
        check_region_matches_code(org.credit_code, change.new_value, field="note")
    status = ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED
    claimed = db.session.execute(
        update(ProfileChange)
        .where(ProfileChange.id == change.id, ProfileChange.status == ChangeStatus.PENDING)
        .values(status=status, decided_by_id=actor.user_id, decided_at=utcnow(), note=note or None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This change has already been decided."))
    db.session.refresh(change)
    details: dict[str, object] = {
        "change_id": change.id,
        "field": change.field,
        "old": change.old_value,
        "new": change.new_value,
    }
    if approve:
        before = org.size_tier
        value: int | str = (
            change.new_value if change.field in CODE_FIELDS else int(change.new_value)
        )
        setattr(org, change.field, value)
        details["size_tier_before"] = before.value if before else None
        details["size_tier"] = org.size_tier.value if org.size_tier else None
    audit.record(actor, f"profile_change.{status.value}", "organisation", org.id, **details)
    notifications.notify(
        org.id,
        "profile_change_decided",
        PROFILE_LINK,
        field=change.field,
        outcome=status.value,
    )
