"""What operators watch: request ids, JSON logs and the access log, the health and readiness
probes, Prometheus metrics, and error reports to Sentry (README.md, Operations).

``create_app`` calls ``init_app(app)`` once. The job queue uses four helpers:
``current_request_id()`` when it enqueues (to pass the id along), ``bound_request_id(rid)``
around a task (its log records then carry the id), ``job_finished(task, outcome, seconds)``
after each run, and ``set_queue_depth_source(callable)`` once, for the queue-depth gauge.

Every log record gets ``request_id`` when it is made (``install_record_factory``), so never
pass it in ``extra=`` (logging refuses to overwrite it); bind it with ``bound_request_id``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, partial
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import IO, Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    has_app_context,
    has_request_context,
    jsonify,
    request,
)
from flask.logging import default_handler
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, inspect, text

from marketplace.extensions import csrf, limiter
from marketplace.security import public

log = logging.getLogger(__name__)
access_log = logging.getLogger("marketplace.access")

# ---------------------------------------------------------------------------------------------
# Request ids

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Set by ``bound_request_id`` (a worker's task); a request keeps its id in ``g``.
_bound_request_id: ContextVar[str | None] = ContextVar("bound_request_id", default=None)


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is a safe token (letters, digits, ``-_.:``, up to 64), else a
    new one: an id goes into every log line, so nothing else may pass through."""
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the task or request being handled (None outside both)."""
    bound = _bound_request_id.get()
    if bound is not None:
        return bound
    if has_request_context():
        rid: str | None = g.get("request_id")
        return rid
    return None


@contextmanager
def bound_request_id(rid: str | None) -> Iterator[str]:
    """Log records inside the block carry ``rid`` (a new id when it is missing or unsafe),
    and so do Sentry's reports; for worker tasks enqueued with ``current_request_id()``."""
    rid = accept_request_id(rid)
    token = _bound_request_id.set(rid)
    _tag_sentry(rid)
    try:
        yield rid
    finally:
        _bound_request_id.reset(token)


# ---------------------------------------------------------------------------------------------
# Logging

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id_text)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Gives a record passing the handler the current request (or task) id, if it has none
    (``install_record_factory`` gives one to every record, this covers other factories)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None)
        if rid is None:
            rid = record.request_id = current_request_id()
        record.request_id_text = rid or "-"
        return True


