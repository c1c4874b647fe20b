"""Data grants (数据授权): an enterprise lets one provider, agency or assessor see parts of its
data (profile, measurements, KPI reports, tickets) for a period, and may revoke it at any time.
Without an active grant covering the scope those objects are not found; each view of granted
data is logged for the enterprise to read.

Only an organisation with a reason to see the data may be granted it: a provider the
enterprise ordered from, an agency whose vouchers or programmes it holds, an assessor of
those agencies' evaluations or of its outcome measurements. Those relations live in the
domains above this one; the app factory connects their answer with ``relate_with`` (none
connected: nobody may be granted)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from marketplace import audit, notifications
from marketplace.accounts.models import DataAccess, DataGrant, GrantScope, Organisation, OrgKind
from marketplace.db import LOCAL_ZONE, db, local_today, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

GRANTEE_KINDS = (OrgKind.PROVIDER, OrgKind.AGENCY, OrgKind.ASSESSOR)
MAX_DAYS = 2 * 366

# enterprise id -> ids of the organisations with a reason to see its data
RelatedFinder = Callable[[int], Iterable[int]]
_finders: list[RelatedFinder] = []


def relate_with(finder: RelatedFinder) -> None:
    if finder not in _finders:
        _finders.append(finder)


def related_ids(enterprise_id: int) -> set[int]:
    """The organisations with a reason to see the enterprise's data (see the module's words)."""
    found: set[int] = set()
    for finder in _finders:
        found.update(finder(enterprise_id))
    found.discard(enterprise_id)
    return found


@dataclass(frozen=True)
class GrantTerms:
    grantee_id: int
    scopes: frozenset[GrantScope]
    starts_on: date
    ends_on: date
    purpose: str = ""


def grant(enterprise: Organisation, terms: GrantTerms, actor: Actor) -> DataGrant:
    if actor.org_id != enterprise.id or enterprise.kind is not OrgKind.ENTERPRISE:
        raise NotFound(_l("Not found."))
    grantee = db.session.get(Organisation, terms.grantee_id)
    if (
        grantee is None
        or grantee.kind not in GRANTEE_KINDS
        or grantee.id not in related_ids(enterprise.id)
    ):
        raise DomainError(
            _l(
                "Choose an organisation from the list: your providers, your agencies and their"
                " assessors."
            ),
            field="grantee",
        )
    if not terms.scopes:
        raise DomainError(_l("Choose at least one kind of data to share."), field="scopes")
    if terms.starts_on > terms.ends_on:
        raise DomainError(_l("The access must end after it starts."), field="ends_on")
    if terms.ends_on < local_today():
        raise DomainError(_l("The access would already have ended."), field="ends_on")
    if terms.ends_on - terms.starts_on > timedelta(days=MAX_DAYS):
        raise DomainError(_l("Grant access for two years at most."), field="ends_on")
    g = DataGrant(
        enterprise_id=enterprise.id,
        grantee_id=grantee.id,
        starts_on=terms.starts_on,
        ends_on=terms.ends_on,
        purpose=terms.purpose.strip(),
        created_by_id=actor.user_id,
        **{s.value: s in terms.scopes for s in GrantScope},
    )
    db.session.add(g)
    db.session.flush()
    notifications.notify(
        grantee.id,
        "data_granted",
        "/shared-data",
        enterprise=enterprise.name,
        until=g.ends_on.isoformat(),
    )
    audit.record(
        actor,
        "data_grant.created",
        "data_grant",
        g.id,
        grantee_id=grantee.id,
        scopes=sorted(s.value for s in terms.scopes),
        period=f"{g.starts_on}/{g.ends_on}",
    )
    return g


def revoke(g: DataGrant, actor: Actor) -> None:
    if actor.org_id != g.enterprise_id:
        raise NotFound(_l("Not found."))
    if g.revoked_at is not None:
        raise DomainError(_l("This access is already revoked."))
    g.revoked_at = utcnow()
    g.revoked_by_id = actor.user_id
    audit.record(actor, "data_grant.revoked", "data_grant", g.id, grantee_id=g.grantee_id)


def grant_of(enterprise: Organisation, grant_id: int) -> DataGrant:
    g = db.session.get(DataGrant, grant_id)
    if g is None or g.enterprise_id != enterprise.id:
        raise NotFound(_l("Not found."))
    return g


def grants_of(enterprise: Organisation) -> list[DataGrant]:
    stmt = (
        select(DataGrant)
        .where(DataGrant.enterprise_id == enterprise.id)
        .order_by(DataGrant.revoked_at.is_not(None), DataGrant.ends_on.desc(), DataGrant.id.desc())
    )
    return list(db.session.scalars(stmt))


def _active() -> list[object]:
    today = local_today()
    return [
        DataGrant.revoked_at.is_(None),
        DataGrant.starts_on <= today,
        DataGrant.ends_on >= today,
    ]


def grants_to(grantee: Organisation) -> list[DataGrant]:
    """The grants a provider or assessor holds today."""
    stmt = (
        select(DataGrant)
        .where(DataGrant.grantee_id == grantee.id, *_active())  # type: ignore[arg-type]
        .order_by(DataGrant.enterprise_id, DataGrant.id)
    )
    return list(db.session.scalars(stmt))


def require(viewer: Organisation, enterprise_id: int, scope: GrantScope) -> DataGrant:
    """The viewer's active grant from the enterprise covering the scope; otherwise not found."""
    stmt = (
        select(DataGrant)
        .where(
            DataGrant.grantee_id == viewer.id,
            DataGrant.enterprise_id == enterprise_id,
            getattr(DataGrant, scope.value).is_(True),
            *_active(),  # type: ignore[arg-type]
        )
        .order_by(DataGrant.ends_on.desc())
        .limit(1)
    )
    g = db.session.scalar(stmt)
    if g is None:
        raise NotFound(_l("Not found."))
    return g


