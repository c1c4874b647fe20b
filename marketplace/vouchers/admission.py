"""Package admission (准入, issue 22): a package version becomes voucher-eligible in a programme
only once the programme's agency, or the assessor organisation it delegates, admits it against
the programme's published criteria, with a reason the provider sees.

- A version without a decision in a programme waits (待审): it is listed and can be ordered,
  but that programme's vouchers do not pay for it (``spending`` asks ``admitted_pairs``).
- A new version that changes only texts keeps its predecessor's admissions: when it is
  published (``catalog.services.publish`` calls ``inherit``), an ``inherit`` row is written for each programme that admitted the version it
  replaces (``catalog.services.material_changes`` says what is material: price plans, scope,
  interfaces). A rejected predecessor is not inherited: the new version waits for review.
- One decision per (programme, version): the state machine is data (``ADMISSION_MACHINE``),
  the UNIQUE key refuses a second decision even at the same moment, and each decision writes
  a history row and an audit entry and tells the provider.
- Nobody decides on their own organisation's package, and an assessor affiliated with the
  provider (the same legal representative or bank account) is refused.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.catalog import voucher_states
from marketplace.catalog.models import Package, PackageVersion, VersionStatus
from marketplace.db import add_unique, atomic, db, local_today
from marketplace.errors import DomainError, NotFound
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import (
    ADMISSION_MACHINE,
    AVAILABLE,
    DECIDER,
    SYSTEM_ACTOR,
    AdmissionChange,
    AdmissionEvent,
    AdmissionState,
    PackageAdmission,
    ProgrammeMode,
    ProgrammeStatus,
    Voucher,
    VoucherProgramme,
    VoucherStatus,
)

MAX_REASON = 2000
MAX_CRITERIA = 4000

# --- who decides ----------------------------------------------------------------------------


def may_decide(programme: VoucherProgramme, org: Organisation | None) -> bool:
    """The programme's agency, or the assessor organisation it delegated admission to."""
    if org is None:
        return False
    if org.kind is OrgKind.AGENCY:
        return org.id == programme.agency_id
    return org.kind is OrgKind.ASSESSOR and org.id == programme.admission_assessor_id


def affiliated(decider: Organisation, provider: Organisation) -> bool:
    """Whether the deciding organisation is the provider, or the same people under another
    name: the same registered legal representative or the same bank account."""
    if decider.id == provider.id:
        return True

    def same(a: str | None, b: str | None) -> bool:
        return bool(a and b and a.strip() and a.strip() == b.strip())

    return same(decider.legal_representative, provider.legal_representative) or same(
        decider.bank_account, provider.bank_account
    )


def deciding_programmes(org: Organisation) -> list[VoucherProgramme]:
    """The programmes whose admissions ``org`` decides: those whose vouchers can still be
    spent (a closed programme issues no more vouchers, but those issued pay until its
    redeem-by date), and drafts, whose admissions can be prepared."""
    if org.kind is OrgKind.AGENCY:
        who = VoucherProgramme.agency_id == org.id
    elif org.kind is OrgKind.ASSESSOR:
        who = VoucherProgramme.admission_assessor_id == org.id
    else:
        return []
    stmt = (
        select(VoucherProgramme)
        .where(who, VoucherProgramme.redeem_by >= local_today())
        .order_by(VoucherProgramme.id)
    )
    return list(db.session.scalars(stmt))


@atomic
def set_rules(
    programme: VoucherProgramme, criteria: str, assessor_id: int | None, actor: Actor
) -> VoucherProgramme:
    """The agency publishes its admission criteria and (optionally) delegates the decisions
    to an assessor organisation."""
    criteria = criteria.strip()
    if not criteria:
        raise DomainError(
            _l("Publish the criteria packages are admitted against."), field="criteria"
        )
    if len(criteria) > MAX_CRITERIA:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_CRITERIA), field="criteria")
    if assessor_id is not None:
        assessor = db.session.get(Organisation, assessor_id)
        if assessor is None or assessor.kind is not OrgKind.ASSESSOR:
            raise DomainError(_l("Choose a third-party assessor."), field="assessor_id")
    programme.admission_criteria = criteria
    programme.admission_assessor_id = assessor_id
    db.session.flush()
    audit.record(
        actor,
        "programme.admission_rules",
        "programme",
        programme.id,
        assessor_id=assessor_id,
        criteria=criteria,
    )
    return programme


