"""When the public catalogue last changed, as a token.

Anything a catalogue card shows lives in a few tables: packages and their versions, plans,
interfaces and size tiers, categories, pool memberships, and the names of providers and
agencies. A flush that touches any of them writes a new random token to ``catalogue_stamp``
in the same transaction, so a reader sees the new token exactly when it sees the new data.
Services that change those tables with bulk statements (which the ORM does not see) call
``changed()`` themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from itertools import chain
from typing import Any

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation, OrgKind
from marketplace.cache import BoundedCache
from marketplace.catalog.models import (
    CatalogueStamp,
    Category,
    Package,
    PackageVersion,
    PricePlan,
    VersionInterface,
    VersionSizeTier,
    VersionStatusChange,
)
from marketplace.db import db
from marketplace.pool.models import PoolMembership, PoolStatusChange

WATCHED = (
    Category,
    Package,
    PackageVersion,
    PoolMembership,
    PoolStatusChange,
    PricePlan,
    VersionInterface,
    VersionSizeTier,
    VersionStatusChange,
)
NAMED_ON_CARDS = (OrgKind.PROVIDER, OrgKind.AGENCY)


def stamp() -> str:
    """The current token (one primary-key read)."""
    return db.session.scalar(select(CatalogueStamp.token).where(CatalogueStamp.id == 1)) or ""


def cached(kind: str, key: tuple[object, ...], compute: Callable[[], str]) -> str:
    """What ``compute`` gives for ``key`` in the catalogue's current state: computed once per
    worker and state, then reused until the next change (most visitors ask the same few
    questions of a catalogue that changes far less often than it is read)."""
    cache: BoundedCache[tuple[object, ...], str] = current_app.extensions["catalogue_cache"]
    full_key = (kind, stamp(), *key)
    value = cache.get(full_key)
    if value is None:
        value = compute()
        cache.put(full_key, value)
    return value


def changed(session: Session | None = None) -> None:
    """Give the catalogue a new token, in the caller's transaction."""
    target = session if session is not None else db.session
    target.connection().execute(
        update(CatalogueStamp).where(CatalogueStamp.id == 1).values(token=uuid.uuid4().hex)
    )


def _touches_catalogue(session: Session) -> bool:
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, WATCHED):
            return True
        if isinstance(obj, Organisation) and obj.kind in NAMED_ON_CARDS:
            return True
    return False


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    # new/dirty/deleted still hold what this flush wrote
    if _touches_catalogue(session):
        changed(session)
