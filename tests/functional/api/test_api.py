"""Open API v1: tokens and scopes, every endpoint, cross-organisation access, idempotent
measurements, problem details, limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from marketplace import create_app
from marketplace.accounts import api_tokens
from marketplace.accounts.models import ApiScope, ApiToken
from marketplace.audit import AuditEntry
from marketplace.config import TestConfig
from marketplace.db import local_today, utcnow
from marketplace.errors import DomainError
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus
from marketplace.outcomes.models import Measurement
from marketplace.security import Actor
from marketplace.vouchers import admission
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.order_helpers import accept_delivery
from tests.functional.outcomes.test_outcomes import measuring
from tests.functional.voucher_helpers import pilot

ALL = [s.value for s in ApiScope]


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="api")


def token_for(app, dbs, org, user=None, scopes=ALL, expires_at=None) -> str:
    with services(app, dbs):
        _token, plain = api_tokens.create(
            org, "MES", scopes, expires_at, Actor(user.id if user else None, org.id, None)
        )
    return plain


def call(client, method, url, token=None, body=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return client.open(f"/api/v1{url}", method=method, data=data, headers=headers)


def placed_order(app, dbs, p):
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor)
    return order, order.lines[0]


# Tokens


def test_tokens_are_random_shown_once_stored_hashed_and_refused_when_bad(client, app, dbs, p):
    plain = token_for(app, dbs, p.enterprise, p.owner, scopes=["orders:read"])
    assert plain.startswith("zxb_") and len(plain) >= 4 + 43  # 32 random bytes, base64
    stored = dbs.scalar(select(ApiToken))
    assert stored.token_hash == api_tokens.digest(plain) and plain not in repr(stored.__dict__)
    assert call(client, "GET", "/orders", plain).status_code == 200
    dbs.refresh(stored)
    assert stored.last_used_at is not None
    # missing, malformed, unknown
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer zxb_nope"}):
        answer = client.get("/api/v1/orders", headers=headers)
        assert answer.status_code == 401
        assert answer.mimetype == "application/problem+json"
        assert answer.json["status"] == 401 and answer.headers["WWW-Authenticate"]
    # missing scope
    answer = call(client, "GET", "/invoices", plain)
    assert answer.status_code == 403 and "invoices:read" in answer.json["detail"]
    # in the query string: refused even with a good header
    answer = call(client, "GET", f"/orders?access_token={plain}", plain)
    assert answer.status_code == 400
    # revoked
    with services(app, dbs):
        api_tokens.revoke(stored, Actor(p.owner.id, p.enterprise.id, None))
    assert call(client, "GET", "/orders", plain).status_code == 401


def test_an_expired_token_is_refused(client, app, dbs, p):
    plain = token_for(
        app, dbs, p.enterprise, scopes=["orders:read"], expires_at=utcnow() + timedelta(hours=1)
    )
    assert call(client, "GET", "/orders", plain).status_code == 200
    token = dbs.scalar(select(ApiToken))
    token.expires_at = utcnow() - timedelta(seconds=1)
    dbs.commit()
    assert call(client, "GET", "/orders", plain).status_code == 401


def test_bad_token_requests_are_refused(app, dbs, p):
    actor = Actor(p.owner.id, p.enterprise.id, None)
    for name, scopes, expires in (
        ("", ["orders:read"], None),
        ("MES", [], None),
        ("MES", ["orders:delete"], None),
        ("MES", ["orders:read"], utcnow() - timedelta(days=1)),
    ):
        with services(app, dbs), pytest.raises(DomainError):
            api_tokens.create(p.enterprise, name, scopes, expires, actor)
    assert dbs.scalar(select(func.count(ApiToken.id))) == 0


def test_owners_create_and_revoke_tokens_in_the_app(client, app, dbs, p):
    client.login(p.owner.email)
    page = client.form(
        "/org/api-tokens", {"name": "车间 MES", "scopes": ["orders:read", "vouchers:read"]}
    )
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    token = dbs.scalar(select(ApiToken))
    shown = page.text.split('id="new-token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert api_tokens.digest(shown) == token.token_hash
    assert shown not in client.get("/org/api-tokens").text  # only once
    assert client.form("/org/api-tokens", {"name": "", "scopes": []}).status_code == 422
    assert client.form(f"/org/api-tokens/{token.id}/revoke").status_code == 302
    dbs.refresh(token)
    assert token.revoked_at is not None
    member = UserFactory(org=p.enterprise, email="member@api.cn", role="member")
    # a token stops when its maker leaves
    plain = token_for(app, dbs, p.enterprise, member, scopes=["orders:read"])
    assert call(client, "GET", "/orders", plain).status_code == 200
    member.active = False
    dbs.commit()
    assert call(client, "GET", "/orders", plain).status_code == 401
    member.active = True
    dbs.commit()
    client.form("/logout")
    client.login(member.email)
    assert (
        client.form("/org/api-tokens", {"name": "x", "scopes": ["orders:read"]}).status_code == 403
    )


def test_the_cli_prints_a_token(app, dbs, p):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "api-token",
            "create",
            "--org",
            p.provider.credit_code,
            "--name",
            "IoT",
            "--scopes",
            "measurements:write,contracts:read",
        ]
    )
    assert result.exit_code == 0, result.output
    plain = result.output.strip()
    with app.app_context():
        from marketplace.db import db

        db.session.registry.set(dbs)
        try:
            found = api_tokens.authenticate(plain)
            assert found is not None and found.org_id == p.provider.id
        finally:
            db.session.registry.clear()
    bad = runner.invoke(
        args=["api-token", "create", "--org", "X", "--name", "a", "--scopes", "orders:read"]
    )
    assert bad.exit_code != 0


# The catalogue


def test_packages_are_public_filtered_and_paged(client, app, dbs, p):
    from tests.functional.catalog_helpers import published_package

    second = published_package(app, dbs, p.provider, p.provider_owner, title="质量追溯云")
    answer = call(client, "GET", "/packages?limit=1")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    first_page = answer.json
    assert len(first_page["items"]) == 1 and first_page["next_cursor"]
    item = first_page["items"][0]
    for key in (
        "id",
        "title",
        "summary",
        "category",
        "provider",
        "plans",
        "trial",
        "go_live_days",
        "sla_response_hours",
        "interfaces",
        "rating",
    ):
        assert key in item
    assert set(item["provider"]) == {"id", "name", "type", "evaluations"}
    assert set(item["rating"]) == {"average", "count"}
    assert item["trial"] is None  # the helper's packages offer no trial
    following = call(client, "GET", f"/packages?limit=1&cursor={first_page['next_cursor']}").json
    assert following["items"][0]["id"] == second.id and following["next_cursor"] is None
    assert call(client, "GET", "/packages?q=质量追溯").json["items"][0]["id"] == second.id
    assert call(client, "GET", "/packages?category=equipment_networking").json["items"]
    assert call(client, "GET", "/packages?max_go_live_days=1").json["items"] == []
    assert call(client, "GET", "/packages?trial=true").json["items"] == []  # none offers one
    assert len(call(client, "GET", "/packages?trial=").json["items"]) == 2
    import base64

    def cursor(value: str) -> str:
        return base64.urlsafe_b64encode(value.encode()).decode()

    overflowing = [
        cursor('{"after": 1e400}'),
        cursor('{"after": 100000000000000000000000}'),
        cursor('{"after": true}'),
    ]
    bad_ones = ["category=nope", "max_go_live_days=soon", "limit=0", "limit=101", "cursor=%%%"]
    bad_ones.append("trial=maybe")
    for bad in bad_ones + [f"cursor={c}" for c in overflowing]:
        answer = call(client, "GET", f"/packages?{bad}")
        assert answer.status_code == 422, bad
        assert answer.json["errors"]
    one = call(client, "GET", f"/packages/{p.package.id}").json
    assert one["id"] == p.package.id and "description" in one
    assert call(client, "GET", "/packages/999999").status_code == 404
    tried = published_package(app, dbs, p.provider, p.provider_owner, title="试用包", trial_days=7)
    offered = call(client, "GET", "/packages?trial=1").json["items"]
    assert [i["id"] for i in offered] == [tried.id] and offered[0]["trial"]["days"] == 7


def test_a_programmes_admissions_are_public_filtered_and_paged(client, app, dbs, p):
    from tests.functional.catalog_helpers import published_package

    programme = p.programme(admit=False)
    waiting = published_package(
        app, dbs, p.provider, p.provider_owner, admit=False, title="质量追溯云"
    )
    refused = published_package(
        app, dbs, p.provider, p.provider_owner, admit=False, title="能耗管理"
    )
    with services(app, dbs):
        admission.set_rules(programme, "价格公开，接口符合 OPC UA 标准。", None, p.official_actor)
        for package, admit in ((p.package, True), (refused, False)):
            dbs.refresh(package)
            admission.decide(
                programme,
                package.published_version,
                admit,
                "依据准入标准",
                p.agency,
                p.official_actor,
            )
    url = f"/programmes/{programme.id}/admissions"
    items = call(client, "GET", url).json["items"]
    states = {i["package_id"]: i["state"] for i in items}
    assert states == {p.package.id: "admitted", waiting.id: "pending", refused.id: "rejected"}
    admitted = next(i for i in items if i["state"] == "admitted")
    assert admitted["decided_at"] and admitted["inherited"] is False
    assert admitted["provider"] == {"id": p.provider.id, "name": p.provider.name}
    assert next(i for i in items if i["state"] == "pending")["decided_at"] is None
    pending = call(client, "GET", f"{url}?state=pending").json
    assert [i["package_id"] for i in pending["items"]] == [waiting.id]
    first = call(client, "GET", f"{url}?limit=2").json
    rest = call(client, "GET", f"{url}?limit=2&cursor={first['next_cursor']}").json
    assert [i["package_id"] for i in first["items"] + rest["items"]] == sorted(states)
    assert rest["next_cursor"] is None
    for bad in ("state=nope", "limit=0", "cursor=%%%"):
        answer = call(client, "GET", f"{url}?{bad}")
        assert answer.status_code == 422 and answer.json["errors"], bad
    assert call(client, "GET", "/programmes/999999/admissions").status_code == 404
    draft = p.programme(open_it=False, admit=False, name="草案项目")
    assert call(client, "GET", f"/programmes/{draft.id}/admissions").status_code == 404
    # the programme shows the decisions' figures, as /transparency does
    one = call(client, "GET", f"/programmes/{programme.id}").json
    assert one["admissions"]["admitted"] == 1 and one["admissions"]["rejected"] == 1
    listed = call(client, "GET", "/programmes").json["items"]
    assert next(i for i in listed if i["id"] == programme.id)["admissions"] == one["admissions"]


# Orders and transitions


def test_orders_are_seen_by_their_parties_only(client, app, dbs, p):
    order, line = placed_order(app, dbs, p)
    enterprise = token_for(app, dbs, p.enterprise, p.owner)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    stranger_org = OrganisationFactory()
    stranger = token_for(app, dbs, stranger_org)
    mine = call(client, "GET", "/orders", enterprise).json["items"]
    assert [o["number"] for o in mine] == [order.number]
    theirs = call(client, "GET", f"/orders/{order.number}", provider).json
    assert [ln["id"] for ln in theirs["lines"]] == [line.id]
    assert theirs["lines"][0]["events"] == ["accept", "reject"]
    assert call(client, "GET", "/orders", stranger).json["items"] == []
    assert call(client, "GET", f"/orders/{order.number}", stranger).status_code == 404
    other_provider = OrganisationFactory(provider=True)
    assert (
        call(
            client, "GET", f"/orders/{order.number}", token_for(app, dbs, other_provider)
        ).status_code
        == 404
    )
    agency = token_for(app, dbs, p.agency)
    assert call(client, "GET", "/orders", agency).status_code == 403


def test_transitions_follow_the_web_rules_and_are_audited(client, app, dbs, p):
    _order, line = placed_order(app, dbs, p)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    enterprise = token_for(app, dbs, p.enterprise, p.owner)
    url = f"/order-lines/{line.id}/transitions"
    assert call(client, "POST", url, enterprise, {"event": "accept"}).status_code == 409
    assert call(client, "POST", url, provider, {"event": "deliver"}).status_code == 409
    answer = call(client, "POST", url, provider, {"event": "reject"})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "reason"
    answer = call(client, "POST", url, provider, {"event": "accept", "note": "已排期"})
    assert answer.status_code == 200 and answer.json["status"] == "accepted"
    dbs.refresh(line)
    assert line.status is LineStatus.ACCEPTED
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "order_line.accept"))
    assert entry.actor_org_id == p.provider.id and entry.actor_user_id == p.provider_owner.id
    stranger = token_for(app, dbs, OrganisationFactory(provider=True))
    assert call(client, "POST", url, stranger, {"event": "start"}).status_code == 404
    read_only = token_for(app, dbs, p.provider, scopes=["orders:read"])
    assert call(client, "POST", url, read_only, {"event": "start"}).status_code == 403


def test_bodies_are_checked_before_anything_happens(client, app, dbs, p):
    _order, line = placed_order(app, dbs, p)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    url = f"/order-lines/{line.id}/transitions"
    assert call(client, "POST", url, provider, "{not json").status_code == 400
    answer = call(client, "POST", url, provider, {"event": "fly"})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "event"
    assert call(client, "POST", url, provider, {"event": "accept", "extra": 1}).status_code == 422
    assert call(client, "POST", url, provider, {}).status_code == 422
    big = {"event": "accept", "note": "x" * 70_000}
    assert call(client, "POST", url, provider, big).status_code == 413
    answer = call(client, "POST", url, provider, "event=accept", **{"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert call(client, "POST", url, provider, "[" * 5000).status_code == 400
    nul = {"event": "accept", "note": "a\u0000b"}
    assert call(client, "POST", url, provider, nul).status_code == 400
    dbs.refresh(line)
    assert line.status is LineStatus.PLACED


# Contracts and measurements


def test_measurements_are_idempotent_and_checked(client, app, dbs, p):
    _line, contract = measuring(app, dbs, p)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    today = local_today().isoformat()
    reading = {"external_id": "mes-1", "period_start": today, "period_end": today, "value": 61.5}
    url = f"/contracts/{contract.id}/measurements"
    first = call(client, "POST", url, provider, reading)
    assert first.status_code == 201 and first.json["status"] == "submitted"
    again = call(client, "POST", url, provider, reading)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert call(client, "POST", url, provider, reading | {"value": 70}).status_code == 409
    assert dbs.scalar(select(func.count(Measurement.id))) == 1
    bad_window = reading | {"external_id": "mes-2", "period_start": "2020-01-01"}
    answer = call(client, "POST", url, provider, bad_window)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "period_start"
    for wrong in ({"value": "61.5"}, {"period_end": "tomorrow"}, {"external_id": ""}):
        assert (
            call(client, "POST", url, provider, reading | {"external_id": "x"} | wrong).status_code
            == 422
        )
    listed = call(client, "GET", url, provider).json["items"]
    assert [m["external_id"] for m in listed] == ["mes-1"]
    assert call(client, "GET", f"/contracts/{contract.id}", provider).json["status"] == "measuring"
    # the enterprise reads but does not report; strangers see nothing
    enterprise = token_for(app, dbs, p.enterprise, p.owner)
    assert call(client, "GET", url, enterprise).status_code == 200
    assert call(client, "POST", url, enterprise, reading).status_code == 403
    stranger = token_for(app, dbs, OrganisationFactory(provider=True))
    assert call(client, "GET", f"/contracts/{contract.id}", stranger).status_code == 404
    assert call(client, "POST", url, stranger, reading).status_code == 404
    assert call(client, "GET", "/contracts", stranger).json["items"] == []
    assert [c["id"] for c in call(client, "GET", "/contracts", enterprise).json["items"]] == [
        contract.id
    ]
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "measurement.submitted"))
    assert entry.actor_org_id == p.provider.id


# Money


def test_invoices_and_vouchers_of_their_owners_only(client, app, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    _order, line = placed_order(app, dbs, p)
    with services(app, dbs):
        accept_delivery(line)  # invoiced at 验收
    enterprise = token_for(app, dbs, p.enterprise, p.owner)
    invoices = call(client, "GET", "/invoices", enterprise).json["items"]
    assert invoices and invoices[0]["order_line_id"] == line.id and invoices[0]["voucher_fen"] > 0
    assert invoices[0]["due_on"] == (local_today() + timedelta(days=30)).isoformat()
    provider = token_for(app, dbs, p.provider)
    assert call(client, "GET", "/invoices", provider).json["items"][0]["order_line_id"] == line.id
    vouchers = call(client, "GET", "/vouchers", enterprise).json["items"]
    assert vouchers[0]["redeemed_fen"] == invoices[0]["voucher_fen"]
    assert vouchers[0]["code"].startswith("ZXQ-")
    assert call(client, "GET", "/vouchers", provider).status_code == 403
    stranger = token_for(app, dbs, OrganisationFactory())
    assert call(client, "GET", "/invoices", stranger).json["items"] == []
    assert call(client, "GET", "/vouchers", stranger).json["items"] == []


# The document, errors, limits


def test_the_openapi_document_describes_every_endpoint(client, app):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = "/" + str(rule).removeprefix("/api/v1/")
            path = path.replace("<any_id:", "{").replace("<order_number:", "{")
            path = path.replace(">", "}").replace("{order_number}", "{number}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    assert served == documented
    post = doc["paths"]["/contracts/{contract_id}/measurements"]["post"]
    assert {"200", "201", "409", "422", "401", "403", "404", "413", "429"} <= set(post["responses"])
    trial = doc["components"]["schemas"]["Trial"]
    assert set(trial["properties"]) == {"days", "price_fen", "limits"}
    page = client.get("/api/docs")
    assert page.status_code == 200 and "MeasurementIn" in page.text
    assert "<script" not in page.text.split("<main", 1)[1]
    assert "https://" not in page.text.split("<main", 1)[1].split("zhuanxingbao.cn")[0]


def test_errors_are_problem_details_in_the_clients_language(client, app, dbs, p):
    answer = client.get("/api/v1/nowhere")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert client.delete("/api/v1/packages").status_code == 405
    _line, contract = measuring(app, dbs, p)
    provider = token_for(app, dbs, p.provider, p.provider_owner)
    reading = {
        "external_id": "m",
        "period_start": "2020-01-01",
        "period_end": "2020-01-01",
        "value": 1,
    }
    url = f"/contracts/{contract.id}/measurements"
    english = call(client, "POST", url, provider, reading).json["detail"]
    chinese = call(client, "POST", url, provider, reading, **{"Accept-Language": "zh-CN"}).json[
        "detail"
    ]
    assert english != chinese and "window" in english


def test_rate_limits_per_token(client, app, dbs, p, monkeypatch, tmp_path):
    # Another app of the process made with limits off (as the demo world's are) must not
    # switch them off here: Flask-Limiter's switch is the one Limiter's, shared by all apps.
    off = TestConfig(f"sqlite:///{tmp_path / 'off.sqlite3'}")
    off.RATELIMIT_ENABLED = False
    create_app(off)
    # Flask-Limiter's windows are fixed: a minute's window could roll over between the calls
    # of a slow (loaded) run and let the fourth through; a day's practically never does.
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per day")
    monkeypatch.setitem(app.config, "API_PUBLIC_RATE_LIMIT", "2 per day")
    one = token_for(app, dbs, p.enterprise, p.owner)
    two = token_for(app, dbs, p.enterprise, p.owner)
    for _ in range(3):
        assert call(client, "GET", "/orders", one).status_code == 200
    limited = call(client, "GET", "/orders", one)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.mimetype == "application/problem+json"
    assert call(client, "GET", "/orders", two).status_code == 200  # another token: its own
    assert call(client, "GET", "/packages").status_code == 200
    assert call(client, "GET", "/packages").status_code == 200
    assert call(client, "GET", "/packages").status_code == 429
