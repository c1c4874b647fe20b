"""Wrong passwords sent 8 at a time to two instances sharing a Redis: the 11th attempt is
refused however they interleave (each takes its unit before the password is checked).

Before, Flask-Limiter's ``deduct_when`` tested the counter before the attempt and raised it
after: 30 wrong passwords sent 8 at a time got 13 answers before the first 429.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from marketplace import create_app
from marketplace.config import TestConfig
from marketplace.db import db
from tests import factories
from tests.concurrency.conftest import THREADS, in_parallel, migrated_database
from tests.conftest import Client
from tests.functional.redis_helpers import instances, shared_redis

ATTEMPTS = 30


@pytest.fixture(scope="module")
def login_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = migrated_database(tmp_path_factory, "login_race")
    setup = create_app(TestConfig(url))
    with setup.app_context():
        factories.bind(db.session)
        factories.UserFactory(email="victim@race.cn")
    setup.extensions["db"].engine.dispose()
    yield url


@pytest.mark.parametrize("email", ["victim@race.cn", "nobody@race.cn"])
def test_parallel_wrong_passwords_get_ten_tries_in_all(login_db: str, email: str) -> None:
    session_app = create_app(TestConfig(login_db))
    with shared_redis() as settings, instances(session_app, login_db) as make:
        apps: list[Flask] = [make(**settings), make(**settings)]
        clients: list[Client] = [apps[n % 2].test_client() for n in range(ATTEMPTS)]
        tokens = [c.csrf_token() for c in clients]

        def attempt(n: int) -> int:
            data = {"csrf_token": tokens[n], "email": email, "password": "wrong-password"}
            # one address per attempt: the account's limit alone decides
            env = {"REMOTE_ADDR": f"10.9.{n // 200}.{n % 200}"}
            return clients[n].post("/login", data=data, environ_base=env).status_code

        answers: list[int] = []
        for batch in range(0, ATTEMPTS, THREADS):
            size = min(THREADS, ATTEMPTS - batch)
            answers += in_parallel(lambda i, b=batch: attempt(b + i), size)
        for app in apps:
            app.extensions["db"].engine.dispose()
    assert all(a in (200, 429) for a in answers), answers
    assert answers.count(200) == 10 and answers.count(429) == ATTEMPTS - 10
