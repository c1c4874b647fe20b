"""One database per test session, built by the migrations; each test runs inside a
transaction that is rolled back at its end (requests commit only savepoints).

SQLite by default; ``TEST_DATABASE_URL`` (PostgreSQL) runs the same suite there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy.orm import Session

from marketplace import create_app, migrate
from marketplace.config import PACKAGE, TestConfig
from marketplace.db import db, make_engine
from marketplace.extensions import limiter
from tests import factories

PASSWORD = factories.PASSWORD


def _compile_translations() -> None:
    po = PACKAGE / "translations/zh/LC_MESSAGES/messages.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with po.open("rb") as source:
            catalog = read_po(source)
        problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
        assert not problems, f"translation errors (pybabel compile would refuse them): {problems}"
        with mo.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=True)


def _reset_postgres(url: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def demo_world(tmp_path_factory: pytest.TempPathFactory, suffix: str) -> Iterator[Flask]:
    """An app on the demo dataset, in a database of its own whose requests really commit
    (rate limits off: its tests sign in as many people from one address)."""
    url = scratch_database_url(tmp_path_factory, suffix)
    engine = make_engine(url)
    migrate.upgrade(engine)
    config = TestConfig(url)
    config.RATELIMIT_ENABLED = False
    world_app = create_app(config)
    world_app.test_client_class = Client
    from marketplace.db import writing
    from marketplace.demo import seed

    with world_app.app_context(), writing():
        seed.load()
        db.session.commit()
    try:
        yield world_app
    finally:
        world_app.extensions["db"].engine.dispose()  # its connections, before the GC finds them
        engine.dispose()


def scratch_database_url(tmp_path_factory: pytest.TempPathFactory, suffix: str) -> str:
    """A fresh, empty database next to the test database, for tests whose requests must
    really commit (browser tests, concurrency): SQLite in a temporary folder, or
    ``<name>_<suffix>`` on the PostgreSQL server of ``TEST_DATABASE_URL``."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp(suffix) / (suffix + '.sqlite3')}"
    base = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"{base.database}_{suffix}"
    admin = make_engine(
        base.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        if make_url(url).get_backend_name() != "postgresql":
            raise pytest.UsageError("TEST_DATABASE_URL must name a PostgreSQL database")
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(engine: Engine, database_url: str) -> Flask:
    _compile_translations()
    app = create_app(TestConfig(database_url))
    app.test_client_class = Client
    return app


@pytest.fixture
def connection(app: Flask, engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    state = app.extensions["db"]
    state.bind, state.join_transaction_mode = conn, "create_savepoint"
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()
        state.bind, state.join_transaction_mode = state.engine, "conditional_savepoint"


@pytest.fixture
def dbs(connection: Connection) -> Iterator[Session]:
    """The test's own session: factories write through it (each commit is a savepoint)."""
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    factories.bind(session)
    yield session
    session.close()


@pytest.fixture
def app_ctx(app: Flask, dbs: Session) -> Iterator[Session]:
    """An app context whose ``db.session`` is the test's session (for service tests)."""
    with app.app_context():
        db.session.registry.set(dbs)
        yield dbs
        db.session.registry.clear()  # the context's teardown must not close the test's session


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app: Flask) -> None:
    with app.app_context():
        limiter.reset()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Client(FlaskClient):
    """The Flask test client plus the habits of a real browser: CSRF tokens and login."""

    def csrf_token(self) -> str:
        page = self.get("/register").get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        payload = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(url, data=payload, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.form("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def text(self, url: str, **kwargs: Any) -> str:
        return self.get(url, **kwargs).get_data(as_text=True)


@pytest.fixture
def client(app: Flask, connection: Connection) -> Client:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def english(client: Client) -> Client:
    client.set_cookie("lang", "en")
    return client


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    return (
        f"database: {'PostgreSQL (' + make_url(url).render_as_string() + ')' if url else 'SQLite'}"
    )


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        self.statements.append(statement)


@pytest.fixture
def count_queries(connection: Connection) -> Iterator[QueryCounter]:
    """Counts the SQL statements sent on the test's connection (Indico's count_queries)."""
    from sqlalchemy import event

    counter = QueryCounter()
    event.listen(connection, "before_cursor_execute", counter)
    yield counter
    event.remove(connection, "before_cursor_execute", counter)
