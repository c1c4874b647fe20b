"""Tests whose requests really commit, in parallel threads, on a database of their own; and
the scaffolding they share: a provider admitted to a pool with a published package, a line
ordered and accepted, clients signed in, work run in its own committed transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from flask import Flask

from marketplace import create_app, migrate
from marketplace.accounts.models import Organisation, User
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package
from marketplace.config import TestConfig
from marketplace.db import db, make_engine, writing
from marketplace.errors import DomainError
from marketplace.orders import bundles
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, Order, OrderLine
from marketplace.security import Actor
from tests import factories
from tests.conftest import Client, _compile_translations, scratch_database_url
from tests.functional.catalog_helpers import FIELDS, membership

THREADS = 8
SYSTEM = Actor(None, None, None)
# From order to the enterprise's acceptance of delivery (验收), each by its side.
DELIVERED = [
    (LineEvent.ACCEPT, "provider"),
    (LineEvent.START, "provider"),
    (LineEvent.DELIVER, "provider"),
]
ACCEPTED = [*DELIVERED, (LineEvent.ACCEPT_DELIVERY, "enterprise")]


def migrated_database(tmp_path_factory: pytest.TempPathFactory, name: str) -> str:
    """The URL of a scratch database of its own, migrated to the head (translations compiled)."""
    url = scratch_database_url(tmp_path_factory, name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    _compile_translations()
    return url


@pytest.fixture(scope="module")
def race_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(TestConfig(migrated_database(tmp_path_factory, "race")))
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


def committed(
    app: Flask,
    work: Callable[[], Any],
    refused: Callable[[DomainError], Any] = lambda _error: "refused",
    request: bool = False,
) -> Any:
    """``work()`` in its own application (or, with ``request``, request) context and write
    transaction, committed; a domain error rolled back and answered by ``refused``."""
    context = app.test_request_context() if request else app.app_context()
    with context, writing():
        try:
            result = work()
        except DomainError as error:
            db.session.rollback()
            return refused(error)
        db.session.commit()
        return result


def signed_in(app: Flask, emails: Iterable[str]) -> tuple[list[Client], list[str]]:
    """A client signed in as each of ``emails``, and each one's CSRF token."""
    clients: list[Client] = []
    for email in emails:
        client: Client = app.test_client()  # type: ignore[assignment]
        client.login(email)
        clients.append(client)
    return clients, [c.csrf_token() for c in clients]


def pooled_provider(agency: Organisation, email: str | None = None) -> tuple[Organisation, User]:
    """A provider admitted to the agency's pool, and its seller (factories bound)."""
    provider = factories.OrganisationFactory(provider=True)
    seller = factories.UserFactory(org=provider, **({"email": email} if email else {}))
    membership(db.session, provider, agency)
    return provider, seller


def published(provider: Organisation, seller: User, plan: catalog.PlanFields) -> Package:
    """The provider's package on ``plan``, consuming OPC UA telemetry, published."""
    actor = Actor(seller.id, provider.id, None)
    package = catalog.create_package(provider, FIELDS, actor)
    catalog.add_plan(package, plan, actor)
    catalog.add_interface(package, "consumes", "opc_ua", "device_telemetry", actor)
    catalog.submit(package, actor)
    catalog.publish(package, actor)
    return package


def ordered(enterprise: Organisation, package_id: int, name: str, buyer: Actor) -> Order:
    """The enterprise's order of one package, through a bundle of its own."""
    bundle = bundles.create(enterprise, name, buyer)
    bundles.add(bundle, package_id, None, buyer)
    return orders.checkout(enterprise, bundle, buyer)


def advance(line: OrderLine, events: list[tuple[LineEvent, str]] = ACCEPTED) -> None:
    """The line moved through ``events`` by the system (to 验收 by default)."""
    for event, kind in events:
        orders.transition(line, event, "", SYSTEM, kind)


def colleagues(org: Organisation, emails: list[str]) -> list[str]:
    """Users of ``org`` with these e-mails (factories bound), for the race's clients."""
    factories.bind(db.session)
    for email in emails:
        factories.UserFactory(org=org, email=email)
    return emails


def posted_at_once(app: Flask, url: str, body: dict[str, Any], token: str, n: int = 20) -> Any:
    """``body`` posted as JSON to ``url`` with the bearer ``token`` by ``n`` threads at once;
    asserts it was stored once (one 201, the rest 200, all with the one stored id)."""

    def post(_i: int) -> tuple[int, Any]:
        response = app.test_client().post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, (response.json or {}).get("id")

    results = in_parallel(post, n)
    assert sorted(status for status, _ in results) == [200] * (n - 1) + [201], results
    assert len({stored_id for _, stored_id in results}) == 1, results
    return results[0][1]


def bought(tag: str, plan: catalog.PlanFields, name: str) -> tuple[OrderLine, Actor, Actor]:
    """An enterprise's line of a pooled provider's package on ``plan``, just ordered (factories
    bound); the line, its seller and its buyer as actors."""
    factories.bind(db.session)
    agency = factories.OrganisationFactory(agency=True)
    provider, seller = pooled_provider(agency, f"seller@{tag}.cn")
    enterprise = factories.OrganisationFactory()
    owner = factories.UserFactory(org=enterprise, email=f"owner@{tag}.cn")
    package = published(provider, seller, plan)
    buyer = Actor(owner.id, enterprise.id, None)
    line = ordered(enterprise, package.id, name, buyer).lines[0]
    return line, Actor(seller.id, provider.id, None), buyer
