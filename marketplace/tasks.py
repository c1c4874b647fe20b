"""The scheduled jobs: what each one finds due and how it moves one item forward. This module
sits at the top, with ``cli``: it drives the domains' services and knows the schedule.

A job runs two ways, over the same two functions:

- **by the queue** (``celery beat`` → a *sweep* task → one *item* task per due id): the
  sweep claims its period first (``jobs.claim_period``: one row per job and period, so two
  schedulers, or a re-delivered sweep, send the items once), then sends one task per item;
- **by the CLI** (``flask auto-accept`` …, for cron or by hand): ``run_now`` calls the item
  function for each due id, each in its own transaction.

Either way an item is one transaction that moves its row with a conditional update, so a
second run (two sweeps, a message delivered again after a worker died) finds nothing to do,
and one bad item never stops the others.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from flask import current_app
from sqlalchemy.exc import OperationalError
from stripe import APIConnectionError, RateLimitError

from marketplace.db import LOCAL_ZONE, db, utcnow, writing
from marketplace.errors import DomainError
from marketplace.jobs import claim_period, send
from marketplace.security import Actor

log = logging.getLogger(__name__)

# Errors worth retrying with backoff: the database or an outside service was unreachable or
# busy for a moment. Anything else fails at once and is recorded for the platform admin.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    smtplib.SMTPException,
    APIConnectionError,
    RateLimitError,
    ConnectionError,
    TimeoutError,
)

SYSTEM = Actor(None, None, "job")


def _days(setting: str) -> timedelta:
    return timedelta(days=current_app.config[setting])


# --- what each job finds due, and its item ---------------------------------------------------


def _auto_accept_due() -> list[int]:
    from marketplace.orders import services as orders

    return orders.due_for_auto_accept(_days("AUTO_ACCEPT_DAYS"))


def _auto_accept(line_id: int) -> bool:
    from marketplace.orders import services as orders

    return orders.auto_accept_line(line_id, _days("AUTO_ACCEPT_DAYS"), SYSTEM)


def _reminders_due() -> list[int]:
    from marketplace.orders import services as orders

    return orders.due_for_reminder(_days("AUTO_ACCEPT_DAYS"), _days("AUTO_ACCEPT_REMINDER_DAYS"))


def _remind(line_id: int) -> bool:
    from marketplace.orders import services as orders

    return orders.remind_line(line_id, _days("AUTO_ACCEPT_DAYS"))


def _disputes_due() -> list[int]:
    from marketplace.orders import disputes

    return disputes.due_for_escalation(_days("DISPUTE_ESCALATION_DAYS"))


def _escalate(dispute_id: int) -> bool:
    from marketplace.orders import disputes

    return disputes.escalate_due(dispute_id, _days("DISPUTE_ESCALATION_DAYS"), SYSTEM)


def _monthly_lines() -> list[int]:
    from marketplace.orders import services as orders

    return orders.monthly_lines()


def _bill_months(line_id: int) -> int:
    from marketplace.orders import services as orders

    return orders.bill_line_months(line_id, SYSTEM)


def _usage_lines() -> list[int]:
    from marketplace.outcomes import usage

    return usage.lines_due()


def _bill_usage(line_id: int) -> int:
    from marketplace.outcomes import usage

    return usage.bill_line(line_id, SYSTEM)


def _breaches_due() -> list[int]:
    from marketplace.orders import aftercare

    return aftercare.due_breaches()


def _record_breach(ticket_id: int) -> bool:
    from marketplace.orders import aftercare

    return aftercare.record_breach(ticket_id)


def _cooled_off_due() -> list[int]:
    from marketplace.orders import services as orders

    return orders.due_for_cooled_off_redemption()


def _redeem_cooled_off(line_id: int) -> int:
    from marketplace.orders import services as orders

    return orders.redeem_cooled_off(line_id, SYSTEM)


def _reservations_expired() -> list[int]:
    from marketplace.vouchers import spending

    return spending.reservations_past_redeem_by()


def _release(reservation_id: int) -> int:
    from marketplace.vouchers import spending

    return spending.release_past_redeem_by(reservation_id, SYSTEM)


def _programmes_expired() -> list[int]:
    from marketplace.vouchers import spending

    return spending.programmes_past_redeem_by()


def _expire(programme_id: int) -> int:
    from marketplace.vouchers import spending

    return spending.expire_programme(programme_id, SYSTEM)


def _watched_programmes() -> list[int]:
    from marketplace.oversight import concentration

    return concentration.watched_programmes()


def _scan(programme_id: int) -> int:
    from marketplace.oversight import concentration

    raised, cleared = concentration.scan_programme(programme_id, SYSTEM)
    return raised + cleared


def _measurements_due() -> list[int]:
    from marketplace.outcomes import services as outcomes

    return outcomes.due_for_confirmation(current_app.config["MEASUREMENT_CONFIRM_DAYS"])


def _confirm(measurement_id: int) -> bool:
    from marketplace.outcomes import services as outcomes

    days = current_app.config["MEASUREMENT_CONFIRM_DAYS"]
    return outcomes.auto_confirm_one(measurement_id, days, SYSTEM)


def _contracts_due() -> list[int]:
    from marketplace.outcomes import services as outcomes

    return outcomes.due_for_settlement()


def _settle(contract_id: int) -> bool:
    from marketplace.outcomes import services as outcomes

    return outcomes.settle_one(contract_id, SYSTEM)


def _mails_due() -> list[int]:
    from marketplace import mail

    return mail.due()


def _send_mail(mail_id: int) -> bool:
    from marketplace import mail

    return mail.send_one(mail_id)


def _digests_due() -> list[int]:
    from marketplace.accounts import notification_mail

    return notification_mail.due_digests()


def _send_digest(user_id: int) -> int:
    from marketplace.accounts import notification_mail

    return notification_mail.send_digest(user_id)


def _refunds_due() -> list[int]:
    from marketplace.payments import services as payments

    return [row.id for row in payments.pending_stripe_refunds()]


def _send_refund(refund_id: int) -> bool:
    from marketplace.payments import services as payments
    from marketplace.payments.models import Refund

    row = db.session.get(Refund, refund_id)
    if row is None or row.status != "pending":
        return False
    payments.send_refund(row)
    return True


# Reminders before silent deadlines: each item sends its notification once per deadline
# (``todos.remind_once``: a UNIQUE row per kind, object, recipient and deadline).


def _setting(name: str) -> int:
    return int(current_app.config[name])


def _vouchers_expiring() -> list[int]:
    from marketplace.vouchers import todos

    return todos.due_for_expiry_reminder(_setting("VOUCHER_EXPIRY_REMINDER_DAYS"))


def _remind_voucher(voucher_id: int) -> bool:
    from marketplace.vouchers import todos

    return todos.remind_expiry(voucher_id, _setting("VOUCHER_EXPIRY_REMINDER_DAYS"))


def _invoices_due() -> list[int]:
    from marketplace.payments import todos

    return todos.due_for_reminder(_setting("INVOICE_REMINDER_DAYS"))


def _remind_invoice(invoice_id: int) -> bool:
    from marketplace.payments import todos

    return todos.remind(invoice_id, _setting("INVOICE_REMINDER_DAYS"))


def _measurements_confirming() -> list[int]:
    from marketplace.outcomes import todos

    return todos.due_for_confirm_reminder(
        _setting("MEASUREMENT_CONFIRM_DAYS"), _setting("MEASUREMENT_REMINDER_DAYS")
    )


def _remind_measurement(measurement_id: int) -> bool:
    from marketplace.outcomes import todos

    return todos.remind_confirm(measurement_id, _setting("MEASUREMENT_CONFIRM_DAYS"))


def _scores_due() -> list[int]:
    from marketplace.oversight import todos

    return todos.due_for_scores_reminder(_setting("EVALUATION_REMINDER_DAYS"))


def _remind_scores(entry_id: int) -> bool:
    from marketplace.oversight import todos

    return todos.remind_scores(entry_id, _setting("EVALUATION_REMINDER_DAYS"))


def _grants_ending() -> list[int]:
    from marketplace.accounts import todos

    return todos.due_for_grant_reminder(_setting("GRANT_REMINDER_DAYS"))


def _remind_grant(grant_id: int) -> bool:
    from marketplace.accounts import todos

    return todos.remind_grant(grant_id, _setting("GRANT_REMINDER_DAYS"))


def _tokens_expiring() -> list[int]:
    from marketplace.accounts import todos

    return todos.due_for_token_reminder(_setting("API_TOKEN_REMINDER_DAYS"))


def _remind_token(token_id: int) -> bool:
    from marketplace.accounts import todos

    return todos.remind_token(token_id, _setting("API_TOKEN_REMINDER_DAYS"))


def _needs_past_deadline() -> list[int]:
    from marketplace.orders import needs

    return needs.due_for_expiry()


def _expire_need(need_id: int) -> bool:
    from marketplace.orders import needs

    return needs.expire_one(need_id, SYSTEM)


def _trials_past_end() -> list[int]:
    from marketplace.orders import trials

    return trials.due_for_expiry()


def _end_trial(trial_id: int) -> bool:
    from marketplace.orders import trials

    return trials.expire_one(trial_id, SYSTEM)


def _trials_ending() -> list[int]:
    from marketplace.orders import trials

    return trials.due_for_reminder()


def _remind_trial(trial_id: int) -> bool:
    from marketplace.orders import trials

    return trials.remind_one(trial_id)


def _common_titles_due() -> list[int]:
    # one item, the whole index; SQLite keeps no such list
    return [1] if db.session.get_bind().dialect.name == "postgresql" else []


def _count_common_titles(_item: int) -> int:
    from marketplace.catalog import search

    return search.count_common_titles()


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta  # how often the scheduler sends the sweep; also the length of a period
    due: Callable[[], list[int]]
    item: Callable[[int], Any]  # truthy when it moved something
    doc: str

    @property
    def sweep_task(self) -> str:
        return f"marketplace.sweep.{self.name}"

    @property
    def item_task(self) -> str:
        return f"marketplace.item.{self.name}"

    def period(self, now: datetime | None = None) -> str:
        """The period a run at ``now`` belongs to, in the pilots' local time: the date for
        daily jobs, else the start of the ``every``-long slot of the day."""
        local = (now or utcnow()).astimezone(LOCAL_ZONE)
        if self.every >= timedelta(days=1):
            return f"{local:%Y-%m-%d}"
        seconds = max(round(self.every.total_seconds()), 1)
        of_day = local.hour * 3600 + local.minute * 60 + local.second
        start = of_day // seconds * seconds
        return f"{local:%Y-%m-%d}T{start // 3600:02d}:{start // 60 % 60:02d}:{start % 60:02d}"


DAY, HOUR = timedelta(days=1), timedelta(hours=1)
JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("auto_accept", HOUR, _auto_accept_due, _auto_accept, "delivered lines left silent"),
        Job("auto_accept_reminders", HOUR, _reminders_due, _remind, "reminders of auto-accept"),
        Job("dispute_escalation", HOUR, _disputes_due, _escalate, "disputes left unsettled"),
        Job("subscription_billing", DAY, _monthly_lines, _bill_months, "subscription months"),
        Job("usage_billing", DAY, _usage_lines, _bill_usage, "usage plans' ended months"),
        Job("sla_breaches", timedelta(minutes=15), _breaches_due, _record_breach, "SLA misses"),
        Job(
            "cooling_off_redemption",
            HOUR,
            _cooled_off_due,
            _redeem_cooled_off,
            "lines accepted while cooling off, the period over",
        ),
        Job("reservation_expiry", DAY, _reservations_expired, _release, "expired reservations"),
        Job("voucher_expiry", DAY, _programmes_expired, _expire, "vouchers past redeem-by"),
        Job("concentration_scans", DAY, _watched_programmes, _scan, "market concentration"),
        Job("measurement_confirmation", HOUR, _measurements_due, _confirm, "silent measurements"),
        Job("contract_settlement", DAY, _contracts_due, _settle, "contracts past their window"),
        Job("stripe_refunds", timedelta(minutes=5), _refunds_due, _send_refund, "refunds"),
        Job("mail_outbox", timedelta(minutes=1), _mails_due, _send_mail, "outgoing e-mail"),
        Job("mail_digest", DAY, _digests_due, _send_digest, "daily e-mail digests"),
        Job("voucher_reminders", DAY, _vouchers_expiring, _remind_voucher, "vouchers expiring"),
        Job("invoice_reminders", DAY, _invoices_due, _remind_invoice, "invoices due or overdue"),
        Job(
            "measurement_reminders",
            HOUR,
            _measurements_confirming,
            _remind_measurement,
            "measurements about to count as confirmed",
        ),
        Job("evaluation_reminders", DAY, _scores_due, _remind_scores, "assessors' scores due"),
        Job("grant_reminders", DAY, _grants_ending, _remind_grant, "data grants ending"),
        Job("api_token_reminders", DAY, _tokens_expiring, _remind_token, "API tokens expiring"),
        Job("need_expiry", HOUR, _needs_past_deadline, _expire_need, "needs past their deadline"),
        Job("trial_expiry", HOUR, _trials_past_end, _end_trial, "trials past their end"),
        Job("trial_reminders", HOUR, _trials_ending, _remind_trial, "trials ending in 3 days"),
        Job(
            "search_common_titles",
            HOUR,
            _common_titles_due,
            _count_common_titles,
            "the search index's words in many titles",
        ),
    )
}


def intervals(config: Mapping[str, Any]) -> dict[str, timedelta]:
    """Each job's interval: its default, or the one ``JOB_SCHEDULE`` gives it as
    ``name=seconds`` pairs separated by commas (``stripe_refunds=3`` runs the refunds job every
    three seconds, as the scale-out test does). A name or number that does not fit stops the
    start: a schedule must not change silently."""
    found = {name: job.every for name, job in JOBS.items()}
    for pair in str(config.get("JOB_SCHEDULE") or "").split(","):
        if not pair.strip():
            continue
        name, _, seconds = (part.strip() for part in pair.partition("="))
        name = name.removeprefix("marketplace.sweep.")
        try:
            every = timedelta(seconds=float(seconds))
        except (ValueError, OverflowError):
            every = timedelta(0)
        if name not in found or every <= timedelta(0):
            raise ValueError(f"JOB_SCHEDULE: {pair.strip()!r} is not a known job=seconds")
        found[name] = every
    return found


def schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``celery beat``'s schedule: each job's sweep at its interval."""
    return {
        JOBS[name].sweep_task: {"task": JOBS[name].sweep_task, "schedule": every}
        for name, every in intervals(config).items()
    }


