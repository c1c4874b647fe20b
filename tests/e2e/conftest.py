"""Browser tests: the app served on loopback, driven by Playwright with the system Chromium.

Without a browser at ``CHROMIUM_PATH`` (default ``/usr/bin/chromium``, Debian's package
``chromium``) these tests are skipped with a message, or fail when ``E2E_REQUIRED=1``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from marketplace import create_app, migrate
from marketplace.config import TestConfig
from marketplace.db import db, make_engine
from marketplace.demo import seed
from tests.conftest import scratch_database_url

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    message = (
        f"browser tests need Chromium at {CHROMIUM} "
        "(apt-get update && apt-get install -y chromium, or set CHROMIUM_PATH)"
    )
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(message + "; E2E_REQUIRED=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    _require_browser()
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def live_app(live_server: str) -> Any:
    """The app behind the live server, for looking data up in its database."""
    return _LIVE["app"]


_LIVE: dict[str, Any] = {}


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _require_browser()
    url = scratch_database_url(tmp_path_factory, "e2e")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(TestConfig(url))
    with app.app_context():
        seed.load()
        db.session.commit()
    _LIVE["app"] = app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        app.extensions["db"].engine.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Werkzeug's development server, when the browser drops a connection while a static file
    # streams, leaves that file to the garbage collector; its ResourceWarning then lands on
    # whichever test runs. Only that case is let through; every other warning stays an error.
    ignore = pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <_io\.FileIO name='[^']*/static/"
        ":pytest.PytestUnraisableExceptionWarning"
    )
    for item in items:
        if "e2e" in item.nodeid.split("/"):
            item.add_marker(ignore)
