"""gunicorn settings for the web process (``gunicorn -c gunicorn.conf.py 'marketplace:create_app()'``).

Every value can be changed in the environment (/etc/marketplace/env under systemd):
GUNICORN_BIND, WEB_CONCURRENCY (worker processes), GUNICORN_THREADS, GUNICORN_TIMEOUT.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
# Processes: each hashes passwords with argon2 (64 MiB per login), so memory, not only CPUs,
# bounds this; threads serve the requests that wait on the database.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))  # gthread above 1, as the load test runs
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))  # a request running longer is killed
graceful_timeout = 30  # a stop or reload lets requests in flight finish for this long
# Longer than nginx keeps an idle upstream connection (keepalive_timeout 60s in
# nginx/marketplace.conf): nginx never sends a request on a connection gunicorn just closed.
keepalive = 75
worker_tmp_dir = "/dev/shm"  # the workers' heartbeat files, never on a slow disk

# The app writes its own access log (logger marketplace.access: one line per request with its
# request id, endpoint, status, duration and user, JSON by default) to standard error, so
# gunicorn's would say the same thing twice. gunicorn's own messages go to standard error.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
capture_output = False

# gunicorn 27's control socket (in $HOME) is not used; two instances would share it.
control_socket_disable = True

# /metrics with several workers: each process writes its counts into PROMETHEUS_MULTIPROC_DIR
# (set it in the environment, it must be set before any worker starts) and a scrape sums the
# files. A worker that exits is marked dead so its live gauges are dropped.
_PID_FILE = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server: Any) -> None:
    """Create the metrics folder; drop the files of processes that are gone (a previous run),
    keeping those of a job worker of this host that is still running."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for path in Path(folder).glob("*.db"):
        match = _PID_FILE.search(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the app: its modules, mappers and reference data live as long as
    the process, so the collector is told to leave them out of its full collections (each
    looked at every one of them again: about 140 ms of a computed statistics page in one
    request out of four, bench/RESULTS.md)."""
    import gc

    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
