"""Trials in the demo (issue 23): some published packages offer a free or discounted trial;
s01's packages were tried by several enterprises, some of which ordered afterwards (a
conversion rate worth reading), and e001 has a live trial, one ending within three days.

No random numbers: the offers and trials follow the packages' and lines' ids, so the rest of
the demo (seeded before) is not shifted."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from marketplace.accounts.models import Organisation, User
from marketplace.catalog.models import Package, PackageVersion
from marketplace.db import clock_at, db
from marketplace.demo import advisors_seed, clock
from marketplace.orders import bundles, trials
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, Order, OrderLine, Trial
from marketplace.security import Actor

SYSTEM = Actor(None, None, "job")

LIMITS = [
    "最多接入 5 台设备，不含二次开发",
    "限 1 条产线、3 个账号，数据保留 30 天",
    "仅含标准报表，不含现场实施",
]


def _user(email: str) -> User:
    return advisors_seed.owner(email)


def _enterprises(numbers: range) -> list[Organisation]:
    """The demo enterprises e080… of these numbers, by id."""
    stmt = (
        select(Organisation)
        .join(User, User.org_id == Organisation.id)
        .where(User.email.in_([f"e{n:03d}@enterprise.demo" for n in numbers]))
        .order_by(Organisation.id)
    )
    return list(db.session.scalars(stmt))


def _actor(org_id: int) -> Actor:
    owner = db.session.scalar(select(User).where(User.org_id == org_id).order_by(User.id))
    return Actor(owner.id if owner else None, org_id, "demo")


def _published(provider_id: int | None = None) -> list[PackageVersion]:
    stmt = (
        select(PackageVersion)
        .join(Package, Package.published_version_id == PackageVersion.id)
        .order_by(PackageVersion.id)
    )
    if provider_id is not None:
        stmt = stmt.where(Package.provider_id == provider_id)
    return list(db.session.scalars(stmt))


def _offer(version: PackageVersion, days: int, discount: bool, limits: str) -> None:
    """The offer the provider set before publishing (the seed writes the published version as
    it would have been): a discounted trial costs a tenth of the entry price, in whole yuan."""
    version.trial_days = days
    version.trial_price_fen = version.entry_price_fen // 10 // 100 * 100 if discount else 0
    version.trial_limits = limits


def _start(enterprise: Organisation, version: PackageVersion, days_ago: int) -> Trial:
    with clock_at(clock.days_ago(days_ago, 10)):
        return trials.start(enterprise, version.package_id, _actor(enterprise.id))


def load() -> dict[str, int]:
    s01 = _user("s01@provider.demo").org
    e001 = _user("e001@enterprise.demo").org
    mine = _published(s01.id)
    for n, version in enumerate(mine[:3]):
        _offer(version, 14, False, LIMITS[n % len(LIMITS)])
    others = [v for v in _published() if v.package.provider_id != s01.id]
    elsewhere = others[::9][:6]
    for n, version in enumerate(elsewhere):
        _offer(version, (14, 30, 7)[n % 3], n % 2 == 1, LIMITS[n % len(LIMITS)])
    db.session.flush()
    offered = [v for v in mine[:3] if v.trial_days]
    started = converted = 0

    # enterprises that ordered s01's offered packages tried them first: converted
    lines = db.session.execute(
        select(OrderLine, Order)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            OrderLine.package_id.in_([v.package_id for v in offered]),
            OrderLine.kind == "package",
            OrderLine.status.not_in([LineStatus.REJECTED, LineStatus.CANCELLED]),
            Order.enterprise_id != e001.id,
        )
        .order_by(OrderLine.id)
    ).all()
    tried: set[tuple[int, int]] = set()
    for line, order in lines[:4]:
        key = (order.enterprise_id, line.package_id or 0)
        if key in tried:
            continue
        tried.add(key)
        enterprise = db.session.get(Organisation, order.enterprise_id)
        assert enterprise is not None and line.package_id is not None
        with clock_at(line.created_at - timedelta(days=6)):
            trials.start(enterprise, line.package_id, _actor(enterprise.id))
        with clock_at(line.created_at):
            converted += len(trials.convert_on_order(order, _actor(enterprise.id)))
        started += 1

    # three more tried one and ordered it a week later, through the real checkout
    buyers = _enterprises(range(80, 83))
    for n, enterprise in enumerate(buyers):
        version = offered[n % len(offered)]
        if (enterprise.id, version.package_id) in tried:
            continue
        tried.add((enterprise.id, version.package_id))
        _start(enterprise, version, 30 - n)
        act = _actor(enterprise.id)
        with clock_at(clock.days_ago(22 - n, 15)):
            bundle = bundles.create(enterprise, "试用后下单", act)
            bundles.add(bundle, version.package_id, None, act)
            order = orders.checkout(enterprise, bundle, act, use_vouchers=False)
        with clock_at(clock.days_ago(21 - n, 9)):
            for line in order.lines:
                orders.transition(line, LineEvent.ACCEPT, "", _actor(s01.id), "provider")
        converted += 1
        started += 1

    # others tried and did not order: ended by the job, one ended early
    quiet = _enterprises(range(90, 96))
    ended = 0
    for n, enterprise in enumerate(quiet):
        version = offered[n % len(offered)]
        if (enterprise.id, version.package_id) in tried:
            continue
        trial = _start(enterprise, version, 40 + n)
        if n == len(quiet) - 1:
            with clock_at(trial.started_at + timedelta(days=3)):
                trials.cancel(enterprise, trial.id, _actor(enterprise.id))
        else:
            with clock_at(trial.ends_at + timedelta(hours=1)):
                trials.expire_one(trial.id, SYSTEM)
            ended += 1
        started += 1

    # e001: a live trial of s01's first offer, and one of another provider's ending soon
    _start(e001, offered[0], 3)
    started += 1
    soon = next((v for v in elsewhere if v.trial_days == 14 and not v.trial_price_fen), None)
    if soon is not None:
        trial = _start(e001, soon, 12)
        trials.remind_one(trial.id)
        started += 1
    # a discounted trial: billed as a small one-time order
    paid = next((v for v in elsewhere if v.trial_price_fen), None)
    if paid is not None:
        enterprise = _user("e003@enterprise.demo").org
        _start(enterprise, paid, 2)
        started += 1
    db.session.flush()
    return {
        "trial offers": len(offered) + len(elsewhere),
        "trials": started,
        "trials converted": converted,
    }
