"""When things happened in the demo's story: moments counted back from the real now, for
``db.clock_at`` (orders placed weeks ago are accepted, delivered and disputed on the days
after, never all in one minute)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from marketplace.db import LOCAL_ZONE


def real_now() -> datetime:
    return datetime.now(UTC)


def days_ago(days: int, hour: int = 10) -> datetime:
    """``hour`` o'clock (Beijing time) ``days`` days before the real today; never later than a
    minute ago."""
    day = real_now().astimezone(LOCAL_ZONE).date() - timedelta(days=days)
    return min(datetime.combine(day, time(hour), LOCAL_ZONE), real_now() - timedelta(minutes=1))


def steps(start: datetime, wanted: list[timedelta]) -> list[datetime]:
    """The moments ``start + w`` for each wanted delay, in order, each at least a minute after
    the one before (the first a minute after ``start``), and the last an hour ago at the
    latest, or a few minutes after a recent ``start`` (a story that would run into the future
    is told faster)."""
    latest = max(real_now() - timedelta(hours=1), start + timedelta(minutes=len(wanted)))
    found: list[datetime] = []
    for n, delay in enumerate(wanted):
        room = timedelta(minutes=len(wanted) - 1 - n)
        moment = min(start + delay, latest - room)
        found.append(max(moment, (found[-1] if found else start) + timedelta(minutes=1)))
    return found
