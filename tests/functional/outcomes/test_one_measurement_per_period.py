"""A contract takes one measurement per period: a second one for the same period is refused
with a clear error (web form, API, service) and by the database's UNIQUE constraint, and the
migration adding it stops on a database that already holds two."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace import migrate
from marketplace.db import local_today, make_engine
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement
from tests.functional.api.test_api import call, token_for
from tests.functional.catalog_helpers import services
from tests.functional.outcomes.test_outcomes import (
    SYSTEM,
    day,
    en,
    measuring,
    measuring_since,
    reading,
)
from tests.functional.voucher_helpers import pilot

REVISION = "4c790abe3d3a"  # the migration adding the constraint


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="period")


def stored(dbs):
    dbs.expire_all()
    return dbs.scalar(select(func.count(Measurement.id)))


def test_a_second_measurement_for_the_same_period_is_refused(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    measuring_since(dbs, contract, 10)
    with services(app, dbs):
        first, _ = outcomes.submit(contract, reading(1, "63", day(7), days=7), SYSTEM)
    with services(app, dbs), pytest.raises(outcomes.Conflict) as error:
        outcomes.submit(contract, reading(2, "64", day(7), days=7), SYSTEM)
    assert error.value.field == "period_start"
    assert en(error.value.message) == (
        f"A measurement for this period ({day(7).isoformat()} to {day(1).isoformat()}) is"
        " already stored (id mes-1): a period is measured once."
    )
    assert stored(dbs) == 1
    with services(app, dbs):  # the same id again is a repeat, not a second measurement
        again, created = outcomes.submit(contract, reading(1, "63", day(7), days=7), SYSTEM)
        # Another period, even one overlapping it, is a measurement of its own.
        _other, created_other = outcomes.submit(contract, reading(3, "65", day(7), days=1), SYSTEM)
    assert again.id == first.id and not created and created_other
    assert stored(dbs) == 2


def test_the_database_refuses_a_second_measurement_for_a_period(app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    with services(app, dbs):
        first, _ = outcomes.submit(contract, reading(1, "63"), SYSTEM)
    savepoint = dbs.begin_nested()
    with pytest.raises(IntegrityError):
        dbs.execute(
            text(
                "INSERT INTO measurements (contract_id, external_id, period_start, period_end,"
                " value, note, source, status, created_at) SELECT contract_id, 'other-id',"
                " period_start, period_end, value, note, source, status, created_at"
                " FROM measurements WHERE id = :id"
            ),
            {"id": first.id},
        )
    savepoint.rollback()
    assert stored(dbs) == 1


def test_the_provider_reads_the_refusal_beside_the_period(app, dbs, client, p):
    _line, contract = measuring(app, dbs, p)
    today = local_today().isoformat()
    form = {"period_start": today, "period_end": today, "value": "66", "note": ""}
    client.login("provider@period.cn")
    url = f"/contracts/{contract.id}/measurements"
    assert client.form(url, {**form, "external_id": "mes-1"}).status_code == 302
    refused = client.form(url, {**form, "external_id": "mes-2", "value": "67"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    error = page[page.index('id="period_start-error"') :]
    assert f"该期间（{today} 至 {today}）已有效果数据（编号 mes-1）" in error[:300]
    assert stored(dbs) == 1


def test_the_api_answers_409_for_a_period_already_measured(app, dbs, client, p):
    _line, contract = measuring(app, dbs, p)
    token = token_for(app, dbs, p.provider, p.provider_owner)
    today = local_today().isoformat()
    body = {"external_id": "mes-1", "period_start": today, "period_end": today, "value": 61.5}
    url = f"/contracts/{contract.id}/measurements"
    assert call(client, "POST", url, token, body).status_code == 201
    answer = call(client, "POST", url, token, body | {"external_id": "mes-2"})
    assert answer.status_code == 409
    assert "（编号 mes-1）" in answer.json["detail"] or "(id mes-1)" in answer.json["detail"]
    assert stored(dbs) == 1


ROW = (
    "INSERT INTO measurements (contract_id, external_id, period_start, period_end, value, note,"
    " source, status, created_at) VALUES (7, ?, '2026-11-01', '2026-11-30', 60, '', 'web',"
    " 'submitted', '2026-12-01 00:00:00')"
)


def insert_without_contract(engine, *external_ids):
    """Measurements of one period for a contract that is not there (only the period matters
    here): through sqlite3 itself, foreign keys off outside a transaction."""
    raw = engine.raw_connection()
    raw.driver_connection.isolation_level = None
    raw.driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        for external_id in external_ids:
            raw.driver_connection.execute(ROW, (external_id,))
    finally:
        raw.close()


def test_the_migration_stops_on_two_measurements_for_one_period(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'periods.sqlite3'}")
    config = migrate.alembic_config(engine)
    before = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    migrate.upgrade(engine, before)
    insert_without_contract(engine, "mes-a", "mes-b")
    with pytest.raises(RuntimeError, match=r"contract 7 2026-11-01 to 2026-11-30 \(2 measurements"):
        command.upgrade(config, REVISION)
    with engine.begin() as conn:  # nothing was dropped or changed
        assert conn.scalars(text("SELECT external_id FROM measurements")).all() == [
            "mes-a",
            "mes-b",
        ]
        conn.execute(text("DELETE FROM measurements"))  # a person decided
    migrate.upgrade(engine)
    migrate.check(engine)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        insert_without_contract(engine, "mes-c", "mes-d")
    engine.dispose()
