"""Time each scheduled job at the benchmark's scale, and the job queue's latency.

    .venv/bin/python bench/jobs.py [DATABASE_URL] [--items 200] [--broker URL]

For every job of ``marketplace.tasks``: how long its sweep takes to list what is due over the
whole dataset, and the mean time of one item (its own transaction), measured over the first
``--items`` due ones. Then a real Celery worker (one process, solo pool) on ``--broker``
(default: Redis database 15 on 127.0.0.1, else kombu's SQLAlchemy transport on a file) runs
no-op tasks: the latency from sending to the task starting (one at a time), and how many a
second it gets through when 500 are queued at once.

The items change the database (lines are accepted, months billed ...): run it after
``bench/run.py``, on a database built by ``bench/dataset.py`` (``make bench`` does both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from celery.contrib.testing.worker import start_worker

from marketplace import create_app, tasks
from marketplace.config import Config
from marketplace.db import db, writing


def app_for(url: str, broker: str):  # type: ignore[no-untyped-def]
    config = Config()
    config.SECRET_KEY = "bench"
    config.DATABASE_URL = url
    config.CELERY_BROKER_URL = broker
    config.RATELIMIT_ENABLED = False
    config.LOG_FORMAT = "text"
    return create_app(config)


def time_jobs(app, items: int) -> None:  # type: ignore[no-untyped-def]
    print(f"{'job':28} {'due':>8} {'list ms':>9} {'items run':>9} {'ms/item':>8} {'failed':>6}")
    for name, job in tasks.JOBS.items():
        with app.app_context():
            started = time.perf_counter()
            with writing():
                ids = job.due()
            listing = time.perf_counter() - started
            db.session.rollback()
            sample, failed = ids[:items], 0
            started = time.perf_counter()
            for item_id in sample:
                try:
                    with writing():
                        job.item(item_id)
                        db.session.commit()
                except Exception:
                    db.session.rollback()
                    failed += 1
            spent = time.perf_counter() - started
        per_item = f"{spent / len(sample) * 1000:8.1f}" if sample else f"{'-':>8}"
        print(
            f"{name:28} {len(ids):8,} {listing * 1000:9.1f} {len(sample):9,} {per_item} {failed:6}"
        )


def time_queue(app, rounds: int = 200, burst: int = 500) -> None:  # type: ignore[no-untyped-def]
    celery = app.extensions["celery"]
    started: dict[int, float] = {}
    done = threading.Event()

    @celery.task(name="bench.noop", shared=False)
    def noop(n: int, last: int) -> None:
        started[n] = time.perf_counter()
        if n == last:
            done.set()

    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        latencies = []
        for n in range(rounds):
            sent = time.perf_counter()
            noop.delay(n, -1)
            while n not in started:
                time.sleep(0.0005)
            latencies.append((started[n] - sent) * 1000)
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(
            f"queue latency (send → task starts), {rounds} one at a time: "
            f"p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms"
        )
        first = time.perf_counter()
        for n in range(rounds, rounds + burst):
            noop.delay(n, rounds + burst - 1)
        done.wait(timeout=300)
        spent = time.perf_counter() - first
        print(f"throughput: {burst} queued at once done in {spent:.1f} s ({burst / spent:.0f}/s)")


def default_broker() -> str:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=1).ping()
        return "redis://127.0.0.1:6379/15"
    except Exception:
        return f"sqla+sqlite:///{tempfile.mkdtemp()}/broker.sqlite3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--broker", default=None)
    args = parser.parse_args()
    broker = args.broker or default_broker()
    app = app_for(args.url, broker)
    print(f"database {args.url.split(':', 1)[0]}, broker {broker.split(':', 1)[0]}")
    time_jobs(app, args.items)
    time_queue(app)
    app.extensions["db"].engine.dispose()


if __name__ == "__main__":
    main()
