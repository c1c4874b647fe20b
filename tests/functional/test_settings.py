"""Outside development the app does not start without its secret key and an explicit
database; ``make run`` and the tests still start as before."""

from __future__ import annotations

import pytest

from marketplace import create_app
from marketplace.config import DEV_DATABASE_URL, Config, DevConfig, TestConfig


@pytest.fixture
def production(monkeypatch):
    for name in ("MARKETPLACE_ENV", "SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key_and_database(production):
    with pytest.raises(RuntimeError, match="SECRET_KEY and DATABASE_URL are not set"):
        create_app(Config())
    production.setenv("SECRET_KEY", "s3cret")
    with pytest.raises(RuntimeError, match=r"^DATABASE_URL is not set"):
        create_app(Config())
    production.setenv("DATABASE_URL", "sqlite://")
    production.delenv("SECRET_KEY")
    with pytest.raises(RuntimeError, match=r"^SECRET_KEY is not set"):
        create_app(Config())


def test_development_and_tests_keep_their_defaults(production, database_url):
    production.setenv("MARKETPLACE_ENV", "development")
    dev = DevConfig()
    assert dev.DATABASE_URL == DEV_DATABASE_URL and dev.SECRET_KEY
    production.setenv("MARKETPLACE_ENV", "test")
    assert Config().DATABASE_URL == DEV_DATABASE_URL
    assert database_url == TestConfig(database_url).DATABASE_URL