def log_view(
    g: DataGrant, scope: GrantScope, object_type: str, object_id: object, actor: Actor
) -> None:
    """Write the view to the enterprise's access log; the first view by this grantee on a day
    (the pilots' day) also tells the enterprise, so it hears of it without a message per
    page."""
    today = local_today()
    midnight = datetime.combine(today, time(), LOCAL_ZONE)
    seen_today = db.session.scalar(
        select(
            exists().where(
                DataAccess.enterprise_id == g.enterprise_id,
                DataAccess.viewer_org_id == actor.org_id,
                DataAccess.at >= midnight,
            )
        )
    )
    if not seen_today:
        viewer = db.session.get(Organisation, actor.org_id)
        notifications.notify(
            g.enterprise_id,
            "data_grant_used",
            "/data-grants",
            viewer=viewer.name if viewer else "",
            scope=scope.value,
            day=today.isoformat(),
        )
    db.session.add(
        DataAccess(
            grant_id=g.id,
            enterprise_id=g.enterprise_id,
            viewer_org_id=actor.org_id,
            viewer_user_id=actor.user_id,
            scope=scope,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
        )
    )


def access_log(enterprise: Organisation, limit: int = 200) -> list[DataAccess]:
    stmt = (
        select(DataAccess)
        .where(DataAccess.enterprise_id == enterprise.id)
        .order_by(DataAccess.at.desc(), DataAccess.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def grantee_choices(enterprise: Organisation) -> list[Organisation]:
    """Whom the enterprise may grant access: the organisations with a reason to see its data."""
    ids = related_ids(enterprise.id)
    if not ids:
        return []
    stmt = (
        select(Organisation)
        .where(Organisation.id.in_(ids), Organisation.kind.in_(GRANTEE_KINDS))
        .order_by(Organisation.kind, Organisation.name)
    )
    return list(db.session.scalars(stmt))
