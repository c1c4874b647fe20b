"""Failed logins are counted in the shared Redis: two instances (two apps, each with a fresh
limiter storage, as two processes would have) refuse the 11th failure together."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.functional.redis_helpers import instances, keys, shared_redis


def wrong(client, email, ip):
    return client.form(
        "/login", {"email": email, "password": "wrong-password"}, environ_base={"REMOTE_ADDR": ip}
    ).status_code


def test_the_eleventh_failure_is_refused_whichever_instance_answers(
    app, connection, dbs, database_url
):
    UserFactory(email="shared@factory.cn")
    with shared_redis() as settings, instances(app, database_url) as make:
        one = make(connection, **settings).test_client()
        assert [wrong(one, "shared@factory.cn", f"10.1.0.{n}") for n in range(5)] == [200] * 5
        # the second instance starts with a storage object of its own: only Redis knows
        two = make(connection, **settings).test_client()
        assert [wrong(two, "shared@factory.cn", f"10.2.0.{n}") for n in range(5)] == [200] * 5
        assert keys(settings)
        for client in (one, two):
            right = client.form(
                "/login",
                {"email": "shared@factory.cn", "password": PASSWORD},
                environ_base={"REMOTE_ADDR": "10.3.0.1"},
            )
            assert right.status_code == 429  # the account's limit, whatever the address


def test_successful_logins_give_their_unit_back(app, connection, dbs, database_url):
    UserFactory(email="regular@factory.cn")
    with shared_redis() as settings, instances(app, database_url) as make:
        client = make(connection, **settings).test_client()
        for _ in range(9):
            assert wrong(client, "regular@factory.cn", "10.4.0.1") == 200
        for _ in range(3):
            client.login("regular@factory.cn")
            client.form("/logout")
        assert wrong(client, "regular@factory.cn", "10.4.0.1") == 200  # the tenth failure
        assert wrong(client, "regular@factory.cn", "10.4.0.1") == 429


def test_the_per_process_default_does_not_share(app, connection, dbs, database_url):
    """What the Redis test above proves: with memory:// a second instance starts afresh."""
    UserFactory(email="alone@factory.cn")
    with instances(app, database_url) as make:
        one = make(connection).test_client()
        assert [wrong(one, "alone@factory.cn", f"10.5.0.{n}") for n in range(10)] == [200] * 10
        two = make(connection).test_client()
        assert wrong(two, "alone@factory.cn", "10.6.0.1") == 200


def test_the_login_page_works_with_limits_switched_off(database_url):
    """RATELIMIT_ENABLED=false (the benchmarks) in a process where no app ever switched the
    limiter on: the limiter has no strategy, and the login form must not ask it for one (in
    this process other tests' apps have long switched it on, hence a fresh one)."""
    script = (
        "import sys\n"
        "from marketplace import create_app\n"
        "from marketplace.config import TestConfig\n"
        "config = TestConfig(sys.argv[1])\n"
        "config.RATELIMIT_ENABLED = False\n"
        "client = create_app(config).test_client()\n"
        "print(client.get('/login').status_code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, database_url], capture_output=True, text=True, check=False
    )
    assert done.stdout.split() == ["200"], done.stderr[-2000:]
