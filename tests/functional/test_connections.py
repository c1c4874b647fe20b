"""The database connections a request uses: a pooled PostgreSQL connection is checked without
a round trip unless the server has spoken or it sat idle, and a connection the server ended
is replaced before a request sees it; a read-only view's request refuses writes and, on
PostgreSQL, sends no BEGIN and COMMIT."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, text, update

import marketplace.db
from marketplace.catalog.models import Category
from marketplace.db import (
    PING_AFTER_IDLE,
    WriteWhileReading,
    db,
    make_engine,
    reading_only,
)


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


def test_a_connection_used_moments_ago_is_not_pinged(
    pooled: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        # waits until the backend is gone, its goodbye sent
        ended = admin.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": first})
        assert ended.scalar()
    assert _backend(pooled) != first  # no error: the pool connected afresh
    assert pinged == [1]  # asked because the socket had something to say


@pytest.fixture
def unbound(app: Flask) -> Iterator[Flask]:
    """The app bound to its engine, as in production (no ``connection`` fixture): nothing
    its tests do is written. The connections its pool made are closed afterwards."""
    yield app
    app.extensions["db"].engine.dispose()


def test_a_read_only_request_refuses_to_write(unbound: Flask) -> None:
    with unbound.test_request_context("/catalog"):
        db.read_only()
        for statement in (
            update(Category).values(position=Category.position),
            text("UPDATE categories SET position = position"),
            text("/* a comment first */ DELETE FROM categories WHERE false"),
            text("SELECT code FROM categories FOR UPDATE"),
        ):
            with pytest.raises(WriteWhileReading):
                db.session.execute(statement)
        assert db.session.execute(text("SELECT count(*) FROM categories")).scalar_one() >= 0
        db.session.rollback()
    assert not reading_only.get()  # the request's end undid it


def test_the_catalogue_reads_without_a_transaction(unbound: Flask, engine: Engine) -> None:
    """On PostgreSQL its statements run in autocommit (no BEGIN, no COMMIT: two round trips),
    and the connection goes back to the pool as it came."""
    postgresql = engine.dialect.name == "postgresql"
    during: list[bool] = []
    returned: list[bool] = []

    def statement(conn: Any, *_args: Any) -> None:
        during.append(conn.connection.dbapi_connection.autocommit if postgresql else False)

    def checked_in(dbapi_connection: Any, _record: Any) -> None:
        returned.append(dbapi_connection.autocommit if postgresql else False)

    target = unbound.extensions["db"].engine
    event.listen(target, "before_cursor_execute", statement)
    event.listen(target, "checkin", checked_in)
    try:
        # words no other test asks, so that no kept page answers
        response = unbound.test_client().get(f"/catalog?q=%E8%AE%BE%E5%A4%87{uuid.uuid4().hex}")
    finally:
        event.remove(target, "before_cursor_execute", statement)
        event.remove(target, "checkin", checked_in)
    assert response.status_code == 200
    assert len(during) >= 2  # the stamps, then the search
    assert set(during) == {postgresql}
    assert returned == [False]
    assert not reading_only.get()
