"""Tests whose requests really commit, in parallel threads, on a database of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from marketplace import create_app, migrate
from marketplace.config import TestConfig
from marketplace.db import make_engine
from tests.conftest import Client, _compile_translations, scratch_database_url

THREADS = 8


@pytest.fixture(scope="module")
def race_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = scratch_database_url(tmp_path_factory, "race")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    _compile_translations()
    app = create_app(TestConfig(url))
    app.test_client_class = Client
    yield app
    app.extensions["db"].engine.dispose()


def in_parallel(work: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released at the same moment; return what each got."""
    start = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported to the test below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
