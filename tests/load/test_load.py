"""A minute of mixed traffic from every role against the app served by gunicorn on PostgreSQL,
with parallel voucher checkouts against a small budget: no response may be a server error, and
afterwards the voucher books must balance.

Runs when ``TEST_DATABASE_URL`` names a PostgreSQL database (the second pass of ``make test``)
and is skipped otherwise; with ``LOAD_REQUIRED=1`` a missing tool fails it instead. Locust runs
in a subprocess: its gevent monkey-patching must not reach this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

from marketplace import migrate
from marketplace.config import ROOT
from marketplace.db import make_engine
from tests.conftest import _compile_translations, scratch_database_url

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
USERS, SPAWN_RATE, SECONDS = 20, 10, 45
# Requests each role must at least have made in the run (a stuck role fails the test).
MINIMUM = {"visitor": 50, "enterprise": 100, "provider": 15, "official": 15, "api": 30}

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").strip(),
    reason="the load test needs PostgreSQL: set TEST_DATABASE_URL (the CI's second pass does)",
)


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    message = f"the load test needs {name} (pip install -e '.[dev]')"
    if os.environ.get("LOAD_REQUIRED") == "1":
        pytest.fail(message + "; LOAD_REQUIRED=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def load_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = scratch_database_url(tmp_path_factory, "load")
    if make_url(url).get_backend_name() != "postgresql":
        pytest.fail("TEST_DATABASE_URL must name a PostgreSQL database", pytrace=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    name = make_url(url).database
    admin = make_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _serve(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn as in production (2 workers), with rate limits high enough for the load."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "load-test-" + os.urandom(8).hex(),
        "RATELIMIT_STORAGE_URI": "memory://",
        "API_RATE_LIMIT": "100000 per minute",
        "API_PUBLIC_RATE_LIMIT": "100000 per minute",
    }
    env.pop("MARKETPLACE_ENV", None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                _tool("gunicorn"),
                "--workers=2",
                "--threads=4",
                f"--bind=127.0.0.1:{port}",
                "--timeout=60",
                # longer than any client stays idle: no request meets a connection being closed
                "--keep-alive=10",
                "--no-control-socket",  # gunicorn 27 would otherwise share one in $HOME
                "--access-logfile=-",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    _stop(server)
    raise AssertionError(f"gunicorn did not answer:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def _tracebacks(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    keep = [i for i, line in enumerate(lines) if "Traceback" in line or "Exception on" in line]
    return "\n".join("\n".join(lines[i : i + 40]) for i in keep[:5])


def test_mixed_traffic_with_voucher_rushes(load_database: str, tmp_path: Path) -> None:
    from tests.load import dataset

    locust = _tool("locust")
    _compile_translations()
    plan = dataset.prepare(load_database)
    plan_file, report_file = tmp_path / "plan.json", tmp_path / "report.json"
    plan_file.write_text(json.dumps(plan, ensure_ascii=False))
    port, log = _free_port(), tmp_path / "gunicorn.log"
    server = _serve(load_database, port, log)
    try:
        run = subprocess.run(
            [
                locust,
                "-f",
                str(HERE / "locustfile.py"),
                "--headless",
                "--host",
                f"http://127.0.0.1:{port}",
                "-u",
                str(USERS),
                "-r",
                str(SPAWN_RATE),
                "-t",
                f"{SECONDS}s",
                "--stop-timeout",
                "5",
                "--csv",
                str(tmp_path / "locust"),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "LOAD_PLAN": str(plan_file), "LOAD_REPORT": str(report_file)},
            capture_output=True,
            text=True,
            timeout=SECONDS + 45,
        )
    finally:
        _stop(server)
    summary = run.stdout[-6000:] + run.stderr[-4000:]
    assert report_file.exists(), f"locust wrote no report (exit {run.returncode}):\n{summary}"
    report: dict[str, Any] = json.loads(report_file.read_text())
    print(summary)
    print(json.dumps({k: report[k] for k in ("by_role", "checkouts", "issues")}, indent=1))

    assert report["server_errors"] == [], (
        f"{len(report['server_errors'])} responses with status >= 500: "
        f"{report['server_errors'][:5]}\n{_tracebacks(log)}"
    )
    assert report["failures"] == [], f"failed requests: {report['failures'][:20]}"
    short = {role: n for role, n in MINIMUM.items() if report["by_role"].get(role, 0) < n}
    assert not short, f"too few requests per role: {report['by_role']} (minimum {MINIMUM})"

    checkouts, issues = report["checkouts"], report["issues"]
    assert checkouts.get("placed", 0) >= 5, checkouts
    assert checkouts.get("refused", 0) >= 1, f"no checkout was refused: {checkouts}"
    assert set(checkouts) <= {"placed", "refused"}, checkouts
    assert issues.get("issued", 0) >= 1 and issues.get("refused_for_budget", 0) >= 1, issues
    assert set(issues) <= {"issued", "refused_for_budget"}, issues

    books = dataset.books(load_database, plan["programme_id"])
    print(json.dumps(books, indent=1, ensure_ascii=False))
    assert books["ledger_problems"] == [], books["ledger_problems"][:20]
    assert books["issued_fen"] <= books["budget_fen"], books
    assert books["vouchers_face_fen"] == books["issued_fen"], books
    assert books["reserved_plus_redeemed_fen"] <= books["issued_fen"], books
    assert books["vouchers_used_twice"] == [], books
    assert books["vouchers_over_face"] == [], books
    assert books["vouchers_unlike_reservations"] == [], books
    assert books["lines_paid_by_vouchers"] >= 1, books
    assert run.returncode == 0, summary
