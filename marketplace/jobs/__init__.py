"""The job queue: Celery, set up as the Flask documentation shows (a task class that runs
every task inside the app's context), with the house's rules for a transaction.

- **One task per item.** A scheduled job is a *sweep* that lists what is due and sends one
  task per item (a line to accept, a month to bill, a refund to send); each item task is one
  transaction, committed when it returns and rolled back when it raises, so one bad item
  never stops the others.
- **The database stays the source of truth.** A task only moves a row forward with the
  services' conditional updates (outbox rows such as refunds, due lines, due months): running
  it twice, or after a worker died in the middle, finds the row already moved and does
  nothing. Hence late acknowledgement (a message is acknowledged once its task finished, and
  re-delivered if the worker died) is safe.
- **Once per period.** Each sweep first claims its period (``claim_period``: a row with a
  UNIQUE key per job and period), so two schedulers sending the same sweep, or a re-delivered
  sweep, list and send nothing the second time. The items are idempotent as well, so even a
  sweep claimed twice could not act twice.
- **Failures are visible.** A retried or failed task is recorded (``JobRecord``) with its last
  error; the platform admin sees them and can send one again.

``celery -A marketplace.jobs worker`` and ``celery -A marketplace.jobs beat`` find the app in
``marketplace/jobs/celery.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, Task, signals
from flask import Flask, current_app
from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session

from marketplace import observability
from marketplace.db import add_unique, db, utcnow, writing
from marketplace.jobs.models import JobPeriod, JobRecord, JobState

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "request_id"


class FlaskTask(Task):
    """Runs inside the Flask app's context, as one transaction: committed when the task
    returns, rolled back when it raises (then Celery retries or records the failure)."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flask_app: Flask = self.app.flask_app
        with flask_app.app_context(), _request_id(self.request), writing():
            try:
                result = self.run(*args, **kwargs)
                db.session.commit()
                return result
            except BaseException:
                db.session.rollback()
                raise


@contextmanager
def _request_id(request: Any) -> Iterator[None]:
    """Log records of a task carry the id of the request that sent it (when there was one)."""
    rid = getattr(request, REQUEST_ID_HEADER, None) or (request.headers or {}).get(
        REQUEST_ID_HEADER
    )
    with observability.bound_request_id(rid):
        yield


def init_app(app: Flask) -> Celery:
    """One Celery app per Flask app, configured from its settings (``CELERY_*``, ``JOB_*``)."""
    from marketplace import tasks  # the sweeps and their schedule (the composition root)

    config = app.config
    broker = config["CELERY_BROKER_URL"] or "memory://"
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=broker,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=config["JOB_TIME_LIMIT"],
        task_soft_time_limit=max(config["JOB_TIME_LIMIT"] - 10, 1),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        broker_transport_options=dict(config["CELERY_BROKER_TRANSPORT_OPTIONS"]),
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        beat_schedule=tasks.schedule(config),
        beat_schedule_filename=config["CELERY_BEAT_SCHEDULE_FILE"],
        timezone="Asia/Shanghai",
        worker_hijack_root_logger=False,
    )
    celery.flask_app = app
    tasks.register(celery)
    app.extensions["celery"] = celery
    observability.set_queue_depth_source(lambda: queue_depths(celery))
    return celery


def queue_depths(celery: Celery) -> dict[str, int]:
    """Messages waiting in the default queue (for /metrics); nothing when the broker is down."""
    queue = celery.conf.task_default_queue
    try:
        with celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
            return {queue: int(declared.message_count)}
    except Exception:  # a scrape must not fail because the broker did
        return {}


def celery_app() -> Celery:
    return current_app.extensions["celery"]


# --- sending after the transaction commits ---------------------------------------------------

_AFTER_COMMIT = "jobs.after_commit"


def send_after_commit(task_name: str, *args: Any) -> None:
    """Send a task once the current transaction has committed (so the worker finds what the
    request wrote); dropped if it rolls back. The broker being unreachable is logged, never
    raised: the sweep that lists due rows will find the row later."""
    session = db.session()
    session.info.setdefault(_AFTER_COMMIT, []).append(
        (current_app.extensions["celery"], task_name, args)
    )


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    for celery, name, args in session.info.pop(_AFTER_COMMIT, []):
        send(celery, name, *args)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: Any) -> None:
    """A transaction that ended without a commit (``after_commit`` sent and emptied the list
    first) drops what it would have sent."""
    if transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


def send(celery: Celery, name: str, *args: Any) -> bool:
    """Send task ``name`` now, carrying the current request id; False if the broker refused."""
    headers = {}
    rid = observability.current_request_id()
    if rid:
        headers[REQUEST_ID_HEADER] = rid
    try:
        celery.send_task(name, args=list(args), headers=headers)
    except Exception as error:  # the broker is an outside service
        log.warning("job %s%r not sent (the sweep will find it): %s", name, args, error)
        return False
    return True


