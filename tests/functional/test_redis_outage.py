"""Rate limits and the statistics cache pointed at a Redis that does not answer: pages, the
login form and the Open API answer as usual (limits count in each process's memory, the
cache is skipped) and the log says why."""

from __future__ import annotations

import logging

from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.functional.redis_helpers import dead_redis, instances
from tests.functional.voucher_helpers import pilot


def test_a_redis_outage_never_answers_500(app, connection, dbs, database_url, caplog):
    caplog.set_level(logging.WARNING)
    p = pilot(app, dbs, tag="outage")
    UserFactory(email="someone@outage.cn")
    with instances(app, database_url) as make:
        client = make(connection, STATS_CACHE_SECONDS=300, **dead_redis()).test_client()
        for url in ("/", "/catalog", "/api/v1/packages", "/api/v1/programmes", "/login"):
            assert client.get(url).status_code == 200, url
        wrong = {"email": "someone@outage.cn", "password": "wrong-password"}
        assert client.form("/login", wrong).status_code == 200
        client.login(p.official.email)
        assert client.get("/agency/dashboard").status_code == 200
        assert client.get("/agency/dashboard?category=mes").status_code == 200
        assert client.get("/agency/dashboard/money.csv").status_code == 200
        client.form("/logout")
        for _ in range(9):
            assert client.form("/login", wrong).status_code == 200
        # still limited, in this process's memory
        assert client.form("/login", {**wrong, "password": PASSWORD}).status_code == 429
    logged = caplog.text
    assert "falling back to in-memory storage" in logged
    assert "cache Redis unreachable" in logged
