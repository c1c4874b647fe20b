"""The sweeps' schedule: the built-in intervals, ``JOB_SCHEDULE`` overriding some (a test
runs the refunds sweep every few seconds), and periods as long as the interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace import tasks

# 2026-03-01 10:07:04 in Shanghai
NOW = datetime(2026, 3, 1, 2, 7, 4, tzinfo=UTC)


def test_the_defaults_hold_without_an_override():
    schedule = tasks.schedule({"JOB_SCHEDULE": ""})
    assert schedule["marketplace.sweep.refunds"]["schedule"] == timedelta(minutes=5)
    assert set(schedule) == set(tasks.SWEEPS)


@pytest.mark.parametrize(
    "setting", ["refunds=3", "marketplace.sweep.refunds = 3 ,", " refunds=3.0"]
)
def test_an_override_names_the_sweep_with_or_without_its_prefix(setting):
    every = tasks.intervals({"JOB_SCHEDULE": setting})
    assert every["marketplace.sweep.refunds"] == timedelta(seconds=3)


@pytest.mark.parametrize(
    "setting", ["nothing=3", "refunds=soon", "refunds=0", "refunds", "refunds=inf"]
)
def test_a_wrong_override_stops_the_start(setting):
    with pytest.raises(ValueError, match="JOB_SCHEDULE"):
        tasks.schedule({"JOB_SCHEDULE": setting})


def test_a_period_is_a_slot_as_long_as_the_interval():
    assert tasks._slot(5, NOW) == "2026-03-01T10:05"  # as before: minutes
    assert tasks._slot(60, NOW) == "2026-03-01T10:00"
    assert tasks._slot(3 / 60, NOW) == "2026-03-01T10:07:03"  # seconds when shorter
    assert tasks._slot(3 / 60, NOW + timedelta(seconds=2)) == "2026-03-01T10:07:06"
    assert tasks._slot(90 / 60, NOW) == "2026-03-01T10:06:00"