# --- the queue's tasks -----------------------------------------------------------------------


def sweep(celery: Celery, job: Job, period: str | None = None) -> int:
    """Claim the period, list what is due, send one item task each; how many were sent."""
    every = intervals(celery.flask_app.config)[job.name]
    timed = Job(job.name, every, job.due, job.item, job.doc)
    if not claim_period(job.name, period or timed.period()):
        return 0
    ids = job.due()
    db.session.commit()  # the claim holds before the first item is sent
    return sum(send(celery, job.item_task, item_id) for item_id in ids)


def register(celery: Celery) -> None:
    """Declare every job's sweep and item task on this Celery app: retried with exponential
    backoff (and jitter) on transient errors, at most ``JOB_MAX_RETRIES`` times."""
    options = {
        "autoretry_for": TRANSIENT,
        "retry_backoff": True,
        "retry_backoff_max": 600,
        "retry_jitter": True,
        "max_retries": celery.flask_app.config["JOB_MAX_RETRIES"],
        "shared": False,  # this app's tasks (tests build many apps in one process)
    }
    for job in JOBS.values():
        celery.task(name=job.sweep_task, **options)(_sweep_of(celery, job))
        celery.task(name=job.item_task, **options)(_item_of(job))


def _sweep_of(celery: Celery, job: Job) -> Callable[..., int]:
    def run(period: str | None = None) -> int:
        return sweep(celery, job, period)

    run.__name__ = run.__qualname__ = f"sweep_{job.name}"
    run.__doc__ = f"Sweep: {job.doc}."
    return run


