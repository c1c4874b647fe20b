"""The audit trail as officials search it: by actor, organisation (acting or acted on),
action and object by their names, and period, within the organisations their agency
oversees; shown and exported with every action and object named in the user's language.

Officials see entries made by their own agency, by providers that applied to its pool, and
by enterprises holding its vouchers; nobody else's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, String, false, func, or_, select, union

from marketplace import csvfile
from marketplace.accounts.models import ApiToken, DataGrant, Invitation, Organisation, User
from marketplace.audit import AuditEntry, action_label, actions_named
from marketplace.catalog.models import CuratedBundle, Package, PackageVersion, Review
from marketplace.db import LOCAL_ZONE, contains_pattern, db
from marketplace.diagnosis.models import AdvisorVisit, Diagnosis
from marketplace.orders.models import Bundle, Need, Order, OrderLine, Quote, Ticket, Trial
from marketplace.outcomes.models import OutcomeContract
from marketplace.oversight.models import EvaluationEntry, EvaluationRound, KpiReport
from marketplace.payments.models import Invoice
from marketplace.pool.models import AdvisorMembership, PoolMembership
from marketplace.security import MAX_ID
from marketplace.vouchers.models import (
    ClawBack,
    Reservation,
    RiskFlag,
    Settlement,
    Voucher,
    VoucherProgramme,
)

MAX_EXPORT = 50_000
BATCH = 500  # ids per lookup: a page needs one lookup per kind, an export a few


@dataclass(frozen=True)
class Query:
    actor: str = ""  # part of a user's e-mail or name
    organisation: str = ""  # part of a name, or a credit code: who acted, or was acted on
    action: str = ""  # part of an action's name (the user's language or English) or code
    object_type: str = ""  # a key of KINDS
    object_name: str = ""  # part of an object's number or name, or its id
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class Kind:
    """A kind of object the trail speaks of: its name for people, the columns that name one
    object (joined by " · "), and the organisations an entry about it acts on."""

    label: Any  # a lazy string
    model: Any  # the mapped class; its ``id`` is the entry's object_id
    name: tuple[Any, ...] = ()
    parties: tuple[Any, ...] = ()
    joins: tuple[tuple[Any, Any], ...] = ()  # (class, on) outer-joined for name and parties

    def select(self, *columns: Any) -> Select[Any]:
        stmt = select(*columns).select_from(self.model)
        for target, on in self.joins:
            stmt = stmt.outerjoin(target, on)
        return stmt

    def ids(self) -> Select[Any]:
        return self.select(func.cast(self.model.id, String))


KINDS: dict[str, Kind] = {
    "settlement": Kind(
        _l("Settlement"), Settlement, (Settlement.number,), (Settlement.provider_id,)
    ),
    "order": Kind(_l("Order"), Order, (Order.number,), (Order.enterprise_id,)),
    "order_line": Kind(
        _l("Order line"),
        OrderLine,
        (Order.number, OrderLine.title),
        (OrderLine.provider_id, Order.enterprise_id),
        ((Order, Order.id == OrderLine.order_id),),
    ),
    "programme": Kind(
        _l("Voucher programme"),
        VoucherProgramme,
        (VoucherProgramme.name,),
        (VoucherProgramme.agency_id,),
    ),
    "organisation": Kind(
        _l("Organisation"), Organisation, (Organisation.name,), (Organisation.id,)
    ),
    "voucher": Kind(_l("Voucher"), Voucher, (Voucher.code,), (Voucher.enterprise_id,)),
    "invoice": Kind(
        _l("Invoice"), Invoice, (Invoice.number,), (Invoice.provider_id, Invoice.enterprise_id)
    ),
    "user": Kind(_l("User account"), User, (User.name,), (User.org_id,)),
    "pool_membership": Kind(
        _l("Resource pool application"),
        PoolMembership,
        (Organisation.name,),
        (PoolMembership.provider_id, PoolMembership.agency_id),
        ((Organisation, Organisation.id == PoolMembership.provider_id),),
    ),
    "advisor_membership": Kind(
        _l("Advisor's resource pool application"),
        AdvisorMembership,
        (Organisation.name,),
        (AdvisorMembership.advisor_id, AdvisorMembership.agency_id),
        ((Organisation, Organisation.id == AdvisorMembership.advisor_id),),
    ),
    "advisor_visit": Kind(
        _l("On-site diagnosis"),
        AdvisorVisit,
        (Organisation.name,),
        (AdvisorVisit.enterprise_id, AdvisorVisit.advisor_id, AdvisorVisit.agency_id),
        ((Organisation, Organisation.id == AdvisorVisit.advisor_id),),
    ),
    "package": Kind(
        _l("Package"),
        Package,
        (PackageVersion.title,),
        (Package.provider_id,),
        ((PackageVersion, PackageVersion.id == Package.published_version_id),),
    ),
    "contract": Kind(
        _l("Outcome contract"),
        OutcomeContract,
        (OutcomeContract.title,),
        (OutcomeContract.enterprise_id, OutcomeContract.provider_id),
    ),
    "bundle": Kind(_l("Bundle"), Bundle, (Bundle.name,), (Bundle.enterprise_id,)),
    "curated_bundle": Kind(
        _l("Curated bundle"), CuratedBundle, (CuratedBundle.name,), (CuratedBundle.integrator_id,)
    ),
    "ticket": Kind(
        _l("Support ticket"),
        Ticket,
        (Order.number, OrderLine.title),
        (Ticket.enterprise_id, Ticket.provider_id),
        ((OrderLine, OrderLine.id == Ticket.line_id), (Order, Order.id == OrderLine.order_id)),
    ),
    "evaluation_round": Kind(
        _l("Evaluation round"),
        EvaluationRound,
        (EvaluationRound.name,),
        (EvaluationRound.agency_id,),
    ),
    "evaluation_entry": Kind(
        _l("Evaluation of a provider"),
        EvaluationEntry,
        (EvaluationRound.name, Organisation.name),
        (EvaluationEntry.provider_id,),
        (
            (EvaluationRound, EvaluationRound.id == EvaluationEntry.round_id),
            (Organisation, Organisation.id == EvaluationEntry.provider_id),
        ),
    ),
    "kpi_report": Kind(
        _l("KPI report"),
        KpiReport,
        (Order.number, OrderLine.title),
        (KpiReport.enterprise_id, KpiReport.provider_id),
        ((OrderLine, OrderLine.id == KpiReport.line_id), (Order, Order.id == OrderLine.order_id)),
    ),
    "risk_flag": Kind(
        _l("Risk flag"),
        RiskFlag,
        (Order.number, OrderLine.title),
        (Reservation.provider_id, Reservation.enterprise_id),
        (
            (Reservation, Reservation.id == RiskFlag.reservation_id),
            (OrderLine, OrderLine.id == Reservation.order_line_id),
            (Order, Order.id == OrderLine.order_id),
        ),
    ),
    "clawback": Kind(
        _l("Claw-back"),
        ClawBack,
        (Order.number, OrderLine.title),
        (Reservation.provider_id, Reservation.enterprise_id),
        (
            (Reservation, Reservation.id == ClawBack.reservation_id),
            (OrderLine, OrderLine.id == Reservation.order_line_id),
            (Order, Order.id == OrderLine.order_id),
        ),
    ),
    "diagnosis": Kind(_l("Diagnosis"), Diagnosis, (), (Diagnosis.enterprise_id,)),
    "review": Kind(_l("Review"), Review, (), (Review.enterprise_id,)),
    "data_grant": Kind(
        _l("Data access grant"), DataGrant, (), (DataGrant.enterprise_id, DataGrant.grantee_id)
    ),
    "api_token": Kind(_l("API token"), ApiToken, (ApiToken.name,), (ApiToken.org_id,)),
    "invitation": Kind(_l("Invitation"), Invitation, (), (Invitation.org_id,)),
    "need": Kind(_l("Need"), Need, (), (Need.enterprise_id,)),
    "quote": Kind(
        _l("Quote"),
        Quote,
        (Organisation.name,),
        (Quote.provider_id, Need.enterprise_id),
        (
            (Need, Need.id == Quote.need_id),
            (Organisation, Organisation.id == Quote.provider_id),
        ),
    ),
    "trial": Kind(
        _l("Trial"),
        Trial,
        (Organisation.name,),
        (Trial.enterprise_id, Trial.provider_id),
        ((Organisation, Organisation.id == Trial.enterprise_id),),
    ),
}


def kind_choices() -> list[tuple[str, str]]:
    """The kinds of object, by their names in the user's language."""
    return sorted(((code, str(k.label)) for code, k in KINDS.items()), key=lambda c: c[1])


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


