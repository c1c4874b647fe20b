"""The processes of the scale-out test: a private Redis, two gunicorn instances of the app
behind nginx (round robin), a Celery worker and two beat schedulers, all on a scratch
PostgreSQL database, plus a fake Stripe in this process for the refunds the jobs send.

Runs when ``TEST_DATABASE_URL`` names a PostgreSQL database (the second pass of ``make test``)
and is skipped otherwise; there, a missing tool (nginx, redis-server) skips it too, unless
``SCALEOUT_REQUIRED=1`` (``.ci/run``) makes that a failure. Every process runs in a process
group of its own and is stopped with it; the logs are printed when a test fails.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import make_url, select, text
from werkzeug.wrappers import Request

from marketplace import create_app, migrate
from marketplace.config import ROOT, Config
from marketplace.db import db, make_engine, utcnow
from tests.conftest import _compile_translations, scratch_database_url
from tests.stripe_fake import FakeStripe

BIN = Path(sys.executable).parent
REQUIRED = os.environ.get("SCALEOUT_REQUIRED") == "1"
SWEEP_SECONDS = 3  # the refunds sweep's interval (and period) here: five minutes in production
# A message a worker took and never acknowledged is handed out again after this many seconds
# (Redis transport); the test's slowest task stays well below it.
VISIBILITY_TIMEOUT = 6
TRANSPORT_OPTIONS = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
STRIPE_KEY = "sk_test_scaleout"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _postgres_only() -> None:
    if not os.environ.get("TEST_DATABASE_URL", "").strip():
        pytest.skip("the scale-out test needs PostgreSQL: set TEST_DATABASE_URL (CI's second pass)")


def need(name: str, *places: str) -> str:
    """The path of a program the test runs; a missing one skips, or fails when required."""
    for place in places:
        if Path(place).exists():
            return place
    found = shutil.which(name)
    if found:
        return found
    message = f"the scale-out test needs {name} (.ci/run installs it from Debian's packages)"
    if REQUIRED:
        pytest.fail(message + "; SCALEOUT_REQUIRED=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, log: Any = None, every: float = 0.1
) -> float:
    """Poll ``check`` until it holds; the seconds it took. Fails with ``log`` on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{log or ''}")


# --- HTTP from a chosen source address ---------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float

    @property
    def upstream(self) -> str:
        """The instance nginx passed the request to (its X-Upstream header)."""
        return self.headers.get("x-upstream", "")


