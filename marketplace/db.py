"""Engine, one session per app context, the declarative Base and shared column types."""

from __future__ import annotations

import re
import select
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, wraps
from typing import Annotated, Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    create_engine,
    event,
    inspect,
    update,
)
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.orm.session import JoinTransactionMode
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# How far the clock of this context is set back (the demo seed tells a history of months;
# nothing else sets it). A context variable: another thread or request keeps the real time.
_clock_offset: ContextVar[timedelta] = ContextVar("clock_offset", default=timedelta(0))


def utcnow() -> datetime:
    return datetime.now(UTC) + _clock_offset.get()


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Run the block as if it were ``moment`` (a time in the past): every ``utcnow`` and
    ``local_today`` in it, so timestamps, numbers with a date and the services' checks agree
    with one another. For the demo seed."""
    token = _clock_offset.set(moment - datetime.now(UTC))
    try:
        yield
    finally:
        _clock_offset.reset(token)


LOCAL_ZONE = ZoneInfo("Asia/Shanghai")

# Dates and times that reach sqlite3 as bare values (hand-written SQL through ``text()``; the
# ORM's columns convert their own) are written as sqlite3's default adapters wrote them, which
# Python 3.12 deprecates.
sqlite3.register_adapter(datetime, lambda value: value.isoformat(" "))
sqlite3.register_adapter(date, lambda value: value.isoformat())


def local_today() -> date:
    """Today's date where the pilots run (dates such as a voucher's redeem-by are local)."""
    return utcnow().astimezone(LOCAL_ZONE).date()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class BilingualName:
    """Reference data named in both languages (industries, regions, categories, …)."""

    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(80))

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[datetime, mapped_column(default=utcnow)]
str40 = Annotated[str, mapped_column(String(40))]
str120 = Annotated[str, mapped_column(String(120))]
str255 = Annotated[str, mapped_column(String(255))]


def make_engine(url: str, **kwargs: Any) -> Engine:
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _fix_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _plan_for_their_values(engine)
        _ping_when_in_doubt(engine)
    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before it is used again.
PING_AFTER_IDLE = 30.0  # seconds


def _ping_when_in_doubt(engine: Engine) -> None:
    """Make sure a pooled PostgreSQL connection still works before a request uses it, without
    a round trip to the server in the usual case. SQLAlchemy's ``pool_pre_ping`` pings on
    every checkout: a round trip on every request (of the eight an uncached search made, the
    ping, BEGIN and COMMIT were three). A server that restarts or ends a connection says so on
    its socket (an error, then the close), so the socket is looked at instead, without
    waiting; the connection is pinged only when the server has spoken out of turn, or when it
    sat idle long enough for a firewall to have dropped it silently. A failed ping discards
    it, and the pool connects afresh.

    What the socket cannot tell: a server host that vanished without a word (a crash, a
    failover to another address) within ``PING_AFTER_IDLE`` of a connection's last use. The
    request using it then fails, and SQLAlchemy discards the pool's other connections with
    it, so each worker meets it once."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return  # new: it has just connected
        if time.monotonic() - idle_since < PING_AFTER_IDLE and not _server_spoke(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the database connection no longer works") from error


def _server_spoke(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has something to read (a server ending it sends an
    error and closes) or is gone."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()  # not select(): it refuses a descriptor above 1023
    try:
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _plan_for_their_values(engine: Engine) -> None:
    """PostgreSQL plans each statement for the values it runs with. psycopg prepares a
    statement on its fifth run, and PostgreSQL may then keep one generic plan for any value:
    a search's tsquery or a period's dates are worth planning for (the uncached search, 104
    against 128 requests a second and a p95 of 77 against 51 ms; the statistics' grouped
    statements twice their server CPU, bench/RESULTS.md). Prepared, a statement is still
    parsed only once."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET in a transaction rolled back is undone
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.autocommit = autocommit


def _fix_sqlite(engine: Engine) -> None:
    """Let SQLAlchemy own transactions (savepoints work) and enforce foreign keys."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        # Write-ahead log: readers and the one writer do not block each other, and a commit
        # appends to the log instead of syncing a rollback journal and the database (the
        # checkout of the bench: p95 358 ms with the rollback journal). NORMAL syncs at
        # checkpoints: a power cut may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # A transaction that will write takes SQLite's write lock at once, so two writers
        # queue instead of one failing when both first read, then write.
        if write_intent.get():
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")


WRITE_LOCK_WAIT = 5.0  # seconds, as busy_timeout
WRITE_LOCK_POLL = 0.002


def _begin_immediate(conn: Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every 2 ms while another writer holds the lock.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
    between tries, so a writer that just missed the lock waited up to 50 ms longer than the
    lock was held: the bench's checkouts had a p95 of 232 ms with a median of 90 ms."""
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(WRITE_LOCK_POLL)
    finally:
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V", bound=Callable[..., Any])


def atomic(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service in a savepoint: if it raises, none of its writes stay in the session,
    whatever the caller then does (a view may answer a domain error with a redirect)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with db.session.begin_nested():
            return func(*args, **kwargs)

    return wrapper


def add_unique(row: Base) -> bool:
    """Insert ``row`` in a savepoint of its own: ``False`` when a UNIQUE key refuses it (the
    same form or event twice, perhaps at the same moment), and then only this insert is
    rolled back. The database decides, so two concurrent requests cannot both get in."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def move_status(row: Any, before: Any, *also: Any, changed: Any, **values: Any) -> None:
    """Move ``row`` from status ``before`` to what ``values`` say, in one conditional UPDATE
    (with the extra conditions ``also``, such as "the amount the page showed" or "not the
    proposer"). If another request moved it first, nothing is written and ``changed`` (the
    message saying so) is raised; the row is refreshed either way."""
    from marketplace.errors import DomainError

    model = type(row)
    moved = db.session.execute(
        update(model)
        .where(model.id == row.id, model.status == before, *also)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(changed)
    db.session.refresh(row)


# Set by the request hook for unsafe methods, and by ``writing()`` in commands and workers.
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)


@contextmanager
def writing() -> Iterator[None]:
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


def _scope() -> int:
    return id(app_ctx._get_current_object())  # type: ignore[attr-defined]


@dataclass
class DatabaseState:
    """One app's engine and what its sessions bind to (tests bind them to a connection)."""

    engine: Engine
    bind: Engine | Connection
    join_transaction_mode: JoinTransactionMode = "conditional_savepoint"


class AppSession(Session):
    """A session bound to the database of the app whose context it lives in."""

    def __init__(self, **kwargs: Any) -> None:
        state: DatabaseState = current_app.extensions["db"]
        if kwargs.get("bind") is None:
            kwargs["bind"] = state.bind
        kwargs.setdefault("join_transaction_mode", state.join_transaction_mode)
        super().__init__(**kwargs)

    def expunge_all(self) -> None:
        """Let go of every object, holding them until the session has (``close`` and the
        end of each request come here). CPython 3.11.7 crashed now and then when the session
        dropped the last reference to an object while storing an attribute of its state:
        the object's weakref callback changed that same state's ``__dict__`` in the middle
        of the store (tests/gc_probes/README.md). Held here, the objects go after the loop."""
        held = [*self.identity_map.values(), *self.new]
        super().expunge_all()
        del held


class Database:
    """A session scoped to the current Flask app context, bound to that app's database.

    Services use ``db.session`` and flush; only the request wrapper and CLI commands commit.
    """

    def __init__(self) -> None:
        self.session = scoped_session(
            sessionmaker(class_=AppSession, expire_on_commit=False), scopefunc=_scope
        )

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgres://")
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        # PostgreSQL's connections are checked on checkout (``_ping_when_in_doubt``)
        engine = make_engine(url, pool_pre_ping=not url.startswith("postgresql"))
        app.extensions["db"] = DatabaseState(engine=engine, bind=engine)
        event.listen(engine, "before_cursor_execute", _refuse_writes_when_reading)

        @app.teardown_request
        def _reading_done(_exc: BaseException | None) -> None:
            reading_only.set(False)  # set by ``read_only``: each request says so anew

        @app.teardown_appcontext
        def _remove(_exc: BaseException | None) -> None:
            self.session.remove()

    def read_only(self) -> None:
        """This request only reads (a view marked ``reads_only``; called before it reads
        anything, and undone when the request ends). A statement that writes is refused
        (``WriteWhileReading``). On PostgreSQL its statements also run without a transaction
        of their own: BEGIN and COMMIT are two round trips to the server, two of an uncached
        search's five. At the default isolation (read committed) nothing is lost: each
        statement reads its own snapshot either way. Under the tests' connection binding the
        request keeps the test's transaction (an isolation level set there would stay on the
        test's connection); writes are refused there too."""
        state: DatabaseState = current_app.extensions["db"]
        if self.session().in_transaction():
            raise RuntimeError("read_only() comes before the request's first statement")
        reading_only.set(True)
        if not isinstance(state.bind, Connection) and state.engine.dialect.name == "postgresql":
            self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    @property
    def engine(self) -> Engine:
        state: DatabaseState = current_app.extensions["db"]
        return state.engine

    @contextmanager
    def separately(self) -> Iterator[Connection]:
        """A transaction of its own, committed at the end of the block whatever becomes of
        the request's: for records that must exist before an outside call (idempotency
        keys). Under the tests' connection binding, and on SQLite, it is a savepoint."""
        state: DatabaseState = current_app.extensions["db"]
        if isinstance(state.bind, Connection) or state.engine.dialect.name == "sqlite":
            # SQLite has one writer: a request holding the write lock cannot wait for a second
            # connection. There (the one-machine default) the record joins the request.
            with self.session.begin_nested():
                yield self.session.connection()
            return
        with state.bind.begin() as conn:
            yield conn


db = Database()

# Set for a request by ``Database.read_only`` and unset when it ends.
reading_only: ContextVar[bool] = ContextVar("reading_only", default=False)


class WriteWhileReading(RuntimeError):
    """A request marked as only reading tried to write."""


def reads_only(view: V) -> V:
    """Mark a view that only reads: its request runs as ``Database.read_only`` says (the
    catalogue's search). Not for a view whose reads write (``writes_on_read``, or the API's,
    which notes a token's last use): such a request is never read-only."""
    view.reads_only = True  # type: ignore[attr-defined]
    return view


# A statement that changes data or schema, or locks rows to change them. Bound values are not
# in the text; an identifier like updated_at or last_update does not match.
_WRITES = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|DROP|ALTER|GRANT|REVOKE|COPY|LOCK)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def _writes(sql: str) -> bool:
    # searched once per statement's text (68 µs for the catalogue's 1.7 KB page statement):
    # a request reads with the same few statements each time
    return _WRITES.search(sql) is not None


def _refuse_writes_when_reading(
    _conn: Connection, _cursor: Any, sql: str, _params: Any, _context: Any, _many: bool
) -> None:
    if reading_only.get() and _writes(sql):
        raise WriteWhileReading(f"a read-only request tried to write: {sql[:80]}")


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` literally anywhere (use with ``escape="\\"``)."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def str_enum(enum_cls: type, length: int = 20, name: str | None = None) -> Any:
    """An enum stored by its value as a short string, with a CHECK of the allowed values.

    Two columns of one table with the same enum need distinct ``name``s for their CHECKs."""
    from sqlalchemy import Enum

    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
        name=name or enum_cls.__name__.lower(),
    )


def attributes_changed(obj: object, names: Iterable[str]) -> bool:
    """Whether a flush changes any of these attributes of ``obj`` (those it has); for
    ``after_flush`` listeners, where the attributes' history still describes the flush."""
    attrs = inspect(obj).attrs
    return any(name in attrs and attrs[name].history.has_changes() for name in names)
