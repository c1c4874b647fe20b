"""Apps that share a real Redis ("instances"), or point at one that is down.

Each test gets its own key prefix on the test Redis (``TEST_REDIS_URL``, database 9 of the
local server by default) and deletes only its own keys. Tests that need Redis are skipped
when none answers. The rate limiter is one extension object per process: ``instances``
binds it to each new app in turn (a fresh storage object, as a new process would have) and
back to the session's app afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import Connection

from marketplace import create_app
from marketplace.config import REDIS_TIMEOUTS, TestConfig
from marketplace.extensions import limiter
from tests.conftest import Client

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, **REDIS_TIMEOUTS)  # type: ignore[arg-type]
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


@contextmanager
def shared_redis() -> Iterator[dict[str, Any]]:
    """Settings that make apps share the test Redis under a prefix of this test's own."""
    client = redis_client()
    prefix = f"marketplace-test-{uuid.uuid4().hex[:12]}"
    try:
        yield redis_settings(REDIS_URL, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def redis_settings(url: str, prefix: str) -> dict[str, Any]:
    return {
        "RATELIMIT_STORAGE_URI": url,
        "RATELIMIT_STORAGE_OPTIONS": {**REDIS_TIMEOUTS, "key_prefix": f"{prefix}-limits"},
        "REDIS_URL": url,
        "CACHE_KEY_PREFIX": f"{prefix}-cache:",
    }


def dead_redis() -> dict[str, Any]:
    return redis_settings(DEAD_REDIS_URL, "dead")


def keys(prefix_setting: dict[str, Any]) -> list[bytes]:
    """The keys the apps wrote under these settings' prefixes."""
    client = redis_client()
    limits = prefix_setting["RATELIMIT_STORAGE_OPTIONS"]["key_prefix"]
    cache = prefix_setting["CACHE_KEY_PREFIX"]
    return [*client.scan_iter(match=f"{limits}*"), *client.scan_iter(match=f"{cache}*")]


@contextmanager
def instances(session_app: Flask, database_url: str) -> Iterator[Any]:
    """``make(connection, **settings)`` creates an app on the test database (bound to the
    test's connection when given, so it sees the test's rows); the limiter is bound back to
    the session's app afterwards."""

    def make(connection: Connection | None = None, **settings: Any) -> Flask:
        config = TestConfig(database_url)
        for name, value in settings.items():
            setattr(config, name, value)
        app = create_app(config)
        app.test_client_class = Client
        if connection is not None:
            state = app.extensions["db"]
            state.bind, state.join_transaction_mode = connection, "create_savepoint"
        return app

    try:
        yield make
    finally:
        limiter._storage_dead = False  # a test's outage must not outlive it
        limiter.init_app(session_app)
        with session_app.app_context():
            limiter.reset()
