"""An order line's whole days to go-live and to acceptance (验收), stored for the statistics:
set by the line's transitions with the moment they set, given to a line written with its
moments, filled in by the migration for the lines before it, refused by the database when
missing, and always what the statistics computed from the moments before (the old SQL,
kept here to compare)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Integer, case, cast, func, select, text, update
from sqlalchemy.exc import DBAPIError

from marketplace import migrate
from marketplace.db import make_engine, utcnow
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, LineStatus, Order, OrderLine, whole_days
from tests.conftest import scratch_database_url
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import SYSTEM, deliver
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import the_line

REVISION = "af05a4972211"  # the migration that adds and fills in the day counts


def old_whole_days(dialect: str, start, end):
    """The statistics' day count before the lines stored it (oversight/stats.py until this
    change): computed from the two moments by the database, for every line, each time."""
    if dialect == "postgresql":
        return cast(func.floor(func.date_part("epoch", end - start) / 86_400), Integer)
    return case((end.is_not(None), cast(func.julianday(end) - func.julianday(start), Integer)))


def stored_and_old(dbs, ids):
    """Each line's stored day counts beside the old computation's, by the database."""
    dialect = dbs.get_bind().dialect.name
    rows = dbs.execute(
        select(
            OrderLine.id,
            OrderLine.days_to_go_live,
            old_whole_days(dialect, OrderLine.created_at, OrderLine.delivered_at),
            OrderLine.days_to_acceptance,
            old_whole_days(dialect, OrderLine.created_at, OrderLine.accepted_at),
        ).where(OrderLine.id.in_(ids))
    )
    return {
        line_id: (live, old_live, acc, old_acc) for line_id, live, old_live, acc, old_acc in rows
    }


@pytest.fixture
def clock(monkeypatch):
    """The orders' clock, set by the test: ``clock.now = …``."""

    class Clock:
        now = utcnow()

    monkeypatch.setattr(orders, "utcnow", lambda: Clock.now)
    return Clock


def test_whole_days_round_down():
    start = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    assert whole_days(start, start) == 0
    assert whole_days(start, start + timedelta(days=3)) == 3
    assert whole_days(start, start + timedelta(days=3, microseconds=-1)) == 2
    assert whole_days(start, start + timedelta(days=3, hours=23, minutes=59)) == 3


