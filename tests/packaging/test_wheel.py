"""The wheel is the whole application: built from the sources, installed into a fresh
virtualenv outside the checkout, it migrates a database, serves pages (Chinese, so the
compiled catalogue is in it) and static files under gunicorn, and loads its Celery app.

How it stays offline and fast: the wheel is built by pip from a clean copy of the sources (no
``build/`` leftovers, no compiled ``.mo``: the build must compile it), with the build
requirements of pyproject.toml from pip's configured index. The new virtualenv gets the wheel
alone (``--no-deps``); its dependencies are the shared virtualenv's, seen through a ``.pth``
file listing that virtualenv's site-packages. A path in a ``.pth`` file is not a site
directory, so the shared virtualenv's own ``.pth`` files (the editable install of the
checkout) are not run: ``marketplace`` can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from marketplace.config import PACKAGE, ROOT

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "setup.py", "README.md", "marketplace")


def _run(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(dist)])
    (built,) = dist.glob("marketplace-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel; returns its python."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)])
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    _run([*pip, "install", "--no-deps", "--no-index", str(wheel)])
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    shared = dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib"))
    (site / "_shared_virtualenv.pth").write_text("".join(f"{path}\n" for path in shared))
    return python


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "elsewhere"
    work.mkdir()
    return work


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    """A production environment, nothing of the checkout's (no PYTHONPATH, no MARKETPLACE_ENV)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "SECRET_KEY": "wheel-test-" + os.urandom(8).hex(),
        "DATABASE_URL": f"sqlite:///{workdir / 'marketplace.sqlite3'}",
        "LOG_FORMAT": "text",
        **extra,
    }


def test_the_wheel_carries_templates_static_files_migrations_and_the_catalogue(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = {p.name for p in (PACKAGE / "migrations" / "versions").glob("*.py")}
    templates = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "templates").rglob("*.html")}
    static = {
        p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "static").rglob("*") if p.is_file()
    }
    assert {f"marketplace/{name}" for name in templates | static} <= names
    assert {f"marketplace/migrations/versions/{name}" for name in versions} <= names
    assert {"marketplace/migrations/env.py", "marketplace/migrations/script.py.mako"} <= names
    assert "marketplace/translations/zh/LC_MESSAGES/messages.mo" in names  # compiled by the build
    assert not [name for name in names if "__pycache__" in name or name.startswith("tests/")]


def test_the_installed_package_migrates_serves_and_loads_its_jobs(installed, workdir):
    env = _env(workdir)
    venv = installed.parent.parent
    found = _run(
        [
            str(installed),
            "-c",
            "import json, sys, marketplace, marketplace.jobs.celery as c;"
            " print(json.dumps([marketplace.__file__, sorted(c.app.tasks), sys.path]))",
        ],
        cwd=workdir,
        env=env,
    ).stdout
    module, tasks, path = json.loads(found)
    site = Path(module).parent.parent
    assert site.is_relative_to(venv) and site.name == "site-packages"  # the wheel's copy
    # the only folder on the path that holds a marketplace package is the new virtualenv's
    holders = [p for p in path if (Path(p or workdir) / "marketplace" / "__init__.py").exists()]
    assert holders == [str(site)]
    assert "marketplace.sweep.stripe_refunds" in tasks  # the Celery app and its tasks

    upgraded = _run(
        [str(installed), "-m", "flask", "--app", "marketplace", "db", "upgrade"],
        cwd=workdir,
        env=env,
    )
    assert "database at head" in upgraded.stdout

    port = _free_port()
    log = workdir / "gunicorn.log"
    serving_env = env | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    config = ROOT / "deploy" / "gunicorn.conf.py"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(installed), "-m", "gunicorn", "-c", str(config), "marketplace:create_app()"],
            cwd=workdir,
            env=serving_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        login = _get(server, port, "/login", log)
        assert login[0] == 200 and '<html lang="zh-CN">' in login[1] and "登录" in login[1]
        css = _get(server, port, "/static/css/app.css", log)
        assert css[0] == 200 and css[2].startswith("text/css")
    finally:
        _stop(server)
    assert "Traceback" not in log.read_text(errors="replace")
    assert (workdir / "metrics").is_dir()  # gunicorn.conf.py made it


def _get(server: subprocess.Popen[bytes], port: int, path: str, log: Path) -> tuple[int, str, str]:
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                body = response.read().decode("utf-8", errors="replace")
                return response.status, body, response.headers.get("Content-Type", "")
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"gunicorn did not answer:\n{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