def _item_of(job: Job) -> Callable[[int], bool]:
    def run(item_id: int) -> bool:
        try:
            return bool(job.item(item_id))
        except DomainError as error:  # the row moved on meanwhile: nothing to retry
            log.info("%s %s: %s", job.name, item_id, error.message)
            return False

    run.__name__ = run.__qualname__ = job.name
    run.__doc__ = f"One item: {job.doc}."
    return run


# --- the CLI: the same job, inline --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    due: int  # items found due
    moved: int  # items moved forward now
    total: int  # the sum of what the items returned (vouchers expired, fen released ...)
    failed: int


def run_now(name: str) -> Outcome:
    """Run job ``name`` in this process: each due item in its own transaction (committed, or
    rolled back and counted as failed with the error logged)."""
    job = JOBS[name]
    with writing():
        ids = job.due()
        db.session.rollback()
        moved = total = failed = 0
        for item_id in ids:
            try:
                with writing():
                    done = job.item(item_id)
                    db.session.commit()
            except DomainError as error:
                db.session.rollback()
                log.info("%s %s: %s", name, item_id, error.message)
                continue
            except Exception:
                db.session.rollback()
                log.exception("%s %s failed", name, item_id)
                failed += 1
                continue
            moved += 1 if done else 0
            total += int(done or 0)
    return Outcome(len(ids), moved, total, failed)