def _about(kinds: Iterable[tuple[str, Kind]], where: Any) -> ColumnElement[bool]:
    """Entries about an object of one of ``kinds`` that ``where(kind)`` selects."""
    return or_(
        false(),
        *(
            (AuditEntry.object_type == code) & AuditEntry.object_id.in_(where(kind))
            for code, kind in kinds
        ),
    )


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
            func.lower(Organisation.name).like(contains_pattern(text.lower()), escape="\\")
            | (Organisation.credit_code == text.upper())
        )
        acted_on = _about(
            ((c, k) for c, k in KINDS.items() if k.parties),
            lambda k: k.ids().where(or_(*(party.in_(orgs) for party in k.parties))),
        )
        stmt = stmt.where(AuditEntry.actor_org_id.in_(orgs) | acted_on)
    if q.action.strip():
        text = q.action.strip()
        stmt = stmt.where(
            AuditEntry.action.in_(sorted(actions_named(text)))
            | func.lower(AuditEntry.action).like(contains_pattern(text.lower()), escape="\\")
        )
    if q.object_type.strip():
        stmt = stmt.where(AuditEntry.object_type == q.object_type.strip())
    if q.object_name.strip():
        text = q.object_name.strip()
        pattern = contains_pattern(text.lower())
        named = _about(
            ((c, k) for c, k in KINDS.items() if k.name),
            lambda k: k.ids().where(
                or_(*(func.lower(column).like(pattern, escape="\\") for column in k.name))
            ),
        )
        stmt = stmt.where(named | (AuditEntry.object_id == text))
    if q.since is not None:
        stmt = stmt.where(AuditEntry.at >= _local_start(q.since))
    if q.until is not None:
        stmt = stmt.where(AuditEntry.at < _local_start(q.until + timedelta(days=1)))
    return stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def search(agency: Organisation, q: Query, page: int = 1, per_page: int = 50) -> list[AuditEntry]:
    stmt = search_stmt(agency, q).limit(per_page).offset((page - 1) * per_page)
    return list(db.session.scalars(stmt))