def assessors() -> list[Organisation]:
    stmt = (
        select(Organisation)
        .where(Organisation.kind == OrgKind.ASSESSOR)
        .order_by(Organisation.name)
    )
    return list(db.session.scalars(stmt))


# --- what is admitted where -----------------------------------------------------------------


def admitted_pairs(
    programme_ids: Iterable[int], version_ids: Iterable[int]
) -> set[tuple[int, int]]:
    """Which (programme, version) pairs of these are admitted (one query)."""
    programme_ids, version_ids = list(programme_ids), list(version_ids)
    if not programme_ids or not version_ids:
        return set()
    rows = db.session.execute(
        select(PackageAdmission.programme_id, PackageAdmission.version_id).where(
            PackageAdmission.programme_id.in_(programme_ids),
            PackageAdmission.version_id.in_(version_ids),
            PackageAdmission.state == AdmissionState.ADMITTED,
        )
    )
    return {(pid, vid) for pid, vid in rows}


def decisions(version_ids: Iterable[int]) -> dict[tuple[int, int], PackageAdmission]:
    """The rows of these versions in every programme, by (programme, version)."""
    version_ids = list(version_ids)
    if not version_ids:
        return {}
    stmt = select(PackageAdmission).where(PackageAdmission.version_id.in_(version_ids))
    return {(a.programme_id, a.version_id): a for a in db.session.scalars(stmt)}


def _pool_admitted(agency_ids: Iterable[int], provider_ids: Iterable[int]) -> set[tuple[int, int]]:
    agency_ids, provider_ids = list(agency_ids), list(provider_ids)
    if not agency_ids or not provider_ids:
        return set()
    rows = db.session.execute(
        select(PoolMembership.agency_id, PoolMembership.provider_id).where(
            PoolMembership.agency_id.in_(agency_ids),
            PoolMembership.provider_id.in_(provider_ids),
            PoolMembership.status == PoolStatus.ADMITTED,
        )
    )
    return {(a, p) for a, p in rows}


def _concerns(
    programme: VoucherProgramme, version: PackageVersion, pooled: set[tuple[int, int]]
) -> bool:
    """Whether the programme's vouchers could pay for the version at all (so it needs a
    decision there): its category is covered and, in open mode, its provider is in the
    agency's pool (in integrator mode the integrators' bundles may hold any package)."""
    if programme.category_codes and version.category_code not in programme.category_codes:
        return False
    if programme.mode is ProgrammeMode.OPEN:
        return (programme.agency_id, version.package.provider_id) in pooled
    return True


def _live_programmes() -> list[VoucherProgramme]:
    """Programmes whose vouchers can be spent (as ``spending.spendable`` has it): shown on
    package pages."""
    stmt = (
        select(VoucherProgramme)
        .where(
            VoucherProgramme.status != ProgrammeStatus.DRAFT,
            VoucherProgramme.redeem_by >= local_today(),
        )
        .order_by(VoucherProgramme.id)
    )
    return list(db.session.scalars(stmt))


@dataclass
class Standing:
    """A version's standing in one programme, for the package pages."""

    programme: VoucherProgramme
    admission: PackageAdmission | None

    @property
    def state(self) -> AdmissionState:
        return self.admission.state if self.admission else AdmissionState.PENDING

    @property
    def admitted(self) -> bool:
        return self.state is AdmissionState.ADMITTED

    @property
    def reason(self) -> str:
        """The decision's reason as the provider reads it (a system row: its event's label)."""
        if self.admission is None:
            return ""
        if self.admission.event in (AdmissionEvent.ADMIT, AdmissionEvent.REJECT):
            return self.admission.reason
        return self.admission.event.label


def standings(version: PackageVersion) -> list[Standing]:
    """The version's state in each live programme that could pay for it."""
    programmes = _live_programmes()
    if not programmes:
        return []
    pooled = _pool_admitted({p.agency_id for p in programmes}, [version.package.provider_id])
    rows = decisions([version.id])
    return [
        Standing(p, rows.get((p.id, version.id)))
        for p in programmes
        if _concerns(p, version, pooled)
    ]


