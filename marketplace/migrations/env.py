"""Alembic environment: the engine comes from the app (or the tests) via ``attributes``."""

from __future__ import annotations

from alembic import context

import marketplace.models  # noqa: F401  (registers every table on Base.metadata)
from marketplace.db import Base

config = context.config
target_metadata = Base.metadata
# Each database's own kind of table, made by the migrations and not by the models: the
# catalogue's full-text index (an FTS5 table and its shadow tables on SQLite, a tsvector
# table with a GIN index on PostgreSQL; see marketplace/catalog/search_index.py).
NOT_MODELLED = "search_index"


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, _other: object
) -> bool:
    table = getattr(obj, "table", None)
    owner = name if type_ == "table" else getattr(table, "name", "")
    if reflected and str(owner or "").startswith(NOT_MODELLED):
        return False
    # An index the model makes on one database only (``Index(...).ddl_if(dialect=...)``)
    only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
    return only_on is None or only_on == context.get_bind().dialect.name


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild tables; foreign keys are checked again afterwards.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            compare_server_default=False,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")
        connection.commit()
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run them against a database")
run_migrations_online()
