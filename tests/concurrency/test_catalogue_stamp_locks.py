"""Catalogue writers of different scopes do not queue on one row (PostgreSQL: SQLite locks
the whole file anyway). A transaction that changed Xiamen's pool holds that row until it
commits; Shijiazhuang's decision and a provider's edit go through meanwhile, and only a
second writer of the same scope waits."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from marketplace import migrate
from marketplace.catalog import freshness
from marketplace.db import make_engine
from tests.conftest import scratch_database_url


def test_writers_of_different_scopes_do_not_wait_for_each_other(tmp_path_factory):
    url = scratch_database_url(tmp_path_factory, "stamps")
    if not url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only (TEST_DATABASE_URL)")
    engine = make_engine(url)
    migrate.upgrade(engine)
    try:
        with engine.connect() as xiamen, engine.connect() as other:
            xiamen.execute(freshness._upsert(xiamen, "pool:2"))  # not committed yet
            other.execute(text("SET lock_timeout = '500ms'"))
            for scope in ("pool:1", freshness.PACKAGES, freshness.CATEGORIES):
                other.execute(freshness._upsert(other, scope))
            other.commit()
            other.execute(text("SET lock_timeout = '500ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                other.execute(freshness._upsert(other, "pool:2"))
            other.rollback()
            xiamen.commit()
    finally:
        engine.dispose()
