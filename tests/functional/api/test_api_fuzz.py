"""Schemathesis against /api/v1/openapi.json on the test app: generated requests, valid and not,
get no server error, only documented statuses and content types, bodies that match the
document; requests without or with bad credentials are refused."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketplace.accounts import api_tokens
from marketplace.accounts.models import ApiScope
from marketplace.security import Actor
from tests.functional.catalog_helpers import services
from tests.functional.outcomes.test_outcomes import measuring
from tests.functional.voucher_helpers import pilot

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]


def _document() -> dict:
    """The document as the app serves it (made once, from an app of its own: the schema must
    exist when the tests are collected; the requests go to the test's app)."""
    from marketplace import create_app
    from marketplace.api.docs import document
    from marketplace.config import TestConfig

    with create_app(TestConfig("sqlite://")).test_request_context("/api/v1/openapi.json"):
        return document()


@pytest.fixture
def provider_token(app, dbs, monkeypatch):
    """A provider with an order, a contract being measured and a token of every scope."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app.config, "API_PUBLIC_RATE_LIMIT", "100000 per minute")
    p = pilot(app, dbs, tag="fuzz")
    measuring(app, dbs, p)
    with services(app, dbs):
        _token, plain = api_tokens.create(
            p.provider,
            "fuzz",
            [s.value for s in ApiScope],
            None,
            Actor(p.provider_owner.id, p.provider.id, None),
        )
    return plain


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_to_its_document(case, app, provider_token):
    case.operation.schema.app = app  # the probes (e.g. without the token) go there too
    case.call_and_validate(
        app=app,
        base_url="http://localhost/api/v1",
        headers={"Authorization": f"Bearer {provider_token}"},
        checks=CHECKS,
    )
