"""``db.clock_at``: the demo seed's clock set back, for its block and its context only."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from marketplace.db import LOCAL_ZONE, clock_at, local_today, utcnow
from marketplace.demo import clock


def test_the_clock_is_set_back_for_the_block_only() -> None:
    then = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    with clock_at(then):
        assert abs(utcnow() - then) < timedelta(seconds=5)
        assert local_today() == then.astimezone(LOCAL_ZONE).date()
        with clock_at(then + timedelta(days=2)):
            assert utcnow() - then > timedelta(days=2) - timedelta(seconds=5)
        assert utcnow() - then < timedelta(seconds=5)
        seen: list[datetime] = []  # another thread keeps the real time
        worker = threading.Thread(target=lambda: seen.append(utcnow()))
        worker.start()
        worker.join()
        assert abs(seen[0] - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_steps_keep_their_order_and_stay_in_the_past() -> None:
    now = datetime.now(UTC)
    start = now - timedelta(days=10)
    moments = clock.steps(start, [timedelta(days=1), timedelta(days=30), timedelta(days=31)])
    assert moments[0] == start + timedelta(days=1)
    assert moments == sorted(moments) and len(set(moments)) == 3
    assert moments[-1] <= datetime.now(UTC) - timedelta(minutes=59)
    recent = now - timedelta(minutes=10)  # a recent start: squeezed after it, not before
    squeezed = clock.steps(recent, [timedelta(days=1), timedelta(days=2)])
    assert recent < squeezed[0] < squeezed[1] <= now
    assert clock.days_ago(0, 23) <= now
