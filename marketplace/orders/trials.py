"""Trials (试用): an enterprise tries a package on the trial offer of its published version
(days, a price of nothing or a discount, limits) before it orders.

Rules kept here:

- one trial per enterprise and package, ever (the provider's offer is one trial per
  customer): refused here with a clear message, and held by the UNIQUE key when two
  requests start one at the same moment;
- only an enterprise starts one, on a package in the catalogue whose published version offers
  a trial, never on a package of its own organisation; the terms (days, price, limits) are
  copied when it starts;
- a free trial costs nothing; a paid one is billed through a one-time order line of kind
  ``trial`` at the trial price (``services.place_trial_line``), invoiced like any one-time
  line when the enterprise accepts the set-up (验收). Vouchers never pay for trials: no
  reservation is made for that line;
- a trial moves by ``TRIAL_MACHINE``: live → ended (its days ran out, the scheduled job) /
  cancelled (the enterprise ended it early) / converted (the enterprise ordered the package
  while it was live or within ``CONVERT_WITHIN`` of its end, in the order's transaction);
  every move is conditional and writes a history row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from marketplace import audit, notifications, todos
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import services as catalog
from marketplace.catalog.models import PackageVersion, VersionStatus
from marketplace.db import LOCAL_ZONE, atomic, db, move_status, utcnow
from marketplace.errors import DomainError, get_owned
from marketplace.orders import services as orders
from marketplace.orders.models import (
    SYSTEM,
    TRIAL_MACHINE,
    E,
    Order,
    Trial,
    TrialEvent,
    TrialStatus,
    TrialStatusChange,
)
from marketplace.security import Actor

CONVERT_WITHIN = timedelta(days=30)  # an order this long after the trial ended converts it
REMIND_DAYS = 3  # the enterprise is told this many days before its trial ends
CHANGED = _l("This trial was changed meanwhile. Reload the page and try again.")
ONE_PER_CUSTOMER = _l(
    "You have already tried this package: its provider offers one trial per customer."
    " Order it to keep using it."
)


@dataclass(frozen=True)
class Offer:
    """A version's trial offer, as pages and the API show it."""

    days: int
    price_fen: int
    limits: str

    @property
    def free(self) -> bool:
        return self.price_fen == 0


def offer_of(version: PackageVersion) -> Offer | None:
    if version.trial_days is None:
        return None
    return Offer(version.trial_days, version.trial_price_fen, version.trial_limits)


def _history(trial: Trial, before: TrialStatus | None, event: TrialEvent, actor: Actor) -> None:
    db.session.add(
        TrialStatusChange(
            trial_id=trial.id,
            from_status=before,
            to_status=trial.status,
            event=event,
            actor_user_id=actor.user_id,
        )
    )


def _move(trial: Trial, event: TrialEvent, actor_kind: str, actor: Actor, **values: object) -> None:
    before = trial.status
    target = TRIAL_MACHINE.next_state(before, event, actor_kind)
    move_status(trial, before, changed=CHANGED, status=target, **values)
    _history(trial, before, event, actor)


def trial_of(enterprise: Organisation, package_id: int) -> Trial | None:
    """The enterprise's trial of this package, whatever its status (one at most)."""
    stmt = select(Trial).where(Trial.enterprise_id == enterprise.id, Trial.package_id == package_id)
    return db.session.scalar(stmt)


def _local_date(moment: datetime) -> str:
    return moment.astimezone(LOCAL_ZONE).date().isoformat()