def _batches(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), BATCH):
        yield ordered[start : start + BATCH]


def _number(object_id: str | None) -> int | None:
    if object_id and object_id.isascii() and object_id.isdigit() and int(object_id) <= MAX_ID:
        return int(object_id)
    return None


def who(entries: list[AuditEntry]) -> tuple[dict[int, User], dict[int, Organisation]]:
    """The acting users and organisations of ``entries``: one lookup each."""
    users: dict[int, User] = {}
    for batch in _batches({e.actor_user_id for e in entries if e.actor_user_id}):
        users.update((u.id, u) for u in db.session.scalars(select(User).where(User.id.in_(batch))))
    orgs: dict[int, Organisation] = {}
    for batch in _batches({e.actor_org_id for e in entries if e.actor_org_id}):
        orgs.update(
            (o.id, o)
            for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(batch)))
        )
    return users, orgs


@dataclass(frozen=True)
class Named:
    kind: str  # the kind of object in the user's language
    name: str  # its number or name; "#id" when it has none


def objects(entries: list[AuditEntry]) -> dict[int, Named]:
    """Entry id → its object by name: a settlement by its number, an order line by its
    order's number and its title, a programme or an organisation by its name. One lookup
    per kind of object among ``entries``, whatever their number."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for e in entries:
        number = _number(e.object_id)
        if e.object_type in KINDS and KINDS[e.object_type].name and number is not None:
            wanted[e.object_type].add(number)
    names: dict[tuple[str, int], str] = {}
    for code, ids in wanted.items():
        kind = KINDS[code]
        for batch in _batches(ids):
            rows = db.session.execute(
                kind.select(kind.model.id, *kind.name).where(kind.model.id.in_(batch))
            )
            for object_id, *parts in rows:
                if any(parts):
                    names[(code, object_id)] = " · ".join(str(part) for part in parts if part)
    found = {}
    for e in entries:
        known = KINDS.get(e.object_type)
        fallback = f"#{e.object_id}" if e.object_id else ""
        name = names.get((e.object_type, _number(e.object_id) or 0), fallback)
        found[e.id] = Named(str(known.label) if known else e.object_type, name)
    return found


def details_text(details: dict[str, Any] | None) -> str:
    """An entry's details as JSON a person can read (Chinese stays Chinese)."""
    if not details:
        return ""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)


def as_csv(agency: Organisation, q: Query) -> str:
    """The entries ``q`` finds, newest first, with headers in the user's language."""
    entries = list(db.session.scalars(search_stmt(agency, q).limit(MAX_EXPORT)))
    users, orgs = who(entries)
    named = objects(entries)
    header = [
        _("Time"),
        _("Actor's e-mail"),
        _("Organisation"),
        _("Action"),
        _("Action code"),
        _("Object type"),
        _("Object"),
        _("Object id"),
        _("IP address"),
        _("Details"),
    ]
    rows = []
    for e in entries:
        user, org = users.get(e.actor_user_id or 0), orgs.get(e.actor_org_id or 0)
        rows.append(
            [
                e.at.astimezone(LOCAL_ZONE).isoformat(timespec="seconds"),
                user.email if user else "",
                org.name if org else "",
                action_label(e.action),
                e.action,
                named[e.id].kind,
                named[e.id].name,
                e.object_id,
                e.ip,
                details_text(e.details),
            ]
        )
    return csvfile.write([header, *rows])
