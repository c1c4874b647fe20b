"""When each part of the public catalogue last changed, as tokens per scope.

Anything a catalogue card shows lives in a few tables, grouped in scopes:

- ``packages``: packages and their versions, plans, interfaces, size tiers and status
  changes, ratings (any provider's package can enter any search, so this scope is one);
- ``categories``: the categories (their names are on the cards);
- ``thesaurus``: the search thesaurus (what a query also means);
- ``providers``: providers' names and types (on the cards, and searched);
- ``pool:<agency id>``: who that agency's pool admits (visibility, and the pool filter);
- ``industries`` and ``agencies``: the industries and the agencies' names (the filter panel's
  choices, and the agencies' on the cards' pool tags; with the categories, kept per process
  as ``reference`` data);
- ``money:<programme id>``: that programme's redeemed voucher money (what the officials'
  concentration figures are computed from). The vouchers domain writes it with every move of
  a reservation into or out of redemption (``changed_on_commit``).

A flush that touches a scope writes a new random token to its row of ``catalogue_stamps``
in the same transaction, so a reader sees the new token exactly when it sees the new data,
on every instance. Writers of different scopes touch different rows: a city's pool decision
does not wait for a provider's edit, nor for another city's. Services that change those
tables with bulk statements (which the ORM does not see) call ``changed()`` themselves.

A cached result names the scopes it depends on (``depends_on``); its key holds their tokens.
A search's matches filtered by one agency's pool depend on that pool alone; unfiltered, on
every pool (a provider is listed when any pool admits it). A card names every pool that admits
its provider, so the cards, and the results pages that show them, depend on every pool (a
city's decision is rare beside the searches).

The rendered results stay in each process's memory (``catalogue_cache``): they are keyed by
the tokens, so a stale one is never served, and a local hit costs no network round trip;
a worker that has not seen a state yet renders it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, g, has_request_context
from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from marketplace.accounts.models import Industry, Organisation, OrgKind
from marketplace.cache import BoundedCache
from marketplace.catalog.models import (
    CatalogueStamp,
    Category,
    Package,
    PackageVersion,
    PricePlan,
    SearchSynonym,
    VersionInterface,
    VersionSizeTier,
    VersionStatusChange,
)
from marketplace.db import attributes_changed, db
from marketplace.pool.models import PoolMembership, PoolStatusChange

T = TypeVar("T")

PACKAGES = "packages"
CATEGORIES = "categories"
THESAURUS = "thesaurus"
COMMON_TITLES = "common-titles"  # the search index's title words in many titles (PostgreSQL)
PROVIDERS = "providers"
INDUSTRIES = "industries"
AGENCIES = "agencies"
POOL_PREFIX = "pool:"
EVERY_POOL = "pool:*"
MONEY_PREFIX = "money:"

PACKAGE_TABLES = (
    Package,
    PackageVersion,
    PricePlan,
    VersionInterface,
    VersionSizeTier,
    VersionStatusChange,
)
SHOWN_OF_PROVIDERS = ("name", "provider_type")


def pool(agency_id: int) -> str:
    return f"{POOL_PREFIX}{agency_id}"


def money(programme_id: int) -> str:
    return f"{MONEY_PREFIX}{programme_id}"


def catalogue_scopes(pool_id: int | None) -> tuple[str, ...]:
    """What a catalogue search depends on: the packages, their categories and providers,
    and the pool it is filtered by (else every pool)."""
    return (
        PACKAGES,
        CATEGORIES,
        PROVIDERS,
        THESAURUS,
        pool(pool_id) if pool_id else EVERY_POOL,
    )


def stamps(scopes: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The current tokens of these scopes. A scope nothing has changed yet has no row: its
    first change adds one, which changes the answer too.

    The table has a row per scope and per agency's pool (a few dozen): it is read whole, once
    per request (a search reads the thesaurus's token and then the results' tokens), and
    read again after this request changes a scope itself."""
    wanted = set(scopes)
    every_pool = EVERY_POOL in wanted
    return tuple(
        (scope, token)
        for scope, token in _all_stamps()
        if scope in wanted or (every_pool and scope.startswith(POOL_PREFIX))
    )


_STAMPS = "catalogue_stamps"
# built once: every catalogue request reads it, and a Core statement over the table costs half
# the Python of an ORM one over the class's attributes
_stamp = CatalogueStamp.__table__.c
_EVERY_STAMP = select(_stamp.scope, _stamp.token).order_by(_stamp.scope)


def _all_stamps() -> list[tuple[str, str]]:
    memo = g.get(_STAMPS) if has_request_context() else None
    if memo is None:
        rows = db.session.execute(_EVERY_STAMP)
        memo = [(scope, token) for scope, token in rows]
        if has_request_context():
            setattr(g, _STAMPS, memo)
    return memo


def cached(
    kind: str, key: tuple[object, ...], compute: Callable[[], T], depends_on: Iterable[str]
) -> T:
    """What ``compute`` gives for ``key`` while the scopes it ``depends_on`` stay as they
    are: computed once per worker and state, then reused until one of them changes (most
    visitors ask the same few questions of a catalogue that changes far less often than it
    is read)."""
    cache: BoundedCache[tuple[object, ...], Any] = current_app.extensions["catalogue_cache"]
    depends_on = tuple(depends_on)
    if _pending(db.session()).intersection(depends_on):
        return compute()  # this transaction changed them, and their tokens are not written yet
    full_key = (kind, stamps(depends_on), *key)
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.put(full_key, value)
    return value