# --- once per period -------------------------------------------------------------------------


def claim_period(job: str, period: str) -> bool:
    """Whether this run may do ``job`` for ``period`` (a day, an hour, a five-minute slot):
    the first to insert the (job, period) row wins; any other finds it and does nothing."""
    won = add_unique(JobPeriod(job=job, period=period))
    log.info("job %s, period %s: %s", job, period, "claimed" if won else "claimed already")
    return won


# --- failed and retried tasks ------------------------------------------------------------------


def _record(task: Task, task_id: str, args: Any, kwargs: Any, state: JobState, error: str) -> None:
    """Upsert the task's record in a transaction of its own (the task's was rolled back)."""
    flask_app: Flask = task.app.flask_app
    with flask_app.app_context():
        engine = db.engine
        values = {"state": state, "last_error": error[:2000], "updated_at": utcnow()}
        with engine.begin() as conn:
            moved = conn.execute(
                update(JobRecord)
                .where(JobRecord.task_id == task_id)
                .values(attempts=JobRecord.attempts + 1, **values)
            )
            if moved.rowcount == 0:
                conn.execute(
                    insert(JobRecord).values(
                        task_id=task_id,
                        name=task.name,
                        args=json.dumps(list(args or []), default=str),
                        kwargs=json.dumps(dict(kwargs or {}), default=str),
                        attempts=1,
                        created_at=utcnow(),
                        **values,
                    )
                )


_STARTED: dict[str, float] = {}


@signals.task_prerun.connect
def _on_start(task_id: str = "", **_: Any) -> None:
    _STARTED[task_id] = time.monotonic()


def _count(sender: Task, task_id: str, outcome: str) -> None:
    started = _STARTED.pop(task_id, None)
    seconds = time.monotonic() - started if started is not None else 0.0
    with sender.app.flask_app.app_context():
        observability.job_finished(sender.name, outcome, seconds)


@signals.task_retry.connect
def _on_retry(
    sender: Task | None = None, request: Any = None, reason: Any = None, **_: Any
) -> None:
    if sender is not None and hasattr(sender.app, "flask_app"):
        _count(sender, request.id, "retried")
        _record(sender, request.id, request.args, request.kwargs, JobState.RETRYING, repr(reason))


@signals.task_failure.connect
def _on_failure(
    sender: Task | None = None,
    task_id: str = "",
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    **_: Any,
) -> None:
    if sender is not None and hasattr(sender.app, "flask_app"):
        _count(sender, task_id, "failed")
        _record(sender, task_id, args, kwargs, JobState.FAILED, repr(exception))


@signals.task_success.connect
def _on_success(sender: Task | None = None, **_: Any) -> None:
    """A task that had failed or been retried and now succeeded: its record says so."""
    if sender is None or not hasattr(sender.app, "flask_app"):
        return
    _count(sender, sender.request.id, "succeeded")
    with sender.app.flask_app.app_context(), db.engine.begin() as conn:
        conn.execute(
            update(JobRecord)
            .where(JobRecord.task_id == sender.request.id, JobRecord.state != JobState.SUCCEEDED)
            .values(state=JobState.SUCCEEDED, updated_at=utcnow())
        )


# --- the platform admin's view -----------------------------------------------------------------


def problems(limit: int = 200) -> list[JobRecord]:
    """Tasks that failed or are being retried, most recent first, then the rest."""
    from sqlalchemy import case, select

    open_first = case((JobRecord.state.in_([JobState.FAILED, JobState.RETRYING]), 0), else_=1)
    stmt = select(JobRecord).order_by(open_first, JobRecord.updated_at.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def resubmit(record: JobRecord, actor: Any) -> None:
    """Send a failed task again with its arguments (after this transaction commits); its
    record says it was sent again, so a second click does nothing."""
    from marketplace import audit
    from marketplace.errors import DomainError

    moved = db.session.execute(
        update(JobRecord)
        .where(JobRecord.id == record.id, JobRecord.state == JobState.FAILED)
        .values(state=JobState.RESUBMITTED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        from flask_babel import lazy_gettext as _l

        raise DomainError(_l("Only a failed job can be sent again."))
    db.session.refresh(record)
    send_after_commit(record.name, *json.loads(record.args))
    audit.record(actor, "job.resubmitted", "job", record.id, name=record.name)


@signals.setup_logging.connect
def _keep_the_apps_logging(**_: Any) -> None:
    """The app configures logging (JSON lines with the request id); Celery, seeing a receiver
    here, leaves it alone instead of replacing the handlers."""