class Browser:
    """A client with its own cookies, speaking from ``source`` (any 127.x.y.z address), so
    each simulated visitor has an address of its own for the per-IP limits."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port, self.source = port, source
        self.cookies: dict[str, str] = {"lang": "en"}

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        port: int | None = None,
        timeout: float = 20,
    ) -> Reply:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port or self.port, timeout=timeout, source_address=(self.source, 0)
        )
        headers = {"Cookie": ""}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                self.cookies[key.strip()] = val.strip()
        found = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, found, data, time.monotonic() - start)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def csrf_token(self, path: str = "/login", port: int | None = None) -> str:
        reply = self.get(path, port=port)
        match = CSRF_RE.search(reply.body)
        assert match, f"no CSRF token on {path} ({reply.status}): {reply.body[:300]}"
        return match.group(1)

    def post(self, path: str, form: dict[str, str], token: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, form={"csrf_token": token, **form}, **kwargs)

    def login(self, email: str, password: str, token: str, port: int | None = None) -> Reply:
        return self.post("/login", {"email": email, "password": password}, token, port=port)


# --- the fake Stripe, with a refund that can be made slow ---------------------------------------


class SlowStripe(FakeStripe):
    """The tests' Stripe, counting refund requests per idempotency key; a key given a delay
    answers its first request that much later (a worker can be killed meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.refund_posts: list[str] = []
        self.slow: dict[str, float] = {}
        self.arrived = threading.Event()  # a slow request is being answered
        self.answered = threading.Event()  # ... and has been (the refund exists now)

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        delay = 0.0
        if request.method == "POST" and request.path == "/v1/refunds":
            key = request.headers.get("Idempotency-Key", "")
            with self.lock:
                self.refund_posts.append(key)
                delay = self.slow.pop(key, 0.0)
        if delay:
            self.arrived.set()
            time.sleep(delay)
        try:
            return super().wsgi(environ, start_response)
        finally:
            if delay:
                self.answered.set()

    def posts(self, key: str) -> int:
        with self.lock:
            return self.refund_posts.count(key)

    def refunds_of(self, intent: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.refunds.values() if r["payment_intent"] == intent]

    def new_intent(self, amount_fen: int) -> str:
        with self.lock:
            intent = f"pi_test_scaleout_{len(self.intents) + 1}_{os.urandom(4).hex()}"
            self.intents[intent] = {
                "id": intent,
                "object": "payment_intent",
                "amount": amount_fen,
                "currency": "cny",
                "status": "succeeded",
                "metadata": {},
            }
            return intent


# --- the processes ------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(self.text().splitlines()[-lines:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (a worker and its pool's children)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        self.popen.wait(timeout=15)
        _reap_group(self.popen.pid)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        _reap_group(self.popen.pid)


def _reap_group(pgid: int) -> None:
    """Leave no member of the group behind (a pool child that outlived its parent)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.1)


@dataclass
class Cluster:
    tmp: Path
    database_url: str
    stripe: SlowStripe
    app: Any  # a Flask app on the scratch database, for setting up and reading rows
    data: dict[str, Any]
    redis_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)  # "a", "b", "balancer"
    procs: dict[str, Proc] = field(default_factory=dict)
    stopped: list[Proc] = field(default_factory=list)  # killed or stopped, logs kept
    started: int = 0

    # addresses

    @property
    def balancer(self) -> int:
        return self.ports["balancer"]

    def upstream(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def redis_url(self, db_number: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db_number}"

    # environment

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("MARKETPLACE_ENV", "TEST_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
        }
        env.update(
            PYTHONPATH=str(ROOT),
            SECRET_KEY=self.data["secret"],  # the same on every instance: sessions travel
            DATABASE_URL=self.database_url,
            RATELIMIT_STORAGE_URI=self.redis_url(0),
            CELERY_BROKER_URL=self.redis_url(1),
            REDIS_URL=self.redis_url(2),
            PROXY_COUNT="1",
            LOG_FORMAT="text",
            LOG_LEVEL="INFO",
            PAYMENT_BACKEND="stripe",
            STRIPE_SECRET_KEY=STRIPE_KEY,
            STRIPE_API_BASE=self.stripe.url,
            JOB_SCHEDULE=f"stripe_refunds={SWEEP_SECONDS}",
            CELERY_BROKER_TRANSPORT_OPTIONS=json.dumps(TRANSPORT_OPTIONS),
            CELERY_BEAT_SCHEDULE_FILE=str(self.tmp / "celerybeat-schedule"),
        )
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], **env: str) -> Proc:
        self.started += 1
        log = self.tmp / f"{name}.{self.started}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(**env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        old = self.procs.get(name)
        if old is not None:
            self.stopped.append(old)
        self.procs[name] = proc
        return proc

    def retire(self, name: str) -> Proc:
        proc = self.procs.pop(name)
        self.stopped.append(proc)
        return proc

    # the pieces

    def start_redis(self) -> Proc:
        server = need("redis-server", "/usr/bin/redis-server")
        proc = self.spawn(
            "redis",
            [
                server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
                "--protected-mode",
                "yes",
            ],
        )
        wait_for(
            "the private redis-server",
            lambda: _alive(proc) and _redis_ping(self.redis_port),
            15,
            proc.tail(),
        )
        return proc

    def start_web(self, name: str) -> Proc:
        port = self.ports[name]
        proc = self.spawn(
            f"gunicorn-{name}",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers=2",
                "--threads=4",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                "--graceful-timeout=5",
                "--keep-alive=10",
                "--no-control-socket",
                "--access-logfile=-",
                "app:app",
            ],
        )
        wait_for(
            f"gunicorn {name} on port {port}",
            lambda: _alive(proc) and Browser(port).get("/healthz", timeout=2).status == 200,
            40,
            proc.tail(),
        )
        return proc

    def start_balancer(self) -> Proc:
        nginx = need("nginx", "/usr/sbin/nginx")
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=self.balancer, **self.ports))
        proc = self.spawn("nginx", [nginx, "-p", str(self.tmp), "-c", str(conf), "-e", "stderr"])
        wait_for(
            "nginx",
            lambda: (
                _alive(proc) and Browser(self.balancer).get("/healthz", timeout=2).status == 200
            ),
            15,
            proc.tail(),
        )
        return proc

    def start_worker(self) -> Proc:
        proc = self.spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "marketplace.jobs",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "-Q",
                "celery",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"scaleout{self.started}@%h",
            ],
        )
        wait_for(
            "the Celery worker to be ready",
            lambda: _alive(proc) and " ready." in proc.text(),
            60,
            proc.tail(),
        )
        return proc

    def start_beats(self, count: int) -> list[Proc]:
        """``count`` beat schedulers, each with a schedule file of its own."""
        beats = [
            self.spawn(
                f"beat{n}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "marketplace.jobs",
                    "beat",
                    "--loglevel=INFO",
                ],
                CELERY_BEAT_SCHEDULE_FILE=str(self.tmp / f"celerybeat-schedule-{n}"),
            )
            for n in range(1, count + 1)
        ]
        for beat in beats:
            wait_for(
                f"{beat.name} to start",
                lambda b=beat: _alive(b) and "beat: Starting" in b.text(),
                60,
                beat.tail(),
            )
        return beats

    # reading the database

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.app.app_context():
            try:
                return db.session.execute(text(sql), params).scalar()
            finally:
                db.session.rollback()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.app.app_context():
            try:
                return list(db.session.execute(text(sql), params))
            finally:
                db.session.rollback()

    def logs(self) -> str:
        tails = [p.tail() for p in [*self.stopped, *self.procs.values()]]
        errors = self.tmp / "nginx-error.log"
        if errors.exists():
            tails.append(f"--- {errors} ---\n{errors.read_text(errors='replace')[-3000:]}")
        return "\n".join(tails)


def _alive(proc: Proc) -> bool:
    if not proc.alive():
        raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
    return True


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/nginx-client-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;  # never write a response to disk (worker may not own {tmp})
    upstream app {{
        server 127.0.0.1:{a} max_fails=0;
        server 127.0.0.1:{b} max_fails=0;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream off;  # a POST is answered by the instance it was given to
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


# --- the data -----------------------------------------------------------------------------------


def _seed(url: str) -> tuple[Any, dict[str, Any]]:
    """The demo data; what the tests need to know of it."""
    from marketplace.accounts.models import Organisation, OrgKind, User
    from marketplace.catalog.models import Package
    from marketplace.demo import seed
    from marketplace.payments.models import Invoice
    from marketplace.pool.models import PoolMembership, PoolStatus

    config = Config()
    config.SECRET_KEY = "scaleout-setup"
    config.DATABASE_URL = url
    app = create_app(config)
    with app.app_context():
        seed.load()
        db.session.commit()
        official = db.session.scalars(select(User).where(User.email == "official@sjz.demo")).one()
        admitted = select(PoolMembership.provider_id).where(
            PoolMembership.agency_id == official.org_id,
            PoolMembership.status == PoolStatus.ADMITTED,
        )
        package = db.session.scalars(
            select(Package)
            .where(Package.published_version_id.is_not(None), Package.provider_id.in_(admitted))
            .order_by(Package.id)
        ).first()
        assert package is not None and package.published_version is not None
        invoice_id = db.session.scalar(select(Invoice.id).order_by(Invoice.id).limit(1))
        assert invoice_id is not None, "the demo data has no invoice"
        enterprise = db.session.scalar(
            select(User.email)
            .join(Organisation, Organisation.id == User.org_id)
            .where(Organisation.kind == OrgKind.ENTERPRISE)
            .order_by(User.email)
            .limit(1)
        )
        data = {
            "secret": "scaleout-" + os.urandom(12).hex(),
            "official": official.email,
            "package_id": package.id,
            "package_title": package.published_version.title,
            "invoice_id": invoice_id,
            "enterprise": enterprise,
            "password": seed.DEMO_PASSWORD,
        }
    return app, data


def make_refund(cluster: Cluster, amount_fen: int = 1_000) -> dict[str, Any]:
    """A Stripe payment of ``amount_fen`` (its intent at the fake Stripe) with a refund of
    all of it queued, as ``payments.refund`` leaves it: (refund id, intent, key)."""
    from marketplace.payments.models import Payment, PaymentMethod, Refund

    intent = cluster.stripe.new_intent(amount_fen)
    with cluster.app.app_context():
        payment = Payment(
            invoice_id=cluster.data["invoice_id"],
            method=PaymentMethod.STRIPE,
            amount_fen=amount_fen,
            reference=intent,
            received_on=utcnow(),
            refunded_fen=amount_fen,
        )
        db.session.add(payment)
        db.session.flush()
        key = f"refund-{payment.id}-0-{amount_fen}"
        refund = Refund(
            payment_id=payment.id,
            amount_fen=amount_fen,
            status="pending",
            idempotency_key=key,
            reason="scale-out test",
        )
        db.session.add(refund)
        db.session.commit()
        return {"id": refund.id, "intent": intent, "key": key, "amount_fen": amount_fen}


def refund_row(cluster: Cluster, refund_id: int) -> Any:
    rows = cluster.rows(
        "SELECT status, reference, done_at FROM refunds WHERE id = :id", id=refund_id
    )
    return rows[0]


def _drop(url: str) -> None:
    name = make_url(url).database
    admin = make_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _postgres_only()
    need("redis-server", "/usr/bin/redis-server")
    need("nginx", "/usr/sbin/nginx")
    _compile_translations()
    started = time.monotonic()
    url = scratch_database_url(tmp_path_factory, "scaleout")
    try:
        if make_url(url).get_backend_name() != "postgresql":
            pytest.fail("TEST_DATABASE_URL must name a PostgreSQL database", pytrace=False)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        app, data = _seed(url)
        try:
            stripe = SlowStripe()
            with stripe:
                yield from _processes(tmp_path_factory, url, stripe, app, data, started)
        finally:
            app.extensions["db"].engine.dispose()
    finally:
        _drop(url)


def _processes(
    tmp_path_factory: pytest.TempPathFactory,
    url: str,
    stripe: SlowStripe,
    app: Any,
    data: dict[str, Any],
    started: float,
) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    cluster = Cluster(tmp=tmp, database_url=url, stripe=stripe, app=app, data=data)
    cluster.redis_port = free_port()
    cluster.ports = {"a": free_port(), "b": free_port(), "balancer": free_port()}
    try:
        try:
            cluster.start_redis()
            cluster.start_web("a")
            cluster.start_web("b")
            cluster.start_balancer()
            cluster.start_worker()
        except Exception:
            print(cluster.logs())
            raise
        data["setup_seconds"] = round(time.monotonic() - started, 1)
        print(f"\nscale-out cluster up in {data['setup_seconds']} s: {cluster.ports}")
        yield cluster
    finally:
        for proc in reversed(list(cluster.procs.values())):
            proc.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print every process's last log lines after a failed test (captured with the report)."""
    yield
    if request.node.stash.get(FAILED, False) and "cluster" in request.fixturenames:
        cluster: Cluster = request.getfixturevalue("cluster")
        print(cluster.logs())
