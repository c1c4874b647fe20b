"""An enterprise shares a diagnosis report with an agency, and revokes it.

It may share with the agency of its region and with an agency whose voucher programme it
holds a voucher of or applied to. Programmes live in the vouchers domain, above this one;
the app factory connects their answer with ``agencies_with`` (none connected: only the
region's agency). An official opens a shared report only while the share stands; every
opening is audited.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import db, utcnow
from marketplace.diagnosis.models import Diagnosis, ReportShare
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

notifications.register_kinds(
    {
        "diagnosis_report_shared": _l(
            "%(enterprise)s shared its diagnosis report with your agency: open it to see its"
            " maturity against its peers and its roadmap."
        )
    },
    group="organisation",
)

AgencyFinder = Callable[[int], set[int]]
_finders: list[AgencyFinder] = []


def agencies_with(finder: AgencyFinder) -> None:
    if finder not in _finders:
        _finders.append(finder)


def _region_agencies(enterprise: Organisation) -> set[int]:
    """The agencies whose jurisdiction is the enterprise's region or the city it lies in."""
    region = enterprise.region_code
    if not region:
        return set()
    places = {region, region[:4] + "00"}
    candidates = db.session.scalars(
        select(Organisation).where(
            Organisation.kind == OrgKind.AGENCY,
            or_(Organisation.region_code.in_(places), Organisation.region_code.is_(None)),
        )
    )
    return {a.id for a in candidates if a.jurisdiction in places}


def eligible_agencies(enterprise: Organisation) -> list[Organisation]:
    ids = _region_agencies(enterprise)
    for finder in _finders:
        ids |= finder(enterprise.id)
    if not ids:
        return []
    stmt = (
        select(Organisation)
        .where(Organisation.id.in_(ids), Organisation.kind == OrgKind.AGENCY)
        .order_by(Organisation.name, Organisation.id)
    )
    return list(db.session.scalars(stmt))


def shares_of(diagnosis: Diagnosis) -> list[ReportShare]:
    stmt = (
        select(ReportShare)
        .where(ReportShare.diagnosis_id == diagnosis.id)
        .order_by(ReportShare.created_at, ReportShare.id)
    )
    return list(db.session.scalars(stmt))


def share(diagnosis: Diagnosis, agency_id: int | None, actor: Actor) -> ReportShare:
    """Share the report with one of the enterprise's eligible agencies (again, if revoked)."""
    if agency_id not in {a.id for a in eligible_agencies(diagnosis.enterprise)}:
        raise DomainError(
            _l("Choose an agency of your region or of a voucher programme you hold or applied to."),
            field="agency_id",
        )
    existing = db.session.scalar(
        select(ReportShare).where(
            ReportShare.diagnosis_id == diagnosis.id, ReportShare.agency_id == agency_id
        )
    )
    if existing is not None and existing.active:
        raise DomainError(_l("The report is already shared with this agency."), field="agency_id")
    if existing is None:
        existing = ReportShare(diagnosis_id=diagnosis.id, agency_id=agency_id)
        db.session.add(existing)
    existing.shared_by_id = actor.user_id
    existing.created_at = utcnow()
    existing.revoked_at = None
    db.session.flush()
    audit.record(actor, "diagnosis.report_shared", "diagnosis", diagnosis.id, agency_id=agency_id)
    notifications.notify(
        agency_id,
        "diagnosis_report_shared",
        f"/agency/diagnosis-reports/{diagnosis.id}",
        enterprise=diagnosis.enterprise.name,
    )
    return existing


def revoke(diagnosis: Diagnosis, share_id: int, actor: Actor) -> ReportShare:
    found = db.session.get(ReportShare, share_id)
    if found is None or found.diagnosis_id != diagnosis.id:
        raise NotFound(_l("Not found."))
    if not found.active:
        raise DomainError(_l("This share is already revoked."))
    found.revoked_at = utcnow()
    audit.record(
        actor,
        "diagnosis.report_share_revoked",
        "diagnosis",
        diagnosis.id,
        agency_id=found.agency_id,
    )
    return found


def shared_with(agency: Organisation, diagnosis_id: int, actor: Actor) -> Diagnosis:
    """The diagnosis whose report is shared with the agency, its opening audited; 404 for a
    report never shared with it or revoked."""
    found = db.session.scalar(
        select(ReportShare).where(
            ReportShare.diagnosis_id == diagnosis_id,
            ReportShare.agency_id == agency.id,
            ReportShare.revoked_at.is_(None),
        )
    )
    if found is None:
        raise NotFound(_l("Not found."))
    audit.record(
        actor,
        "diagnosis.report_viewed",
        "diagnosis",
        diagnosis_id,
        enterprise_id=found.diagnosis.enterprise_id,
    )
    return found.diagnosis


def shared_with_agency(agency: Organisation) -> list[ReportShare]:
    """The reports standing shared with the agency, newest first (its officials' list)."""
    stmt = (
        select(ReportShare)
        .where(ReportShare.agency_id == agency.id, ReportShare.revoked_at.is_(None))
        .order_by(ReportShare.created_at.desc(), ReportShare.id.desc())
    )
    return list(db.session.scalars(stmt))