@atomic
def start(enterprise: Organisation, package_id: int, actor: Actor) -> Trial:
    """Start the enterprise's trial of a package on its published version's offer. Refused,
    with nothing stored: an organisation that is not an enterprise, a package not in the
    catalogue or offering no trial, the enterprise's own package, a second trial."""
    if enterprise.kind is not OrgKind.ENTERPRISE:
        raise DomainError(_l("Only enterprises start trials."))
    package = catalog.public_package(package_id)
    version = package.published_version
    if version is None or version.status is not VersionStatus.PUBLISHED:
        raise DomainError(_l("This package is not in the catalogue."))
    offer = offer_of(version)
    if offer is None:
        raise DomainError(_l("This package offers no trial."))
    if package.provider_id == enterprise.id:
        raise DomainError(_l("You cannot try a package of your own organisation."))
    if trial_of(enterprise, package.id) is not None:
        raise DomainError(ONE_PER_CUSTOMER)
    line_id = None
    if offer.price_fen > 0:
        line_id = orders.place_trial_line(enterprise, version, offer.price_fen, actor).id
    now = utcnow()
    trial = Trial(
        enterprise_id=enterprise.id,
        package_id=package.id,
        version_id=version.id,
        provider_id=package.provider_id,
        status=TRIAL_MACHINE.next_state(None, TrialEvent.START, E),
        days=offer.days,
        price_fen=offer.price_fen,
        limits=offer.limits,
        started_at=now,
        ends_at=now + timedelta(days=offer.days),
        order_line_id=line_id,
        created_by_id=actor.user_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(trial)
            db.session.flush()
    except IntegrityError as exc:  # two starts at once: the UNIQUE key keeps one
        raise DomainError(ONE_PER_CUSTOMER) from exc
    _history(trial, None, TrialEvent.START, actor)
    audit.record(
        actor, "trial.started", "trial", trial.id, package_id=package.id, price_fen=offer.price_fen
    )
    notifications.notify(
        package.provider_id,
        "trial_started",
        "/provider/trials",
        enterprise=enterprise.name,
        days=offer.days,
        title=version.title,
        until=_local_date(trial.ends_at),
    )
    return trial


@atomic
def cancel(enterprise: Organisation, trial_id: int, actor: Actor) -> Trial:
    """The enterprise ends its live trial early."""
    trial = get_owned(Trial, trial_id, enterprise_id=enterprise.id)
    if trial.status is not TrialStatus.LIVE:
        raise DomainError(_l("Only a trial in progress can be ended."))
    _move(trial, TrialEvent.CANCEL, E, actor, ended_at=utcnow())
    audit.record(actor, "trial.cancelled", "trial", trial.id, package_id=trial.package_id)
    return trial


def convert_on_order(order: Order, actor: Actor) -> list[Trial]:
    """The order's package lines convert the enterprise's trials of their packages that are
    live, or ended within ``CONVERT_WITHIN``: called by checkout, in its transaction."""
    by_package = {
        line.package_id: line
        for line in order.lines
        if line.kind == "package" and line.package_id is not None
    }
    if not by_package:
        return []
    now = utcnow()
    found = db.session.scalars(
        select(Trial)
        .where(
            Trial.enterprise_id == order.enterprise_id,
            Trial.package_id.in_(by_package),
            (Trial.status == TrialStatus.LIVE)
            | ((Trial.status == TrialStatus.ENDED) & (Trial.ended_at >= now - CONVERT_WITHIN)),
        )
        .order_by(Trial.id)
    ).all()
    for trial in found:
        line = by_package[trial.package_id]
        values: dict[str, object] = {"converted_line_id": line.id}
        if trial.status is TrialStatus.LIVE:
            values["ended_at"] = now
        _move(trial, TrialEvent.CONVERT, E, actor, **values)
        audit.record(actor, "trial.converted", "trial", trial.id, line_id=line.id)
        notifications.notify(
            trial.provider_id,
            "trial_converted",
            f"/orders/{order.number}",
            enterprise=order.enterprise.name,
            title=line.title,
        )
    return list(found)


# --- the scheduled jobs: trials past their end, and the reminder before it ------------------


def due_for_expiry(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    stmt = select(Trial.id).where(Trial.status == TrialStatus.LIVE, Trial.ends_at <= now)
    return list(db.session.scalars(stmt.order_by(Trial.id)))


def expire_one(trial_id: int, actor: Actor, now: datetime | None = None) -> bool:
    """End one live trial past its end (a second run finds it moved: False)."""
    now = now or utcnow()
    trial = db.session.get(Trial, trial_id)
    if trial is None or trial.status is not TrialStatus.LIVE or trial.ends_at > now:
        return False
    _move(trial, TrialEvent.END, SYSTEM, actor, ended_at=now)
    audit.record(actor, "trial.ended", "trial", trial.id, package_id=trial.package_id)
    notifications.notify(trial.enterprise_id, "trial_ended", "/trials", title=trial.version.title)
    return True


TRIAL_ENDING = "trial_ending"


def _ending_soon(now: datetime) -> tuple[object, ...]:
    return (
        Trial.status == TrialStatus.LIVE,
        Trial.ends_at > now,
        Trial.ends_at <= now + timedelta(days=REMIND_DAYS),
    )


def due_for_reminder(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    stmt = select(Trial.id).where(
        *_ending_soon(now),  # type: ignore[arg-type]
        todos.not_reminded(TRIAL_ENDING, Trial.id),
    )
    return list(db.session.scalars(stmt.order_by(Trial.id)))


def remind_one(trial_id: int, now: datetime | None = None) -> bool:
    """Tell the enterprise, once, that its trial ends within ``REMIND_DAYS`` days."""
    now = now or utcnow()
    trial = db.session.get(Trial, trial_id)
    if trial is None or trial.status is not TrialStatus.LIVE:
        return False
    if not now < trial.ends_at <= now + timedelta(days=REMIND_DAYS):
        return False
    return todos.remind_once(
        TRIAL_ENDING,
        trial.id,
        trial.enterprise_id,
        trial.ends_at.astimezone(LOCAL_ZONE).date(),
        "/trials",
        title=trial.version.title,
    )


# --- what the pages show --------------------------------------------------------------------


def trials_of(enterprise: Organisation) -> list[Trial]:
    """The enterprise's trials, live first then newest (one query)."""
    stmt = (
        select(Trial)
        .where(Trial.enterprise_id == enterprise.id)
        .options(joinedload(Trial.version), joinedload(Trial.package))
        .order_by((Trial.status == TrialStatus.LIVE).desc(), Trial.id.desc())
    )
    return list(db.session.scalars(stmt).unique())


def ending_soon(enterprise: Organisation, now: datetime | None = None) -> list[Trial]:
    """The enterprise's live trials ending within ``REMIND_DAYS`` days (one query)."""
    stmt = (
        select(Trial)
        .where(Trial.enterprise_id == enterprise.id, *_ending_soon(now or utcnow()))  # type: ignore[arg-type]
        .options(joinedload(Trial.version))
        .order_by(Trial.ends_at)
    )
    return list(db.session.scalars(stmt).unique())


def days_left(trial: Trial, now: datetime | None = None) -> int:
    """Whole days left of a live trial, counting a part day as one; 0 once over."""
    if trial.status is not TrialStatus.LIVE:
        return 0
    left = trial.ends_at - (now or utcnow())
    return max(0, -(-left // timedelta(days=1)))


@dataclass(frozen=True)
class PackageConversion:
    """One package's trials: started, live, converted, ended without an order (ended or
    cancelled). The rate is converted ÷ finished (every trial no longer live), in basis
    points; None before any trial finished."""

    package_id: int
    title: str
    started: int
    live: int
    converted: int
    not_converted: int

    @property
    def finished(self) -> int:
        return self.converted + self.not_converted

    @property
    def rate_bp(self) -> int | None:
        return self.converted * 10_000 // self.finished if self.finished else None


def conversions(provider: Organisation) -> list[PackageConversion]:
    """The provider's packages that were tried, with their trial counts (one query)."""
    counts = {
        status: func.sum(case((Trial.status == status, 1), else_=0)) for status in TrialStatus
    }
    stmt = (
        select(
            Trial.package_id,
            func.count(Trial.id),
            counts[TrialStatus.LIVE],
            counts[TrialStatus.CONVERTED],
            counts[TrialStatus.ENDED],
            counts[TrialStatus.CANCELLED],
        )
        .where(Trial.provider_id == provider.id)
        .group_by(Trial.package_id)
    )
    rows = db.session.execute(stmt).all()
    titles = _titles([row[0] for row in rows])
    found = [
        PackageConversion(
            package_id=package_id,
            title=titles.get(package_id, f"#{package_id}"),
            started=int(started),
            live=int(live or 0),
            converted=int(converted or 0),
            not_converted=int(ended or 0) + int(cancelled or 0),
        )
        for package_id, started, live, converted, ended, cancelled in rows
    ]
    return sorted(found, key=lambda row: (-row.started, row.title))


def _titles(package_ids: list[int]) -> dict[int, str]:
    """Each package's title: its latest version's (one query)."""
    if not package_ids:
        return {}
    latest = (
        select(PackageVersion.package_id, func.max(PackageVersion.number).label("number"))
        .where(PackageVersion.package_id.in_(package_ids))
        .group_by(PackageVersion.package_id)
        .subquery()
    )
    stmt = select(PackageVersion.package_id, PackageVersion.title).join(
        latest,
        (latest.c.package_id == PackageVersion.package_id)
        & (latest.c.number == PackageVersion.number),
    )
    return {package_id: title for package_id, title in db.session.execute(stmt)}


def live_trials(provider: Organisation) -> list[Trial]:
    """The provider's live trials with their enterprises, soonest end first (one query)."""
    stmt = (
        select(Trial)
        .where(Trial.provider_id == provider.id, Trial.status == TrialStatus.LIVE)
        .options(joinedload(Trial.enterprise), joinedload(Trial.version))
        .order_by(Trial.ends_at, Trial.id)
    )
    return list(db.session.scalars(stmt).unique())