def reference(kind: str, load: Callable[[], list[T]], depends_on: Iterable[str]) -> list[T]:
    """Reference data (the categories, say) kept per process while its scopes stay as they
    are: every catalogue page lists them, and they change a few times a year. The rows are
    detached from the session that read them (only their columns are used), so that no
    commit expires them and no request's session holds another's objects."""

    def loaded() -> list[T]:
        rows = load()
        for row in rows:
            db.session.expunge(row)
        return rows

    return cached(kind, (), loaded, depends_on)


# a card names the pools that admit its provider: any pool's decision, or an agency's name
CARD_SCOPES = (PACKAGES, CATEGORIES, PROVIDERS, EVERY_POOL, AGENCIES)


def cached_each(
    kind: str,
    key: tuple[object, ...],
    items: Iterable[int],
    compute: Callable[[list[int]], dict[int, Any]],
    depends_on: Iterable[str],
) -> dict[int, Any]:
    """Like ``cached``, item by item: what ``compute`` gives for each of ``items`` (a package
    card, say), computing at once only those this worker has not kept for the current state
    (``card_cache``)."""
    cache: BoundedCache[tuple[object, ...], Any] = current_app.extensions["card_cache"]
    prefix = (kind, stamps(depends_on), *key)
    found = {item: cache.get((*prefix, item)) for item in items}
    missing = [item for item, value in found.items() if value is None]
    if missing:
        computed = compute(missing)
        for item, value in computed.items():
            cache.put((*prefix, item), value)
        found.update(computed)
    return {item: value for item, value in found.items() if value is not None}


def changed(*scopes: str, session: Session | None = None) -> None:
    """Give these scopes new tokens, in the caller's transaction (in a stable order, so two
    writers of the same scopes queue rather than deadlock)."""
    target = session if session is not None else db.session
    connection = target.connection()
    if has_request_context():
        g.pop(_STAMPS, None)
    for scope in sorted(set(scopes)):
        connection.execute(_upsert(connection, scope))


_PENDING = "freshness_pending"


def changed_on_commit(*scopes: str, session: Session | None = None) -> None:
    """Give these scopes new tokens when the caller's transaction commits, in it (before the
    COMMIT itself). For scopes that busy writers share (a programme's money): each writer
    then holds the stamp's row only while it commits, and takes every stamp it writes last
    and in the same order, so that two writers never wait on each other's stamps in a circle.
    Until then ``cached`` computes these scopes' results afresh for this session."""
    target = session if session is not None else db.session()
    target.info.setdefault(_PENDING, set()).update(scopes)


def _pending(session: Session) -> set[str]:
    return session.info.get(_PENDING) or set()


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release (``atomic``): the transaction's commit writes them
    session.flush()  # (the commit's own flush comes after this event) it may add scopes
    scopes = session.info.pop(_PENDING, None)
    if scopes:
        changed(*scopes, session=session)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    # the outermost transaction ended: committed (written above) or rolled back (nothing to
    # write); a savepoint's end leaves what the transaction still owes
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _upsert(connection: Connection, scope: str) -> Any:
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(CatalogueStamp).values(scope=scope, token=uuid.uuid4().hex)
    return stmt.on_conflict_do_update(
        index_elements=[CatalogueStamp.scope], set_={"token": stmt.excluded.token}
    )


def touched_scopes(session: Session) -> set[str]:
    """The scopes this flush changes (``new``/``dirty``/``deleted`` and the attributes'
    history still describe it in ``after_flush``)."""
    scopes: set[str] = set()
    for dirty, objects in ((False, session.new), (True, session.dirty), (False, session.deleted)):
        for obj in objects:
            scopes.update(_scopes_of(obj, dirty))
    return scopes


def _scopes_of(obj: object, dirty: bool) -> list[str]:
    if isinstance(obj, PACKAGE_TABLES):
        return [PACKAGES]
    if isinstance(obj, Category):
        return [CATEGORIES]
    if isinstance(obj, Industry):
        return [INDUSTRIES]
    if isinstance(obj, SearchSynonym):
        return [THESAURUS]
    if isinstance(obj, PoolMembership):
        if dirty and not attributes_changed(obj, ("status", "agency_id")):
            return []  # an application's texts, a date: not on any card
        before = inspect(obj).attrs.agency_id.history.deleted
        return [pool(obj.agency_id), *(pool(a) for a in before if a is not None)]
    if isinstance(obj, PoolStatusChange):
        # Decisions move the status with a conditional UPDATE the flush does not see; each
        # writes this history row, with its membership.
        return [pool(obj.membership.agency_id)]
    if isinstance(obj, Organisation) and obj.kind == OrgKind.PROVIDER:
        return [PROVIDERS] if not dirty or attributes_changed(obj, SHOWN_OF_PROVIDERS) else []
    if isinstance(obj, Organisation) and obj.kind == OrgKind.AGENCY:
        return [AGENCIES] if not dirty or attributes_changed(obj, ("name", "kind")) else []
    return []


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    scopes = touched_scopes(session)
    if scopes:
        changed(*scopes, session=session)