def admitted_programme_ids(version_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each of these versions, the programmes that admitted it (one query)."""
    version_ids = list(version_ids)
    found: dict[int, set[int]] = defaultdict(set)
    if not version_ids:
        return found
    rows = db.session.execute(
        select(PackageAdmission.version_id, PackageAdmission.programme_id).where(
            PackageAdmission.version_id.in_(version_ids),
            PackageAdmission.state == AdmissionState.ADMITTED,
        )
    )
    for vid, pid in rows:
        found[vid].add(pid)
    return found


# --- the deciders' queue --------------------------------------------------------------------


@dataclass
class Waiting:
    programme: VoucherProgramme
    version: PackageVersion

    @property
    def since(self) -> datetime:
        return _pending_since(self.programme, self.version)


def _pending_since(programme: VoucherProgramme, version: PackageVersion) -> datetime:
    published = version.published_at or version.created_at
    return max(published, programme.created_at)


def queue(
    org: Organisation, programme_id: int | None = None, details: bool = True
) -> list[Waiting]:
    """The published versions waiting for ``org``'s decision, the longest waiting first: a
    few queries however many (the catalogue's visible versions once, with ``details`` their
    plans and interfaces in one query each)."""
    programmes = [
        p for p in deciding_programmes(org) if programme_id is None or p.id == programme_id
    ]
    if not programmes:
        return []
    options = [selectinload(PackageVersion.package).joinedload(Package.provider)]
    if details:
        options += [
            selectinload(PackageVersion.plans),
            selectinload(PackageVersion.interfaces),
        ]
    stmt = (
        catalog.visible_versions()
        .options(*options)
        .order_by(PackageVersion.published_at, PackageVersion.id)
    )
    versions = list(db.session.scalars(stmt))
    decided = {
        (pid, vid)
        for pid, vid in db.session.execute(
            select(PackageAdmission.programme_id, PackageAdmission.version_id).where(
                PackageAdmission.programme_id.in_([p.id for p in programmes])
            )
        )
    }
    pooled = _pool_admitted(
        {p.agency_id for p in programmes}, {v.package.provider_id for v in versions}
    )
    waiting = [
        Waiting(p, v)
        for p in programmes
        for v in versions
        if (p.id, v.id) not in decided and _concerns(p, v, pooled)
    ]
    return sorted(waiting, key=lambda w: (w.since, w.programme.id, w.version.id))


def waiting_by_programme(org: Organisation) -> dict[VoucherProgramme, list[Waiting]]:
    """The waiting versions of each of ``org``'s programmes (for its to-do list)."""
    found: dict[VoucherProgramme, list[Waiting]] = defaultdict(list)
    for w in queue(org, details=False):
        found[w.programme].append(w)
    return found


def waiting_for(org: Organisation, programme_id: int, version_id: int) -> Waiting:
    """One waiting version of ``org``'s programme; anything else: not found."""
    programme = db.session.get(VoucherProgramme, programme_id)
    version = db.session.get(PackageVersion, version_id)
    if programme is None or version is None or not may_decide(programme, org):
        raise NotFound(_l("Not found."))
    return Waiting(programme, version)


# --- deciding -------------------------------------------------------------------------------

_DECIDED = _l("This version was already decided in this programme; its decision stands.")


@atomic
def decide(
    programme: VoucherProgramme,
    version: PackageVersion,
    admit: bool,
    reason: str,
    decider: Organisation,
    actor: Actor,
) -> PackageAdmission:
    """Admit (or not) a published version in the programme, with a reason kept and shown to
    the provider. Refused, with nothing stored: no reason, someone who does not decide this
    programme's admissions, a decider affiliated with the provider, no published criteria,
    a programme past its redeem-by date, a version not published, or a second decision."""
    if not may_decide(programme, decider):
        raise NotFound(_l("Not found."))
    reason = reason.strip()
    if not reason:
        raise DomainError(
            _l("Give the reason for the decision; the provider will see it."), field="reason"
        )
    if len(reason) > MAX_REASON:
        raise DomainError(_l("At most %(n)d characters.", n=MAX_REASON), field="reason")
    provider = version.package.provider
    if affiliated(decider, provider):
        raise DomainError(
            _l(
                "You cannot decide on this package: your organisation is its provider or"
                " affiliated with it (the same legal representative or bank account). Another"
                " official of the agency decides."
            )
        )
    if not programme.admission_criteria.strip():
        raise DomainError(
            _l("The programme publishes no admission criteria yet: publish them first.")
        )
    if programme.redeem_by < local_today():
        raise DomainError(_l("The programme's vouchers can no longer be spent."))
    if version.status is not VersionStatus.PUBLISHED:
        raise DomainError(_l("Only a published version can be admitted."))
    event_ = AdmissionEvent.ADMIT if admit else AdmissionEvent.REJECT
    existing = db.session.scalar(
        select(PackageAdmission).where(
            PackageAdmission.programme_id == programme.id,
            PackageAdmission.version_id == version.id,
        )
    )
    current = existing.state if existing else AdmissionState.PENDING
    try:
        state = ADMISSION_MACHINE.next_state(current, event_, DECIDER)
    except DomainError:
        raise DomainError(_DECIDED) from None
    row = PackageAdmission(
        programme_id=programme.id,
        version_id=version.id,
        package_id=version.package_id,
        state=state,
        event=event_,
        reason=reason,
        criteria=programme.admission_criteria,
        decided_by_id=actor.user_id,
        decider_org_id=decider.id,
        pending_since=_pending_since(programme, version),
    )
    if not add_unique(row):  # decided at the same moment by someone else
        raise DomainError(_DECIDED)
    db.session.add(
        AdmissionChange(
            admission_id=row.id,
            from_state=current,
            to_state=state,
            event=event_,
            reason=reason,
            actor_user_id=actor.user_id,
        )
    )
    db.session.flush()
    audit.record(
        actor,
        f"admission.{event_.value}",
        "package",
        version.package_id,
        programme_id=programme.id,
        version=version.number,
        reason=reason,
    )
    notifications.notify(
        provider.id,
        "admission_admitted" if admit else "admission_rejected",
        f"/provider/packages/{version.package_id}",
        package=version.title,
        version=str(version.number),
        programme=programme.name,
        reason=reason,
    )
    return row


# --- a text-only new version keeps its predecessor's admissions -----------------------------


def inherit(version: PackageVersion) -> None:
    """Called where a version is published (``catalog.services.publish``, connected by
    ``connect``): a text-only change keeps the admissions of the version it replaces; a
    material change (or a rejected predecessor) waits for review."""
    previous = catalog.previous_published(version)
    if previous is None or catalog.material_changes(previous, version):
        return
    sources = db.session.scalars(
        select(PackageAdmission).where(
            PackageAdmission.version_id == previous.id,
            PackageAdmission.state == AdmissionState.ADMITTED,
        )
    )
    for source in list(sources):
        state = ADMISSION_MACHINE.next_state(
            AdmissionState.PENDING, AdmissionEvent.INHERIT, SYSTEM_ACTOR
        )
        row = PackageAdmission(
            programme_id=source.programme_id,
            version_id=version.id,
            package_id=version.package_id,
            state=state,
            event=AdmissionEvent.INHERIT,
            reason=f"v{previous.number}: {source.reason}",
            criteria=source.criteria,
            inherited_from_id=source.id,
            pending_since=version.published_at or version.created_at,
        )
        row.history.append(
            AdmissionChange(
                from_state=AdmissionState.PENDING,
                to_state=state,
                event=AdmissionEvent.INHERIT,
                reason=row.reason,
            )
        )
        db.session.add(row)
    db.session.flush()


def connect() -> None:
    """The catalogue sits below vouchers and knows nothing of admissions: the app factory
    connects inheritance on publication and what the catalogue's pages show of admissions."""
    catalog.on_published(inherit)
    voucher_states.connect(standings, history_of, card_notes_for)


# --- what a signed-in enterprise's catalogue cards say --------------------------------------


def card_notes_for(
    enterprise_id: int, version_ids: Sequence[int]
) -> dict[int, list[voucher_states.CardNote]]:
    """Per version of a catalogue page, the programmes of the enterprise's spendable vouchers
    that could pay for it but have not admitted it (待准入) or rejected it (未准入): one
    grouped statement however many cards (versions × the enterprise's programmes)."""
    if not version_ids:
        return {}
    held = select(Voucher.programme_id).where(
        Voucher.enterprise_id == enterprise_id,
        Voucher.status == VoucherStatus.ACTIVE,
        AVAILABLE > 0,
    )
    pooled = (
        select(PoolMembership.id)
        .where(
            PoolMembership.agency_id == VoucherProgramme.agency_id,
            PoolMembership.provider_id == Package.provider_id,
            PoolMembership.status == PoolStatus.ADMITTED,
        )
        .exists()
    )
    rows = db.session.execute(
        select(PackageVersion.id, PackageVersion.category_code, VoucherProgramme, pooled)
        .join(Package, Package.id == PackageVersion.package_id)
        .join(
            VoucherProgramme,
            VoucherProgramme.id.in_(held)
            & (VoucherProgramme.status != ProgrammeStatus.DRAFT)
            & (VoucherProgramme.redeem_by >= local_today()),
        )
        .outerjoin(
            PackageAdmission,
            (PackageAdmission.version_id == PackageVersion.id)
            & (PackageAdmission.programme_id == VoucherProgramme.id),
        )
        .add_columns(PackageAdmission.state)
        .where(PackageVersion.id.in_(list(version_ids)))
        .order_by(PackageVersion.id, VoucherProgramme.id)
    )
    notes: dict[int, list[voucher_states.CardNote]] = defaultdict(list)
    for version_id, category, programme, in_pool, state in rows:
        if state is AdmissionState.ADMITTED:
            continue
        if programme.category_codes and category not in programme.category_codes:
            continue  # its vouchers never pay for this category: nothing to wait for
        if programme.mode is ProgrammeMode.OPEN and not in_pool:
            continue  # nor for a provider outside the agency's pool
        notes[version_id].append(
            voucher_states.CardNote(programme.name, state is AdmissionState.REJECTED)
        )
    return notes


# --- figures for /transparency --------------------------------------------------------------


@dataclass
class Decisions:
    admitted: int = 0
    rejected: int = 0
    median_days: float | None = None


def decision_figures(programme_ids: Iterable[int]) -> dict[int, Decisions]:
    """Per programme: versions admitted and not admitted by a decider (inherited and
    backfilled rows are not decisions), and the median days from waiting to decision."""
    programme_ids = list(programme_ids)
    found: dict[int, Decisions] = {pid: Decisions() for pid in programme_ids}
    if not programme_ids:
        return found
    rows = db.session.execute(
        select(
            PackageAdmission.programme_id,
            PackageAdmission.state,
            PackageAdmission.pending_since,
            PackageAdmission.decided_at,
        ).where(
            PackageAdmission.programme_id.in_(programme_ids),
            PackageAdmission.event.in_((AdmissionEvent.ADMIT, AdmissionEvent.REJECT)),
        )
    )
    days: dict[int, list[float]] = defaultdict(list)
    for pid, state, since, at in rows:
        figures = found[pid]
        if state is AdmissionState.ADMITTED:
            figures.admitted += 1
        else:
            figures.rejected += 1
        days[pid].append(max((at - since).total_seconds(), 0) / 86400)
    for pid, values in days.items():
        found[pid].median_days = round(statistics.median(values), 1)
    return found


def history_of(package: Package) -> list[PackageAdmission]:
    """Every decision on the package's versions, newest first (the provider's page)."""
    stmt = (
        select(PackageAdmission)
        .where(PackageAdmission.package_id == package.id)
        .options(selectinload(PackageAdmission.history))
        .order_by(PackageAdmission.decided_at.desc(), PackageAdmission.id.desc())
    )
    return list(db.session.scalars(stmt))


def rejected_current(provider: Organisation) -> list[tuple[PackageAdmission, Package]]:
    """Rejections of the provider's packages' current published versions: to change them."""
    stmt = (
        select(PackageAdmission, Package)
        .join(Package, Package.id == PackageAdmission.package_id)
        .where(
            Package.provider_id == provider.id,
            PackageAdmission.version_id == Package.published_version_id,
            PackageAdmission.state == AdmissionState.REJECTED,
        )
        .order_by(PackageAdmission.decided_at)
    )
    return [(a, p) for a, p in db.session.execute(stmt).all()]


# --- a programme's admissions, for the open API ---------------------------------------------


def programme_standings(
    programme: VoucherProgramme, state: AdmissionState | None = None
) -> list[tuple[PackageVersion, Standing]]:
    """The catalogue's published versions the programme's vouchers could pay for, each with
    its standing there (pending, admitted or rejected), by package id; with ``state`` only
    those in it. Three queries however many."""
    stmt = (
        catalog.visible_versions()
        .options(selectinload(PackageVersion.package).joinedload(Package.provider))
        .order_by(Package.id)
    )
    versions = list(db.session.scalars(stmt))
    pooled = _pool_admitted([programme.agency_id], {v.package.provider_id for v in versions})
    rows = {
        a.version_id: a
        for a in db.session.scalars(
            select(PackageAdmission).where(PackageAdmission.programme_id == programme.id)
        )
    }
    found = [
        (v, Standing(programme, rows.get(v.id)))
        for v in versions
        if _concerns(programme, v, pooled)
    ]
    return [(v, s) for v, s in found if state is None or s.state is state]
