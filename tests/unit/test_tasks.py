"""The scheduled jobs' table: periods, intervals and the beat schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace import tasks


def test_a_daily_job_has_one_period_per_local_day():
    job = tasks.JOBS["voucher_expiry"]
    # 23:30 UTC is 07:30 the next day in Shanghai
    assert job.period(datetime(2026, 12, 5, 23, 30, tzinfo=UTC)) == "2026-12-06"
    assert job.period(datetime(2026, 12, 6, 15, 59, tzinfo=UTC)) == "2026-12-06"


def test_a_short_job_has_one_period_per_slot():
    job = tasks.JOBS["stripe_refunds"]  # every five minutes
    at = datetime(2026, 12, 5, 1, 7, 59, tzinfo=UTC)  # 09:07:59 local
    assert job.period(at) == "2026-12-05T09:05:00"
    assert job.period(at + timedelta(seconds=61)) == "2026-12-05T09:05:00"
    assert job.period(at + timedelta(minutes=3)) == "2026-12-05T09:10:00"


def test_intervals_can_be_set_per_job():
    found = tasks.intervals(
        {"JOB_SCHEDULE": "stripe_refunds=3, marketplace.sweep.sla_breaches=1.5"}
    )
    assert found["stripe_refunds"] == timedelta(seconds=3)
    assert found["sla_breaches"] == timedelta(seconds=1.5)
    assert found["auto_accept"] == tasks.JOBS["auto_accept"].every
    for wrong in ("nonsense=1", "auto_accept=x", "auto_accept=0"):
        with pytest.raises(ValueError, match="JOB_SCHEDULE"):
            tasks.intervals({"JOB_SCHEDULE": wrong})
    schedule = tasks.schedule({"JOB_SCHEDULE": "stripe_refunds=3"})
    assert schedule["marketplace.sweep.stripe_refunds"]["schedule"] == timedelta(seconds=3)
    assert set(schedule) == {job.sweep_task for job in tasks.JOBS.values()}
