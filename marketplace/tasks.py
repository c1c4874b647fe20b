"""The scheduled jobs as tasks: each sweep claims its period, lists what is due and sends one
task per item (see ``marketplace.jobs``). This module sits at the top, with ``cli``: it
drives the domains' services and knows the schedule.

Item tasks take ids, load their row and call the service that moves it forward with a
conditional update, so a second run (a re-delivered message, two sweeps) does nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError
from stripe import APIConnectionError, RateLimitError

from marketplace.db import LOCAL_ZONE, db, utcnow
from marketplace.jobs import claim_period, send

# Errors worth retrying with backoff: the database or an outside service was unreachable or
# busy for a moment. Anything else fails at once and is recorded for the platform admin.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    APIConnectionError,
    RateLimitError,
    ConnectionError,
    TimeoutError,
)


def _slot(minutes: float, now: datetime | None = None) -> str:
    """The period a sweep run belongs to: the local date and the time of day rounded down to
    a multiple of ``minutes`` (``2025-03-01T10:05`` for five minutes; with seconds when the
    slot is not whole minutes, as a sped-up schedule's is: ``2025-03-01T10:05:03``)."""
    local = (now or utcnow()).astimezone(LOCAL_ZONE)
    step = max(round(minutes * 60), 1)
    start = (local.hour * 3600 + local.minute * 60 + local.second) // step * step
    hours, seconds = divmod(start, 3600)
    text = f"{local:%Y-%m-%d}T{hours:02d}:{seconds // 60:02d}"
    return text if step % 60 == 0 else f"{text}:{seconds % 60:02d}"


def _sweep_slot(celery: Celery, name: str) -> str:
    """The period of sweep ``name`` now: a slot as long as its interval (``JOB_SCHEDULE`` may
    shorten it), so each interval is claimed once."""
    every = intervals(celery.flask_app.config)[name]
    return _slot(every.total_seconds() / 60)


def _day(now: datetime | None = None) -> str:
    return f"{(now or utcnow()).astimezone(LOCAL_ZONE):%Y-%m-%d}"


# --- the sweeps and their items --------------------------------------------------------------


def sweep_refunds(celery: Celery, period: str | None = None) -> int:
    """Send each queued Stripe refund (every five minutes)."""
    from marketplace.payments import services as payments

    if not claim_period("refunds", period or _sweep_slot(celery, "marketplace.sweep.refunds")):
        return 0
    ids = [row.id for row in payments.pending_stripe_refunds()]
    db.session.commit()  # the claim holds before any item is sent
    for refund_id in ids:
        send(celery, "marketplace.refund", refund_id)
    return len(ids)


def send_refund(refund_id: int) -> None:
    from marketplace.payments import services as payments
    from marketplace.payments.models import Refund

    row = db.session.get(Refund, refund_id)
    if row is not None and row.status == "pending":
        payments.send_refund(row)


# task name → (sweep, interval); task name → item
SWEEPS: dict[str, tuple[Callable[..., int], Any]] = {
    "marketplace.sweep.refunds": (sweep_refunds, timedelta(minutes=5)),
}
ITEMS: dict[str, Callable[..., Any]] = {
    "marketplace.refund": send_refund,
}


def schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``celery beat``'s schedule: every sweep at its interval (``JOB_SCHEDULE`` may change
    some)."""
    return {name: {"task": name, "schedule": every} for name, every in intervals(config).items()}


SWEEP_PREFIX = "marketplace.sweep."


def intervals(config: Mapping[str, Any]) -> dict[str, Any]:
    """Each sweep's interval: its default, or the one ``JOB_SCHEDULE`` gives it as
    ``name=seconds`` pairs separated by commas (the task's name, ``marketplace.sweep.`` may be
    left out), e.g. ``refunds=3`` to run the refunds sweep every three seconds in a test. A
    name or number that does not fit stops the start (a schedule must not change silently)."""
    found = {name: every for name, (_, every) in SWEEPS.items()}
    for pair in str(config.get("JOB_SCHEDULE") or "").split(","):
        if not pair.strip():
            continue
        name, _, seconds = (part.strip() for part in pair.partition("="))
        full = name if name.startswith(SWEEP_PREFIX) else SWEEP_PREFIX + name
        try:
            every = timedelta(seconds=float(seconds))
        except (ValueError, OverflowError):
            every = timedelta(0)
        if full not in found or every <= timedelta(0):
            raise ValueError(f"JOB_SCHEDULE: {pair.strip()!r} is not a known sweep=seconds")
        found[full] = every
    return found


def register(celery: Celery) -> None:
    """Declare every sweep and item task on this Celery app: retried with exponential
    backoff (and jitter) on transient errors, at most ``JOB_MAX_RETRIES`` times."""
    retries = celery.flask_app.config["JOB_MAX_RETRIES"]
    options = {
        "autoretry_for": TRANSIENT,
        "retry_backoff": True,
        "retry_backoff_max": 600,
        "retry_jitter": True,
        "max_retries": retries,
        "shared": False,  # this app's tasks (tests build many apps in one process)
    }
    for name, (sweep, _every) in SWEEPS.items():
        celery.task(name=name, **options)(_bound(sweep, celery))
    for name, item in ITEMS.items():
        celery.task(name=name, **options)(item)


def _bound(sweep: Callable[..., int], celery: Celery) -> Callable[..., int]:
    def run(period: str | None = None) -> int:
        return sweep(celery, period)

    run.__name__ = run.__qualname__ = sweep.__name__
    run.__doc__ = sweep.__doc__
    return run
