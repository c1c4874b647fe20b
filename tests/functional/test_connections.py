"""The database connections a request uses: a pooled PostgreSQL connection is checked without
a round trip unless the server has spoken or it sat idle, and a connection the server ended
is replaced before a request sees it; a read-only view's request refuses writes and, on
PostgreSQL, sends no BEGIN and COMMIT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, text, update

import marketplace.db
from marketplace.catalog.models import Category
from marketplace.db import PING_AFTER_IDLE, READS_ONLY, WriteWhileReading, db, make_engine


def _postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's connections (TEST_DATABASE_URL)")


@pytest.fixture
def pooled(engine: Engine, database_url: str) -> Iterator[Engine]:
    """An engine of its own, as the app makes it, with one pooled connection."""
    _postgresql(engine)
    own = make_engine(database_url, pool_size=1, max_overflow=0)
    yield own
    own.dispose()


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pinged: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pinged.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pinged


def test_a_connection_in_use_is_not_pinged(pooled: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pinged = _pings(pooled, monkeypatch)
    first = _backend(pooled)
    assert [_backend(pooled) for _ in range(3)] == [first] * 3
    assert pinged == []


def test_a_connection_idle_for_long_is_pinged(
    pooled: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pooled)
    pinged = _pings(pooled, monkeypatch)
    assert PING_AFTER_IDLE <= 60  # shorter than firewalls keep an idle connection
    monkeypatch.setattr(marketplace.db, "PING_AFTER_IDLE", 0.0)  # any idle time is long
    assert _backend(pooled) == first
    assert pinged == [1]


def test_a_connection_the_server_ended_is_replaced_before_use(
    pooled: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pooled)
    pinged = _pings(pooled, monkeypatch)
    with engine.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar()
    time.sleep(0.2)  # the server's goodbye reaches the socket a moment after
    assert _backend(pooled) != first  # no error: the pool connected afresh
    assert pinged == [1]  # asked because the socket had something to say


# The tests below use the app bound to its engine, as in production (no ``connection``
# fixture): nothing they do is written.


def test_a_read_only_request_refuses_to_write(app: Flask) -> None:
    with app.test_request_context("/catalog"):
        db.read_only()
        with pytest.raises(WriteWhileReading):
            db.session.execute(update(Category).values(position=Category.position))
        with pytest.raises(WriteWhileReading):
            db.session.execute(text("UPDATE categories SET position = position"))
        db.session.rollback()
        db.session.remove()


def test_the_catalogue_reads_without_a_transaction_on_postgresql(
    app: Flask, engine: Engine
) -> None:
    """Its statements run in autocommit on PostgreSQL (no BEGIN, no COMMIT: two round trips),
    and still read-only everywhere."""
    seen: list[tuple[Any, bool]] = []

    def record(conn: Any, _c: Any, _s: str, _p: Any, context: Any, _m: bool) -> None:
        level = conn.get_execution_options().get("isolation_level")
        seen.append((level, context.execution_options.get(READS_ONLY, False)))

    target = app.extensions["db"].engine
    event.listen(target, "before_cursor_execute", record)
    try:
        response = app.test_client().get("/catalog?q=%E8%AE%BE%E5%A4%87")
    finally:
        event.remove(target, "before_cursor_execute", record)
    assert response.status_code == 200
    assert seen and all(reads for _level, reads in seen)
    expected = "AUTOCOMMIT" if engine.dialect.name == "postgresql" else None
    assert {level for level, _reads in seen} == {expected}
    # the connection went back to the pool as it came: in a transaction when next used
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        assert db.session.connection().get_isolation_level() != "AUTOCOMMIT"
        db.session.remove()
