"""The job queue through a real Celery worker and a real broker (kombu's SQLAlchemy transport
on a SQLite file: no Redis needed), on a database of its own whose writes really commit.

What is proved: a task runs in the app's context as one transaction; a transient error is
retried with backoff and recorded while it is; a task that keeps failing is recorded with its
last error, shown to the platform admin and sent again from there; a periodic sweep claims its
period once, however many schedulers send it; a message sent after a commit reaches the
worker, and one of a rolled-back transaction never does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import func, select, text

from marketplace import create_app, jobs, migrate
from marketplace.config import TestConfig
from marketplace.db import db, make_engine
from marketplace.jobs.models import JobPeriod, JobRecord, JobState
from tests.conftest import Client, _compile_translations, scratch_database_url
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.slow

CALLS: dict[str, int] = {}


def _wait(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the worker did not get there in time")


@pytest.fixture(scope="module")
def queue_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = scratch_database_url(tmp_path_factory, "jobs")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    _compile_translations()
    config = TestConfig(url)
    config.CELERY_BROKER_URL = f"sqla+sqlite:///{tmp_path_factory.mktemp('broker') / 'b.sqlite3'}"
    config.JOB_MAX_RETRIES = 2
    app = create_app(config)
    app.test_client_class = Client
    celery = app.extensions["celery"]
    retry_now = {
        "retry_backoff": False,
        "default_retry_delay": 0,
        "max_retries": 2,
        "shared": False,
    }

    @celery.task(name="tests.note", **retry_now)
    def note(key: str) -> None:
        """Writes through the app's session: committed by the task, visible afterwards."""
        CALLS[key] = CALLS.get(key, 0) + 1
        jobs.claim_period("tests.note", key)

    @celery.task(name="tests.flaky", autoretry_for=(ConnectionError,), **retry_now)
    def flaky(key: str, failures: int) -> None:
        CALLS[key] = CALLS.get(key, 0) + 1
        jobs.claim_period("tests.flaky", f"{key}-{CALLS[key]}")  # rolled back when it raises
        if CALLS[key] <= failures:
            raise ConnectionError(f"the bank's gateway timed out ({CALLS[key]})")

    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app
    app.extensions["db"].engine.dispose()


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _periods(app: Flask, job: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(JobPeriod.period).where(JobPeriod.job == job)))


def test_a_task_runs_in_the_app_and_commits(queue_app):
    with queue_app.app_context():
        jobs.send(queue_app.extensions["celery"], "tests.note", "first")
    assert _wait(lambda: _periods(queue_app, "tests.note") == ["first"])


def test_a_transient_error_is_retried_and_recorded_until_it_succeeds(queue_app):
    with queue_app.app_context():
        jobs.send(queue_app.extensions["celery"], "tests.flaky", "twice", 2)
    _wait(lambda: _count(queue_app, JobRecord, JobRecord.state == JobState.SUCCEEDED))
    assert CALLS["twice"] == 3  # two failures, then success
    # only the successful run's writes stayed
    assert _periods(queue_app, "tests.flaky") == ["twice-3"]
    with queue_app.app_context():
        record = db.session.scalars(select(JobRecord).where(JobRecord.name == "tests.flaky")).one()
        assert (record.attempts, record.state) == (2, JobState.SUCCEEDED)
        assert "timed out (2)" in record.last_error


def test_a_job_that_keeps_failing_is_shown_and_sent_again(queue_app):
    with queue_app.app_context():
        jobs.send(queue_app.extensions["celery"], "tests.flaky", "always", 3)
    _wait(lambda: _count(queue_app, JobRecord, JobRecord.state == JobState.FAILED))
    assert CALLS["always"] == 3  # the first run and two retries
    with queue_app.app_context():
        platform = OrganisationFactory.build(platform=True)
        db.session.add(platform)
        db.session.flush()
        admin = UserFactory.build(org=platform, email="jobs-admin@platform.cn")
        db.session.add(admin)
        db.session.commit()
    client = queue_app.test_client()
    client.login("jobs-admin@platform.cn")
    page = client.text("/admin/jobs")
    assert "tests.flaky" in page and "the bank&#39;s gateway timed out (3)" in page
    assert "重新发送" in page
    with queue_app.app_context():
        record_id = db.session.scalar(
            select(JobRecord.id).where(JobRecord.state == JobState.FAILED)
        )
    # the cause is fixed (the fourth run succeeds): the admin sends it again
    answer = client.form(f"/admin/jobs/{record_id}/resubmit", {})
    assert answer.status_code == 302
    _wait(lambda: CALLS["always"] == 4)
    with queue_app.app_context():
        assert db.session.get(JobRecord, record_id).state is JobState.RESUBMITTED
    again = client.form(f"/admin/jobs/{record_id}/resubmit", {})  # a second click
    assert "只有失败的任务才能重新发送" in client.text("/admin/jobs") or again.status_code == 302
    time.sleep(0.5)
    assert CALLS["always"] == 4  # not sent twice


def test_a_sweep_claims_its_period_once_whatever_the_number_of_schedulers(queue_app):
    celery = queue_app.extensions["celery"]
    with queue_app.app_context():
        for _ in range(3):  # three schedulers sent the same five-minute sweep
            jobs.send(celery, "marketplace.sweep.stripe_refunds", "2026-12-05T09:05")
    _wait(lambda: _periods(queue_app, "stripe_refunds") == ["2026-12-05T09:05"])
    time.sleep(1.0)
    assert _periods(queue_app, "stripe_refunds") == ["2026-12-05T09:05"]


def test_sent_after_commit_only(queue_app):
    with queue_app.app_context():
        jobs.send_after_commit("tests.note", "rolled-back")
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        jobs.send_after_commit("tests.note", "committed")
        db.session.execute(text("SELECT 1"))
        db.session.commit()
    _wait(lambda: "committed" in _periods(queue_app, "tests.note"))
    time.sleep(0.5)
    assert "rolled-back" not in _periods(queue_app, "tests.note")


def test_the_broker_down_is_logged_not_raised(database_url, caplog):
    """A request that committed must not answer 500 because the broker is unreachable."""
    config = TestConfig(database_url)
    config.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    app = create_app(config)
    try:
        with app.app_context():
            assert jobs.send(app.extensions["celery"], "tests.note", "nowhere") is False
    finally:
        app.extensions["db"].engine.dispose()
    assert "not sent" in caplog.text
