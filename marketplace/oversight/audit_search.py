"""The audit trail as officials search it: by actor, organisation, action, object and period,
within the organisations their agency oversees, and exported as CSV.

Officials see entries made by their own agency, by providers that applied to its pool, and
by enterprises holding its vouchers; nobody else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, String, func, select, union

from marketplace import csvfile
from marketplace.accounts.models import Organisation, User
from marketplace.audit import AuditEntry, action_label
from marketplace.db import LOCAL_ZONE, contains_pattern, db
from marketplace.pool.models import PoolMembership
from marketplace.vouchers.models import Voucher, VoucherProgramme

MAX_EXPORT = 50_000


@dataclass(frozen=True)
class Query:
    actor: str = ""  # part of a user's e-mail or name
    organisation: str = ""  # part of an organisation's name, or its credit code
    action: str = ""  # an action code or its beginning ("voucher", "settlement.paid")
    object_type: str = ""
    object_id: str = ""
    since: date | None = None
    until: date | None = None


def overseen(agency: Organisation) -> Select[int]:
    return select(Organisation.id).where(
        Organisation.id.in_(
            union(
                select(Organisation.id).where(Organisation.id == agency.id),
                select(PoolMembership.provider_id).where(PoolMembership.agency_id == agency.id),
                select(Voucher.enterprise_id)
                .join(VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
                .where(VoucherProgramme.agency_id == agency.id),
            )
        )
    )


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_ZONE)


def search_stmt(agency: Organisation, q: Query) -> Select[AuditEntry]:
    own_programmes = select(func.cast(VoucherProgramme.id, String)).where(
        VoucherProgramme.agency_id == agency.id
    )
    stmt = select(AuditEntry).where(
        AuditEntry.actor_org_id.in_(overseen(agency))
        | (  # scheduled jobs' entries about the agency's own programmes
            AuditEntry.actor_org_id.is_(None)
            & (AuditEntry.object_type == "programme")
            & AuditEntry.object_id.in_(own_programmes)
        )
    )
    if q.actor.strip():
        pattern = contains_pattern(q.actor.strip().lower())
        users = select(User.id).where(
            func.lower(User.email).like(pattern, escape="\\")
            | func.lower(User.name).like(pattern, escape="\\")
        )
        stmt = stmt.where(AuditEntry.actor_user_id.in_(users))
    if q.organisation.strip():
        text = q.organisation.strip()
        orgs = select(Organisation.id).where(
            Organisation.name.like(contains_pattern(text), escape="\\")
            | (Organisation.credit_code == text.upper())
        )
        stmt = stmt.where(AuditEntry.actor_org_id.in_(orgs))
    if q.action.strip():
        stmt = stmt.where(AuditEntry.action.like(q.action.strip().replace("%", "") + "%"))
    if q.object_type.strip():
        stmt = stmt.where(AuditEntry.object_type == q.object_type.strip())
    if q.object_id.strip():
        stmt = stmt.where(AuditEntry.object_id == q.object_id.strip())
    if q.since is not None:
        stmt = stmt.where(AuditEntry.at >= _local_start(q.since))
    if q.until is not None:
        stmt = stmt.where(AuditEntry.at < _local_start(q.until + timedelta(days=1)))
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def search(agency: Organisation, q: Query, page: int = 1, per_page: int = 50) -> list[AuditEntry]:
    stmt = search_stmt(agency, q).limit(per_page).offset((page - 1) * per_page)
    return list(db.session.scalars(stmt))


def who(entries: list[AuditEntry]) -> tuple[dict[int, User], dict[int, Organisation]]:
    users = {
        u.id: u
        for u in db.session.scalars(
            select(User).where(User.id.in_({e.actor_user_id for e in entries if e.actor_user_id}))
        )
    }
    orgs = {
        o.id: o
        for o in db.session.scalars(
            select(Organisation).where(
                Organisation.id.in_({e.actor_org_id for e in entries if e.actor_org_id})
            )
        )
    }
    return users, orgs


def as_csv(agency: Organisation, q: Query) -> str:
    entries = list(db.session.scalars(search_stmt(agency, q).limit(MAX_EXPORT)))
    users, orgs = who(entries)
    header = [
        "at",
        "actor",
        "organisation",
        "action",
        "action_label",
        "object_type",
        "object_id",
        "ip",
        "details",
    ]
    rows = []
    for e in entries:
        user, org = users.get(e.actor_user_id or 0), orgs.get(e.actor_org_id or 0)
        rows.append(
            [
                e.at.astimezone(LOCAL_ZONE).isoformat(timespec="seconds"),
                user.email if user else "",
                org.name if org else "",
                e.action,
                action_label(e.action),
                e.object_type,
                e.object_id,
                e.ip,
                e.details or "",
            ]
        )
    return csvfile.write([header, *rows])