def test_the_transitions_store_the_days_with_their_moments(app, dbs, monkeypatch, clock):
    """Delivered 3 days 2 hours after the order, disputed, delivered again at 6 days 23 h 59,
    accepted at 8 days 1 hour: 6 days to go-live (the delivery that counted), 8 to
    acceptance; before, none."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    p = pilot(app, dbs, tag="days")
    p.issue_to(p.programme())
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    ordered = line.created_at
    assert (line.days_to_go_live, line.days_to_acceptance) == (None, None)

    clock.now = ordered + timedelta(days=3, hours=2)
    with services(app, dbs):
        deliver(line)
    assert (line.delivered_at, line.days_to_go_live, line.days_to_acceptance) == (
        clock.now,
        3,
        None,
    )
    enterprise = p.enterprise_actor
    clock.now = ordered + timedelta(days=6, hours=23, minutes=59)
    with services(app, dbs):
        orders.transition(line, LineEvent.DISPUTE, "网关未接入两台机床", enterprise, "enterprise")
        orders.transition(line, LineEvent.REDELIVER, "", SYSTEM, "provider")
    assert line.days_to_go_live == 6  # the new delivery's
    clock.now = ordered + timedelta(days=8, hours=1)
    with services(app, dbs):
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", enterprise, "enterprise")
    assert line.status is LineStatus.COMPLETED
    dbs.expire_all()
    line = dbs.get(OrderLine, line.id)
    assert (line.days_to_go_live, line.days_to_acceptance) == (6, 8)
    assert line.accepted_at == ordered + timedelta(days=8, hours=1)
    assert stored_and_old(dbs, [line.id]) == {line.id: (6, 6, 8, 8)}


def test_stored_days_equal_the_old_computation(app, dbs, clock):
    """Lines delivered and accepted through the transitions at random moments, some a whole
    number of days after the order to the microsecond, some a millisecond short of it, and
    lines written with their moments (the insert's default): the stored counts are what the
    statistics computed from the moments before."""
    rng = random.Random(19)
    p = pilot(app, dbs, tag="olddays")
    version = p.package.published_version
    base = utcnow() - timedelta(days=400)

    def line(n, status, **moments):
        order = Order(number=f"D{n}", enterprise_id=p.enterprise.id)
        created = base + timedelta(seconds=rng.randint(0, 300 * 86_400), microseconds=n)
        return OrderLine(
            order=order,
            package_id=p.package.id,
            version_id=version.id,
            plan_id=version.plans[0].id,
            provider_id=p.provider.id,
            title=f"线 {n}",
            plan_kind="one_time",
            plan_name="一次性买断",
            committed_fen=1_000_00,
            status=status,
            category_code=version.category_code,
            created_at=created,
            **{k: v(created) for k, v in moments.items()},
        )

    def later(start):
        """A moment after ``start``: whole days to the microsecond, or a millisecond short of
        them, or any. (SQLite's ``julianday`` read moments to the millisecond: within one
        of a whole day the old count could be a day more than the exact one stored now.)"""
        days = timedelta(days=rng.randint(0, 60))
        return max(
            start,
            rng.choice(
                [
                    start + days,
                    start + days - timedelta(milliseconds=1),
                    start + days + timedelta(seconds=rng.randint(1, 86_399)),
                ]
            ),
        )

    moving = [line(n, LineStatus.IN_DELIVERY) for n in range(30)]
    written = [
        line(100 + n, LineStatus.COMPLETED, delivered_at=later, accepted_at=lambda c: later(c))
        for n in range(30)
    ]
    dbs.add_all(moving + written)
    dbs.commit()
    for moved in moving:
        dbs.refresh(moved)  # the times as the database gives them back
        clock.now = later(moved.created_at)
        with services(app, dbs):
            orders.transition(moved, LineEvent.DELIVER, "", SYSTEM, "provider")
        clock.now = later(clock.now)
        with services(app, dbs):
            orders.transition(moved, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    found = stored_and_old(dbs, [each.id for each in moving + written])
    assert len(found) == 60
    for line_id, (live, old_live, accepted, old_accepted) in found.items():
        assert live is not None and accepted is not None, line_id
        assert (live, accepted) == (old_live, old_accepted), line_id
    # and the Python count (the transitions') on what the database gives back
    for each in moving + written:
        dbs.refresh(each)
        assert each.days_to_go_live == whole_days(each.created_at, each.delivered_at)
        assert each.days_to_acceptance == whole_days(each.created_at, each.accepted_at)


def test_the_database_refuses_a_moment_without_its_days(app, dbs, clock):
    p = pilot(app, dbs, tag="nodays")
    with services(app, dbs):
        orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    line = the_line(dbs, p.enterprise)
    for values in (
        {"delivered_at": utcnow()},
        {"accepted_at": utcnow()},
        {"days_to_go_live": 3},
        {"days_to_acceptance": 5},
    ):
        savepoint = dbs.begin_nested()
        with pytest.raises(DBAPIError):
            dbs.execute(update(OrderLine).where(OrderLine.id == line.id).values(**values))
        savepoint.rollback()


def test_the_migration_fills_in_the_days_as_they_were_computed(tmp_path_factory):
    """Lines delivered and accepted before the migration get the day counts the statistics
    computed from their moments; the others none."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    before = script.get_revision(REVISION).down_revision
    engine = make_engine(scratch_database_url(tmp_path_factory, "line_days"))
    migrate.upgrade(engine, str(before))
    rng = random.Random(7)
    base = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)
    moments = []
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, kind, name, credit_code, provider_type, created_at)"
                " VALUES (1, 'provider', 'p', '913101000000000019', 'scenario', :at)"
            ),
            {"at": _stored(engine, base)},
        )
        conn.execute(
            text(
                "INSERT INTO orders (id, number, enterprise_id, created_at)"
                " VALUES (1, 'ZX1', 1, :at)"
            ),
            {"at": _stored(engine, base)},
        )
        for n in range(40):
            created = base + timedelta(seconds=rng.randint(0, 86_400 * 90), microseconds=n)
            delivered = created + timedelta(
                days=rng.randint(0, 40), seconds=rng.choice([0, 1, 3_600, 86_399])
            )
            accepted = delivered + timedelta(days=rng.randint(0, 9), hours=rng.randint(0, 23))
            delivered, accepted = [
                (delivered, None),
                (delivered, accepted),
                (None, None),
            ][n % 3]
            moments.append((created, delivered, accepted))
            conn.execute(
                text(
                    "INSERT INTO order_lines (id, order_id, kind, provider_id, title, plan_kind,"
                    " plan_name, committed_fen, billed_monthly, status, created_at,"
                    " delivered_at, accepted_at) VALUES (:id, 1, 'integration', 1, 't',"
                    " 'one_time', 'p', 100, false, 'completed', :created, :delivered,"
                    " :accepted)"
                ),
                {
                    "id": n + 1,
                    **{
                        key: _stored(engine, value)
                        for key, value in zip(
                            ("created", "delivered", "accepted"), moments[-1], strict=True
                        )
                    },
                },
            )
        dialect = engine.dialect.name
        lines = OrderLine.__table__.c
        old = {
            row[0]: row[1:]
            for row in conn.execute(
                select(
                    lines.id,
                    old_whole_days(dialect, lines.created_at, lines.delivered_at),
                    old_whole_days(dialect, lines.created_at, lines.accepted_at),
                )
            )
        }
    migrate.upgrade(engine)
    with engine.connect() as conn:
        stored = {
            row[0]: row[1:]
            for row in conn.execute(
                text("SELECT id, days_to_go_live, days_to_acceptance FROM order_lines")
            )
        }
    engine.dispose()
    assert stored == old
    for n, (created, delivered, accepted) in enumerate(moments):
        assert stored[n + 1] == tuple(
            None if moment is None else whole_days(created, moment)
            for moment in (delivered, accepted)
        )
    assert sum(days is not None for days, _ in stored.values()) == 27  # two in three


def _stored(engine, moment):
    """A moment as the app stores it (naive UTC text on SQLite)."""
    if moment is None or engine.dialect.name != "sqlite":
        return moment
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
