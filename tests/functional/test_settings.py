"""Outside development the app does not start without its secret key and an explicit
database; ``make run`` and the tests still start as before."""

from __future__ import annotations

import pytest

from marketplace import create_app
from marketplace.config import Config, DevConfig, TestConfig, dev_database_url


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
    assert dev_database_url(dev.INSTANCE_PATH) == dev.DATABASE_URL and dev.SECRET_KEY
    production.setenv("MARKETPLACE_ENV", "test")
    assert dev_database_url(Config().INSTANCE_PATH) == Config().DATABASE_URL
    assert database_url == TestConfig(database_url).DATABASE_URL


def test_the_instance_folder_is_outside_an_installed_package(production, tmp_path):
    """INSTANCE_PATH when given; the checkout's instance/ from a checkout (make run, tests);
    ./instance for an installed copy (whose package folder is in site-packages)."""
    from marketplace import config

    production.setenv("INSTANCE_PATH", str(tmp_path / "state"))
    assert str(tmp_path / "state") == Config().INSTANCE_PATH
    production.delenv("INSTANCE_PATH")
    assert str(config.ROOT / "instance") == Config().INSTANCE_PATH
    production.setattr(config, "running_from_checkout", lambda: False)
    production.chdir(tmp_path)
    settings = Config()
    assert str(tmp_path / "instance") == settings.INSTANCE_PATH
    assert str(tmp_path / "instance" / "celerybeat-schedule") == settings.CELERY_BEAT_SCHEDULE_FILE


def test_create_app_without_settings_reads_the_environment(production, tmp_path):
    """``flask --app marketplace`` and ``gunicorn 'marketplace:create_app()'`` call it bare."""
    production.setenv("SECRET_KEY", "from-the-environment")
    production.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    production.setenv("INSTANCE_PATH", str(tmp_path / "state"))
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.instance_path == str(tmp_path / "state")
    assert app.jinja_loader is not None and app.static_folder is not None
    assert app.static_folder.startswith(app.root_path)