def install_record_factory() -> None:
    """Every log record carries ``request_id`` from its creation, whichever handler (the
    app's, Sentry's, pytest's caplog) sees it. Installed once per process."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "marketplace", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    factory.marketplace = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def log_formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "request_id_text"],
            timestamp=True,
        )
    if fmt == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}.")


def log_handler(fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``fmt`` lines (json or text) with the request id."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(log_formatter(fmt))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """One handler on the root logger (replacing the one an earlier app installed)."""
    install_record_factory()
    handler = log_handler(fmt)
    handler.marketplace = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "marketplace", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO whenever it is imported (by the CLI).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# ---------------------------------------------------------------------------------------------
# Metrics

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
JOB_OUTCOMES = frozenset({"succeeded", "failed", "retried"})
_queue_depth_source: Callable[[], Mapping[str, int]] | None = None


class Metrics:
    """The app's metrics in a registry of its own (two apps in one process, as in the tests,
    do not share counts)."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by Flask endpoint (404: no route), method and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, by Flask endpoint and method.",
            ["endpoint", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.jobs = Counter(
            "jobs",
            "Background job runs by task and outcome (succeeded, failed, retried).",
            ["task", "outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "job_duration_seconds",
            "Time a background job run took, by task.",
            ["task"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self.live = LiveCollector(engine)
        self.registry.register(self.live)
        if not multiprocess_dir():
            ProcessCollector(registry=self.registry)

    def scrape(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition in the format the scraper accepts (Prometheus' text by default)."""
        encode, content_type = choose_encoder(accept or "")
        if not multiprocess_dir():
            return encode(self.registry), content_type
        # gunicorn with several workers: each process writes its counts to files in the
        # folder; the scrape sums them. Pool and queue gauges are read here, live.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.live)
        return encode(registry), content_type


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class LiveCollector(Collector):
    """Gauges read at scrape time: the database pool and the job queues' depth."""

    POOL = (
        ("db_pool_checked_out", "checkedout", "Database connections in use."),
        ("db_pool_checked_in", "checkedin", "Idle database connections in the pool."),
        ("db_pool_size", "size", "Database connections the pool keeps."),
        ("db_pool_overflow", "overflow", "Database connections open beyond the pool size."),
    )

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        pool = self.engine.pool
        for name, method, documentation in self.POOL:
            read = getattr(pool, method, None)  # a pool of another kind may not count
            if not callable(read):
                continue
            try:
                value = max(int(read()), 0)  # SQLAlchemy's overflow is negative until full
            except Exception:  # a scrape never fails for one gauge
                continue
            yield GaugeMetricFamily(name, documentation, value=value)
        source = _queue_depth_source
        if source is None:
            return
        try:
            depths = dict(source())
        except Exception:
            log.warning("the queue-depth source failed", exc_info=True)
            return
        family = GaugeMetricFamily(
            "job_queue_depth", "Jobs waiting in each queue.", labels=["queue"]
        )
        for queue, depth in sorted(depths.items()):
            family.add_metric([str(queue)], depth)
        yield family


def set_queue_depth_source(source: Callable[[], Mapping[str, int]] | None) -> None:
    """The job module registers a callable answering ``{queue: depth}``; /metrics calls it."""
    global _queue_depth_source
    _queue_depth_source = source


_last_metrics: Metrics | None = None


def _metrics() -> Metrics | None:
    if has_app_context():
        state: Observability | None = current_app.extensions.get("observability")
        if state is not None:
            return state.metrics
    return _last_metrics


def job_finished(task: str, outcome: str, seconds: float) -> None:
    """Count one run of ``task`` (outcome: succeeded, failed or retried) and its time."""
    if outcome not in JOB_OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(JOB_OUTCOMES)}, not {outcome!r}")
    metrics = _metrics()
    if metrics is None:
        return
    metrics.jobs.labels(task=task, outcome=outcome).inc()
    metrics.job_seconds.labels(task=task).observe(max(seconds, 0.0))


@lru_cache(maxsize=8)
def allowed_networks(setting: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(
            ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()
        )
    except ValueError as error:
        raise RuntimeError(f"METRICS_ALLOWED is not a list of addresses: {error}") from None


def address_allowed(address: str | None, setting: str) -> bool:
    try:
        ip = ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed_networks(setting))


# ---------------------------------------------------------------------------------------------
# Readiness

CHECK_TIMEOUT = 1.0  # seconds, each connection attempt
READY_TIMEOUT = 2.5  # seconds, /readyz as a whole


def _check_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_broker(url: str) -> None:
    import kombu

    options = {"socket_connect_timeout": CHECK_TIMEOUT, "socket_timeout": CHECK_TIMEOUT}
    with kombu.Connection(url, connect_timeout=CHECK_TIMEOUT, transport_options=options) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT
        )


def _redis_url(url: str) -> str:
    return url if url.startswith(("redis://", "rediss://")) else ""


def readiness(app: Flask) -> dict[str, str]:
    """Each dependency's state: "ok", "error: <kind>" or "not configured". The checks run
    side by side, each with its own short timeout, and together within ``READY_TIMEOUT``;
    the answers name the kind of error only (messages may carry addresses), the log has the
    detail."""
    engine: Engine = app.extensions["db"].engine
    redis_url = app.config.get("REDIS_URL") or ""
    limits_url = _redis_url(app.config.get("RATELIMIT_STORAGE_URI") or "")
    broker_url = app.config.get("CELERY_BROKER_URL") or ""
    checks: dict[str, Callable[[], None] | None] = {
        "database": partial(_check_database, engine),
        "redis": partial(_check_redis, redis_url or limits_url)
        if redis_url or limits_url
        else None,
        "broker": partial(_check_broker, broker_url) if broker_url else None,
    }
    if redis_url and limits_url and limits_url != redis_url:
        checks["ratelimit_storage"] = partial(_check_redis, limits_url)

    results = {name: "not configured" for name, check in checks.items() if check is None}
    runs = {name: check for name, check in checks.items() if check is not None}
    executor = ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="readyz")
    futures: dict[str, Future[None]] = {
        name: executor.submit(check) for name, check in runs.items()
    }
    wait_for(futures.values(), timeout=READY_TIMEOUT)
    executor.shutdown(wait=False, cancel_futures=True)  # a stuck check ends on its own timeout
    for name, future in futures.items():
        if not future.done():
            results[name] = "error: timed out"
            log.warning("readiness check %s timed out", name)
            continue
        error = future.exception()
        if error is None:
            results[name] = "ok"
        else:
            results[name] = f"error: {type(error).__name__}"
            log.warning("readiness check %s failed: %s", name, error)
    return {name: results[name] for name in checks}


# ---------------------------------------------------------------------------------------------
# The probes and /metrics: public routes (the metrics check the address themselves), no CSRF
# (GET only anyway), no rate limits (a monitor polls them).

bp = Blueprint("ops", __name__)
csrf.exempt(bp)
limiter.exempt(bp)
QUIET_ENDPOINTS = frozenset({"static", "ops.healthz", "ops.readyz", "ops.metrics"})


@bp.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """The process is up and answers; touches nothing else."""
    return Response("ok", mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/readyz")
@public
def readyz() -> ResponseReturnValue:
    checks = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    ready = all(result in ("ok", "not configured") for result in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
@public
def metrics() -> ResponseReturnValue:
    """Prometheus text format, only to the addresses ``METRICS_ALLOWED`` lists (404 to
    anyone else, as if there were nothing here)."""
    if not address_allowed(request.remote_addr, current_app.config["METRICS_ALLOWED"]):
        abort(404)
    state: Observability = current_app.extensions["observability"]
    body, content_type = state.metrics.scrape(request.headers.get("Accept"))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------------
# Sentry


def init_sentry(app: Flask) -> bool:
    """Error reports to Sentry when ``SENTRY_DSN`` is set; nothing happens without it."""
    dsn = app.config.get("SENTRY_DSN") or ""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations import DidNotEnable
    from sentry_sdk.integrations.flask import FlaskIntegration

    integrations: list[Any] = [FlaskIntegration()]
    try:
        from sentry_sdk.integrations.celery import CeleryIntegration

        integrations.append(CeleryIntegration())
    except (ImportError, DidNotEnable):
        pass
    rate = float(app.config.get("SENTRY_TRACES_SAMPLE_RATE") or 0)
    sentry_sdk.init(
        dsn=dsn,
        integrations=integrations,
        environment=app.config.get("SENTRY_ENVIRONMENT") or "production",
        send_default_pii=False,
        traces_sample_rate=rate or None,  # None: no tracing at all
    )
    return True


def _tag_sentry(rid: str) -> None:
    import sentry_sdk

    if sentry_sdk.get_client().is_active():
        sentry_sdk.set_tag("request_id", rid)


# ---------------------------------------------------------------------------------------------
# The app


@dataclass
class Observability:
    metrics: Metrics
    sentry: bool = False


def init_app(app: Flask) -> None:
    global _last_metrics
    configure_logging(app.config["LOG_FORMAT"], app.config.get("LOG_LEVEL") or "INFO")
    app.logger.removeHandler(default_handler)  # the root logger's handler writes its lines
    allowed_networks(app.config["METRICS_ALLOWED"])  # a wrong setting fails at start-up

    state = Observability(metrics=Metrics(app.extensions["db"].engine))
    app.extensions["observability"] = state
    _last_metrics = state.metrics  # for job_finished outside an app context
    state.sentry = init_sentry(app)
    app.register_blueprint(bp)

    def start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        if state.sentry:
            _tag_sentry(g.request_id)

    def finish(response: Response) -> Response:
        if "request_id" not in g:  # a hook before ours answered
            g.request_id = accept_request_id(None)
        response.headers[REQUEST_ID_HEADER] = g.request_id
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        endpoint = request.endpoint or "404"
        method = request.method if request.method in _METHODS else "OTHER"
        status = response.status_code
        state.metrics.requests.labels(endpoint=endpoint, method=method, status=status).inc()
        state.metrics.latency.labels(endpoint=endpoint, method=method).observe(seconds)
        _access_log(response, endpoint, seconds)
        return response

    # First before any other hook, last after them all (after_request runs in reverse).
    app.before_request_funcs.setdefault(None, []).insert(0, start)
    app.after_request_funcs.setdefault(None, []).insert(0, finish)


def _access_log(response: Response, endpoint: str, seconds: float) -> None:
    status = response.status_code
    level = logging.DEBUG if endpoint in QUIET_ENDPOINTS and status < 400 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    path = request.path  # never the query string: it may hold tokens
    if not path.isprintable():
        path = path.encode("unicode_escape").decode("ascii")
    duration_ms = round(seconds * 1000, 1)
    access_log.log(
        level,
        "%s %s %s %.1f ms",
        request.method,
        path,
        status,
        duration_ms,
        extra={  # the request id comes with every record (install_record_factory)
            "method": request.method,
            "path": path,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": duration_ms,
            "user_id": _user_id(),
            "remote_addr": request.remote_addr,
            "bytes": response.content_length,
        },
    )


def _user_id() -> int | None:
    """The signed-in user's id, if this request loaded one; never a query (after a rollback
    the user is expired, but its identity is still known)."""
    user = g.get("_login_user")
    state = inspect(user, raiseerr=False) if user is not None else None
    identity = getattr(state, "identity", None)
    return int(identity[0]) if identity else None
