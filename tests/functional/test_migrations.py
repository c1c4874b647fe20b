"""Models and the migrated schema agree; migrations go down and up again."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from marketplace import migrate
from marketplace.db import make_engine


def test_models_match_migrations(engine):
    migrate.check(engine)  # raises when autogenerate would find a difference


def test_downgrade_and_upgrade_again(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}")
    migrate.upgrade(engine)
    command.downgrade(migrate.alembic_config(engine), "base")
    migrate.upgrade(engine)
    migrate.check(engine)
    engine.dispose()


def test_audit_entries_are_append_only(connection):
    connection.execute(
        text(
            "INSERT INTO audit_entries (at, action, object_type, details) VALUES (CURRENT_TIMESTAMP, 'x', 'y', '{}')"
        )
    )
    for statement in ["UPDATE audit_entries SET action = 'changed'", "DELETE FROM audit_entries"]:
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
        savepoint.rollback()


def test_database_refuses_broken_organisations(connection):
    bad = [
        # an enterprise without its profile
        "INSERT INTO organisations (kind, name, created_at) VALUES ('enterprise', 'x', CURRENT_TIMESTAMP)",
        # a provider without a type
        "INSERT INTO organisations (kind, name, credit_code, created_at) VALUES ('provider', 'x', '91130100000000001X', CURRENT_TIMESTAMP)",
        # an unknown kind
        "INSERT INTO organisations (kind, name, created_at) VALUES ('pirate', 'x', CURRENT_TIMESTAMP)",
        # negative revenue
        "INSERT INTO organisations (kind, name, credit_code, industry_code, region_code, employees, annual_revenue_fen, created_at)"
        " VALUES ('enterprise', 'x', '91130100000000002X', 'machining', '130100', 5, -1, CURRENT_TIMESTAMP)",
    ]
    for statement in bad:
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError):
            connection.execute(text(statement))
        savepoint.rollback()
