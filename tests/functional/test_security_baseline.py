"""CSRF, headers, cookies, body size, error pages and GET never changing state."""

from sqlalchemy import func, select

from marketplace import create_app
from marketplace.accounts.models import Organisation
from marketplace.config import TestConfig
from tests.factories import UserFactory
from tests.functional.accounts.test_registration import enterprise_form


def test_post_without_csrf_is_refused_and_stores_nothing(client, dbs):
    before = dbs.scalar(select(func.count(Organisation.id)))
    response = client.post("/register/enterprise", data=enterprise_form())
    assert response.status_code == 400
    assert "表单已过期或并非来自本站" in response.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Organisation.id))) == before


def test_htmx_requests_send_csrf_in_a_header(client, dbs):
    UserFactory(email="hx@factory.cn")
    token = client.csrf_token()
    response = client.post(
        "/login",
        data={"email": "hx@factory.cn", "password": "correct-horse-battery"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert response.status_code == 302
    page = client.text("/dashboard")
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


def test_logout_needs_csrf_and_post(client, dbs):
    UserFactory(email="lo@factory.cn")
    client.login("lo@factory.cn")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/dashboard").status_code == 200


def test_security_headers_on_every_response(client, dbs):
    for path in ["/", "/login", "/does-not-exist", "/static/css/app.css"]:
        response = client.get(path)
        response.close()
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        )
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script(client, dbs):
    for path in ["/", "/login", "/register/enterprise", "/register/provider"]:
        page = client.text(path)
        assert "<script>" not in page and " onclick=" not in page and "javascript:" not in page
        assert 'name="htmx-config"' in page


def test_session_cookie_flags(client, dbs):
    UserFactory(email="cookie@factory.cn")
    response = client.form(
        "/login", {"email": "cookie@factory.cn", "password": "correct-horse-battery"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = client.get("/register", base_url="https://localhost")
    assert "Secure" in secure.headers["Set-Cookie"]
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_oversized_body_is_413_and_stores_nothing(client, dbs):
    before = dbs.scalar(select(func.count(Organisation.id)))
    response = client.form("/register/enterprise", enterprise_form(name="x" * (3 * 1024 * 1024)))
    assert response.status_code == 413
    assert "超过" in response.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Organisation.id))) == before


def test_error_pages_in_both_languages(client, dbs):
    zh = client.get("/no-such-page")
    assert zh.status_code == 404 and "页面不存在" in zh.get_data(as_text=True)
    client.set_cookie("lang", "en")
    en = client.get("/no-such-page")
    assert "Page not found" in en.get_data(as_text=True)


def test_server_error_shows_no_traceback(database_url):
    app = create_app(TestConfig(database_url))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    from marketplace.security import public

    @app.get("/boom")
    @public
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "出错了" in page and "secret internals" not in page and "Traceback" not in page


def test_unclassified_route_is_refused(database_url):
    app = create_app(TestConfig(database_url))

    @app.get("/forgotten")
    def forgotten():
        return "should never be served"

    assert app.test_client().get("/forgotten").status_code == 403


def test_huge_ids_and_pages_are_not_found_not_errors(client, dbs):
    from tests.factories import OrganisationFactory

    assert client.get("/providers/99999999999999999999999").status_code == 404
    assert client.get("/providers/2147483648").status_code == 404
    assert client.get("/providers/0").status_code == 404
    UserFactory(email="big@factory.cn", org=OrganisationFactory(platform=True))
    client.login("big@factory.cn")
    assert client.get("/admin/organisations?page=400000000000000000").status_code == 200
    assert client.form("/org/members/2147483648/remove").status_code == 404
    assert client.form("/admin/users/99999999999999/deactivate").status_code == 404


def test_absurd_amounts_are_field_errors(client, dbs):
    before = dbs.scalar(select(func.count(Organisation.id)))
    for amount in ["1e30", "1e10000000", "99999999999999999", "1,2,3.4.5"]:
        response = client.form("/register/enterprise", enterprise_form(annual_revenue=amount))
        assert response.status_code == 422, amount
        assert 'id="annual_revenue-error"' in response.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Organisation.id))) == before


def test_other_http_errors_get_a_page_in_the_users_language(client, dbs):
    response = client.get("/static/css/app.css", headers={"Range": "bytes=99999999-"})
    response.close()
    assert response.status_code == 416
    assert "无法应答" in response.get_data(as_text=True)


def test_builtin_form_messages_are_translated(client, dbs):
    response = client.form(
        "/register/provider", {"industry_codes": ["bogus"], "provider_type": "pirate"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not a valid choice" not in page and "Not a valid choice" not in page


def test_method_not_allowed_keeps_its_allow_header(client, dbs):
    response = client.get("/logout")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
