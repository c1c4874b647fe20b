"""What operators watch: request ids, the access log and JSON lines, /healthz, /readyz,
/metrics and Sentry (marketplace/observability.py)."""

from __future__ import annotations

import io
import json
import logging
import re
import socket

import pytest
import sentry_sdk
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from marketplace import create_app, observability
from marketplace.config import Config, DevConfig, TestConfig
from marketplace.db import make_engine
from marketplace.security import public
from tests.factories import UserFactory

ACCESS = "marketplace.access"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def access_records(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS and getattr(r, "path", None) == path]


def free_port() -> int:
    """A loopback port where nothing listens (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_listening() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


def sample(app, name: str, labels: dict[str, str] | None = None) -> float:
    registry = app.extensions["observability"].metrics.registry
    return registry.get_sample_value(name, labels or {}) or 0.0


# --- Request ids and the access log ------------------------------------------------------------


def test_a_safe_request_id_is_honoured_returned_and_logged(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    rid = "lb-7f3a.42:edge_1"
    response = client.get("/login", headers={"X-Request-ID": rid})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == rid
    [record] = access_records(caplog, "/login")
    assert record.levelno == logging.INFO
    assert record.request_id == rid
    assert (record.method, record.endpoint, record.status) == ("GET", "accounts.login", 200)
    assert record.duration_ms >= 0
    assert record.remote_addr == "127.0.0.1"
    assert record.bytes == len(response.get_data())
    assert record.user_id is None


@pytest.mark.parametrize(
    "unsafe", ["", "two words", "x" * 65, "<script>", "id;drop", "path/like", "中文"]
)
def test_an_unsafe_request_id_is_replaced(client, caplog, unsafe):
    caplog.set_level(logging.INFO, logger=ACCESS)
    response = client.get("/login", headers={"X-Request-ID": unsafe})
    rid = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(rid) and rid != unsafe
    [record] = access_records(caplog, "/login")
    assert record.request_id == rid


def test_a_request_without_an_id_gets_a_new_one(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    first = client.get("/login").headers["X-Request-ID"]
    second = client.get("/login").headers["X-Request-ID"]
    assert HEX_ID.fullmatch(first) and HEX_ID.fullmatch(second) and first != second
    assert [r.request_id for r in access_records(caplog, "/login")] == [first, second]


def test_the_access_log_has_the_path_only_and_the_signed_in_user(client, dbs, caplog):
    user = UserFactory(email="ops@factory.cn")
    client.login("ops@factory.cn")
    caplog.set_level(logging.INFO, logger=ACCESS)
    client.get("/dashboard?token=s3cret-value&next=/x")
    [record] = access_records(caplog, "/dashboard")
    assert record.user_id == user.id and record.status == 200
    assert "s3cret" not in record.getMessage() and "s3cret" not in str(record.__dict__)

    client.get("/no-such-page")
    [missing] = access_records(caplog, "/no-such-page")
    assert (missing.endpoint, missing.status) == ("404", 404)


def test_probes_and_static_files_are_logged_at_debug_only(client, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    client.get("/healthz")
    client.get("/static/css/app.css").close()
    assert not access_records(caplog, "/healthz")
    assert not access_records(caplog, "/static/css/app.css")
    caplog.set_level(logging.DEBUG, logger=ACCESS)
    client.get("/healthz")
    [record] = access_records(caplog, "/healthz")
    assert record.levelno == logging.DEBUG


def test_json_lines_carry_the_fields(client):
    stream = io.StringIO()
    handler = observability.log_handler("json", stream)
    logger = logging.getLogger("marketplace")  # the access log's parent
    logger.addHandler(handler)
    try:
        client.get("/login?next=/secret", headers={"X-Request-ID": "json-line-1"})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [access] = [line for line in lines if line["logger"] == ACCESS]
    assert access["level"] == "INFO"
    assert access["request_id"] == "json-line-1"
    assert access["message"].startswith("GET /login 200 ")
    assert access["timestamp"].endswith("+00:00")
    assert {k: access[k] for k in ("method", "path", "endpoint", "status", "user_id")} == {
        "method": "GET",
        "path": "/login",
        "endpoint": "accounts.login",
        "status": 200,
        "user_id": None,
    }
    assert access["remote_addr"] == "127.0.0.1" and access["bytes"] > 0
    assert isinstance(access["duration_ms"], float)
    assert "request_id_text" not in access and "secret" not in json.dumps(access)


def test_errors_keep_their_traceback_and_a_bound_request_id():
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability")
    logger.addHandler(observability.log_handler("json", stream))
    logger.propagate = False
    try:
        assert observability.current_request_id() is None
        with observability.bound_request_id("task-42") as rid:
            assert rid == "task-42" == observability.current_request_id()
            try:
                raise ZeroDivisionError("boom")
            except ZeroDivisionError:
                logger.exception("job failed")
        assert observability.current_request_id() is None
        with observability.bound_request_id("not safe!") as replaced:
            assert HEX_ID.fullmatch(replaced)
        with observability.bound_request_id(None) as fresh:
            assert HEX_ID.fullmatch(fresh)
    finally:
        logger.handlers.clear()
        logger.propagate = True
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["level"] == "ERROR" and line["message"] == "job failed"
    assert line["request_id"] == "task-42"
    assert "Traceback" in line["exc_info"] and "ZeroDivisionError: boom" in line["exc_info"]


def test_the_text_format_shows_the_id_or_a_dash():
    stream = io.StringIO()
    logger = logging.getLogger("tests.observability.text")
    logger.addHandler(observability.log_handler("text", stream))
    logger.propagate = False
    try:
        logger.warning("outside")
        with observability.bound_request_id("job-9"):
            logger.warning("inside")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    outside, inside = stream.getvalue().splitlines()
    assert "[-] outside" in outside and "[job-9] inside" in inside


def test_the_500_page_quotes_the_request_id_and_the_log_has_the_traceback(database_url, caplog):
    app = create_app(TestConfig(database_url))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    @public
    def boom():
        raise RuntimeError("secret internals")

    caplog.set_level(logging.INFO)
    response = app.test_client().get("/boom", headers={"X-Request-ID": "support-ref-1"})
    page = response.get_data(as_text=True)
    app.extensions["db"].engine.dispose()
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "support-ref-1"
    assert "联系客服时请提供此编号" in page and "support-ref-1" in page
    assert "secret internals" not in page
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert errors and all(r.request_id == "support-ref-1" for r in errors)
    [access] = access_records(caplog, "/boom")
    assert access.status == 500 and access.request_id == "support-ref-1"


def test_log_format_settings(database_url, monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("SECRET_KEY", "x")
    assert Config().LOG_FORMAT == "json"
    assert DevConfig().LOG_FORMAT == "text"
    assert TestConfig(database_url).LOG_FORMAT == "text"

    config = TestConfig(database_url)
    config.LOG_FORMAT = "json"
    try:
        app = create_app(config)
        app.extensions["db"].engine.dispose()
        [handler] = [h for h in logging.getLogger().handlers if getattr(h, "marketplace", False)]
        assert type(handler.formatter).__name__ == "JsonFormatter"
    finally:
        observability.configure_logging("text")

    config.LOG_FORMAT = "xml"
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        create_app(config)
    observability.configure_logging("text")


# --- /healthz and /readyz ----------------------------------------------------------------------


def test_healthz_answers_without_the_database_and_readyz_names_it(app, client, count_queries):
    state = app.extensions["db"]
    saved = state.engine, state.bind
    dead = make_engine(
        f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
        connect_args={"connect_timeout": 1},
    )
    state.engine = state.bind = dead
    try:
        response = client.get("/healthz")
        ready = client.get("/readyz")
    finally:
        state.engine, state.bind = saved
        dead.dispose()
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"
    assert count_queries.count == 0
    assert ready.status_code == 503
    assert ready.json["status"] == "not ready"
    assert ready.json["checks"]["database"] == "error: OperationalError"
    assert "nobody" not in ready.get_data(as_text=True)


def test_readyz_is_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not configured", "broker": "not configured"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_names_redis_when_nothing_listens(app, client, monkeypatch):
    dead = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    monkeypatch.setitem(app.config, "REDIS_URL", dead)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"].startswith("error: ")
    assert "s3cret" not in response.get_data(as_text=True)

    # The rate-limit storage counts as Redis too.
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", dead)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["redis"].startswith("error")


def test_readyz_names_the_broker_when_nothing_listens(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["broker"] == "error: OperationalError"


@pytest.mark.skipif(not redis_listening(), reason="no Redis on 127.0.0.1:6379")
def test_readyz_with_the_local_redis(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/1")
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
        "ratelimit_storage": "ok",
    }


# --- /metrics -----------------------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint_with_a_histogram(app, client):
    login = {"endpoint": "accounts.login", "method": "GET", "status": "200"}
    missing = {"endpoint": "404", "method": "GET", "status": "404"}
    before = sample(app, "http_requests_total", login)
    before_missing = sample(app, "http_requests_total", missing)
    timed = sample(
        app, "http_request_duration_seconds_count", {"endpoint": "accounts.login", "method": "GET"}
    )
    client.get("/login")
    client.get("/no/such/page/4711")
    response = client.get("/metrics")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert sample(app, "http_requests_total", login) == before + 1
    assert sample(app, "http_requests_total", missing) == before_missing + 1
    assert (
        f'http_requests_total{{endpoint="accounts.login",method="GET",status="200"}} '
        f"{before + 1}" in body
    )
    assert (
        'http_request_duration_seconds_bucket{endpoint="accounts.login",le="+Inf",method="GET"} '
        f"{timed + 1}" in body
    )
    assert "/no/such/page" not in body  # endpoints, never raw paths
    assert "db_pool_size" in body and "db_pool_checked_out" in body


def test_metrics_are_hidden_from_other_addresses(app, client, monkeypatch):
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    response = client.get("/metrics", environ_base=outsider)
    assert response.status_code == 404
    assert "http_requests_total" not in response.get_data(as_text=True)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"}).status_code == 404

    monkeypatch.setitem(app.config, "METRICS_ALLOWED", "127.0.0.1, 203.0.113.0/24")
    assert client.get("/metrics", environ_base=outsider).status_code == 200


def test_a_wrong_metrics_allowed_setting_fails_at_start(database_url):
    config = TestConfig(database_url)
    config.METRICS_ALLOWED = "127.0.0.1,localhost"
    with pytest.raises(RuntimeError, match="METRICS_ALLOWED"):
        create_app(config)
    observability.configure_logging("text")


def test_address_allowed():
    setting = "127.0.0.1/32,::1/128,10.1.0.0/16"
    assert observability.address_allowed("127.0.0.1", setting)
    assert observability.address_allowed("::ffff:127.0.0.1", setting)  # IPv4-mapped
    assert observability.address_allowed("10.1.200.3", setting)
    assert not observability.address_allowed("10.2.0.1", setting)
    assert not observability.address_allowed(None, setting)
    assert not observability.address_allowed("not-an-address", setting)


def test_job_metrics_and_the_queue_depth_show_in_metrics(app, client):
    succeeded = {"task": "send_mail", "outcome": "succeeded"}
    before = sample(app, "jobs_total", succeeded)
    before_failed = sample(app, "jobs_total", {"task": "send_mail", "outcome": "failed"})
    before_count = sample(app, "job_duration_seconds_count", {"task": "send_mail"})
    with app.app_context():
        observability.job_finished("send_mail", "succeeded", 0.2)
        observability.job_finished("send_mail", "failed", 1.5)
        with pytest.raises(ValueError):
            observability.job_finished("send_mail", "vanished", 1.0)
    observability.set_queue_depth_source(lambda: {"default": 3, "mail": 0})
    try:
        body = client.get("/metrics").get_data(as_text=True)
    finally:
        observability.set_queue_depth_source(None)
    assert sample(app, "jobs_total", succeeded) == before + 1
    assert f'jobs_total{{outcome="succeeded",task="send_mail"}} {before + 1}' in body
    assert f'jobs_total{{outcome="failed",task="send_mail"}} {before_failed + 1}' in body
    assert f'job_duration_seconds_count{{task="send_mail"}} {before_count + 2}' in body
    assert 'job_queue_depth{queue="default"} 3.0' in body
    assert 'job_queue_depth{queue="mail"} 0.0' in body


def test_a_failing_queue_depth_source_does_not_break_the_scrape(client):
    def broken() -> dict[str, int]:
        raise ConnectionError("broker gone")

    observability.set_queue_depth_source(broken)
    try:
        response = client.get("/metrics")
    finally:
        observability.set_queue_depth_source(None)
    assert response.status_code == 200
    assert "job_queue_depth{" not in response.get_data(as_text=True)


def test_pool_gauges_are_skipped_where_the_pool_has_none():
    engine = create_engine("sqlite://", poolclass=NullPool)
    names = {metric.name for metric in observability.LiveCollector(engine).collect()}
    engine.dispose()
    assert not any(name.startswith("db_pool") for name in names)


# --- Sentry -------------------------------------------------------------------------------------


def test_sentry_is_set_up_only_with_a_dsn(database_url, monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **kwargs: calls.append(kwargs))

    app = create_app(TestConfig(database_url))
    app.extensions["db"].engine.dispose()
    assert calls == []

    config = TestConfig(database_url)
    config.SENTRY_DSN = "https://public@sentry.example.invalid/1"
    config.SENTRY_ENVIRONMENT = "staging"
    app = create_app(config)
    app.extensions["db"].engine.dispose()
    [call] = calls
    assert call["dsn"] == "https://public@sentry.example.invalid/1"
    assert call["send_default_pii"] is False
    assert call["environment"] == "staging"
    assert call["traces_sample_rate"] is None  # no tracing by default
    names = {type(integration).__name__ for integration in call["integrations"]}
    assert names == {"FlaskIntegration", "CeleryIntegration"}
    assert app.extensions["observability"].sentry is True
