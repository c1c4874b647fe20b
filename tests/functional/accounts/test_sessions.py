"""Login, logout, sessions, rate limits and the audit of each attempt."""

import time

import pytest
from sqlalchemy import select

from marketplace.audit import AuditEntry
from tests.conftest import PASSWORD
from tests.factories import UserFactory


def actions(dbs, **where):
    dbs.expire_all()
    stmt = select(AuditEntry.action).order_by(AuditEntry.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, key) == value)
    return list(dbs.scalars(stmt))


def test_login_and_logout_are_audited(client, dbs):
    user = UserFactory(email="owner@factory.cn")
    response = client.form("/login", {"email": "Owner@Factory.cn ", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    client.form("/logout")
    assert client.get("/dashboard").status_code == 302
    assert actions(dbs, object_type="user", object_id=str(user.id)) == ["login.success", "logout"]


def test_failed_login_is_audited_and_says_nothing_about_the_account(client, dbs):
    user = UserFactory(email="someone@factory.cn")
    wrong = client.form("/login", {"email": "someone@factory.cn", "password": "wrong-password"})
    unknown = client.form("/login", {"email": "nobody@factory.cn", "password": "wrong-password"})
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "邮箱或密码不正确" in response.get_data(as_text=True)
    entries = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "login.failure")).all()
    assert {(e.object_id, e.details["email"]) for e in entries} >= {
        (str(user.id), "someone@factory.cn"),
        (None, "nobody@factory.cn"),
    }
    assert all(e.ip == "127.0.0.1" for e in entries)


def test_eleventh_failure_for_one_account_answers_429(client, dbs):
    """Attempts from ten different addresses: the per-account limit alone answers."""
    UserFactory(email="target@factory.cn")
    for n in range(10):
        response = client.form(
            "/login",
            {"email": "target@factory.cn", "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        )
        assert response.status_code == 200
    response = client.form(
        "/login",
        {"email": "target@factory.cn", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )
    assert response.status_code == 429
    assert "尝试次数过多" in response.get_data(as_text=True)


def test_eleventh_failure_from_one_ip_answers_429(client, dbs):
    for n in range(10):
        client.form("/login", {"email": f"guess{n}@factory.cn", "password": "wrong-password"})
    assert (
        client.form("/login", {"email": "guess99@factory.cn", "password": "x"}).status_code == 429
    )


def test_successful_logins_do_not_count(client, dbs):
    UserFactory(email="busy@factory.cn")
    for _ in range(12):
        client.login("busy@factory.cn")
        client.form("/logout")


def test_new_session_at_login(client, dbs):
    user = UserFactory(email="fixation@factory.cn")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.login("fixation@factory.cn")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == f"{user.id}:{user.session_token}"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
)
def test_forged_next_is_ignored(client, dbs, target):
    UserFactory(email="next@factory.cn")
    response = client.form(
        "/login", {"email": "next@factory.cn", "password": PASSWORD, "next": target}
    )
    assert response.headers["Location"] == "/dashboard"


def test_local_next_is_followed(client, dbs):
    UserFactory(email="next2@factory.cn")
    assert client.get("/org").headers["Location"] == "/login?next=/org"
    response = client.form(
        "/login", {"email": "next2@factory.cn", "password": PASSWORD, "next": "/org"}
    )
    assert response.headers["Location"] == "/org"


def test_logout_ends_every_session_of_the_user(app, client, dbs):
    UserFactory(email="two@factory.cn")
    other = app.test_client()
    client.login("two@factory.cn")
    other.login("two@factory.cn")
    client.form("/logout")
    assert other.get("/dashboard").status_code == 302


def test_password_change_ends_other_sessions_but_not_this_one(app, client, dbs):
    UserFactory(email="change@factory.cn")
    other = app.test_client()
    client.login("change@factory.cn")
    other.login("change@factory.cn")
    response = client.form(
        "/account/password",
        {
            "current_password": PASSWORD,
            "password": "a-brand-new-password",
            "confirm": "a-brand-new-password",
        },
    )
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert other.get("/dashboard").status_code == 302
    client.form("/logout")
    client.login("change@factory.cn", "a-brand-new-password")


def test_password_change_bad_inputs(client, dbs):
    UserFactory(email="bad@factory.cn")
    client.login("bad@factory.cn")
    wrong = client.form(
        "/account/password",
        {
            "current_password": "not-it-at-all",
            "password": "a-brand-new-password",
            "confirm": "a-brand-new-password",
        },
    )
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    short = client.form(
        "/account/password", {"current_password": PASSWORD, "password": "short", "confirm": "short"}
    )
    assert short.status_code == 422
    too_long = "x" * 129
    long_ = client.form(
        "/account/password",
        {"current_password": PASSWORD, "password": too_long, "confirm": too_long},
    )
    assert long_.status_code == 422
    client.form("/logout")
    client.login("bad@factory.cn")  # the old password still works


def test_sixty_four_character_passwords_are_accepted(client, dbs):
    UserFactory(email="long@factory.cn")
    client.login("long@factory.cn")
    long_password = "长" * 64
    response = client.form(
        "/account/password",
        {"current_password": PASSWORD, "password": long_password, "confirm": long_password},
    )
    assert response.status_code == 302
    client.form("/logout")
    client.login("long@factory.cn", long_password)


def test_idle_timeout(app, client, dbs):
    UserFactory(email="idle@factory.cn")
    client.login("idle@factory.cn")
    assert client.get("/dashboard").status_code == 200
    with client.session_transaction() as session:
        session["seen"] = time.time() - app.config["IDLE_TIMEOUT"].total_seconds() - 5
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/dashboard").status_code == 302


def test_deactivated_user_is_logged_out_and_cannot_log_in(app, client, dbs):
    user = UserFactory(email="gone@factory.cn")
    client.login("gone@factory.cn")
    user.active = False
    dbs.commit()
    assert client.get("/dashboard").status_code == 302
    response = client.form("/login", {"email": "gone@factory.cn", "password": PASSWORD})
    assert response.status_code == 200 and "邮箱或密码不正确" in response.get_data(as_text=True)


def test_passwords_are_argon2id(app, dbs):
    from marketplace.accounts import passwords
    from marketplace.config import Config

    assert UserFactory().password_hash.startswith("$argon2id$")
    production = Config().PASSWORD_HASH
    assert production["memory_cost"] >= 19 * 1024 and production["time_cost"] >= 2
    assert passwords.MIN_LENGTH == 10 and passwords.MAX_LENGTH >= 64


def test_guessing_the_current_password_is_rate_limited(client, dbs):
    UserFactory(email="guess@factory.cn")
    client.login("guess@factory.cn")
    data = {
        "current_password": "not-it-at-all",
        "password": "a-brand-new-password",
        "confirm": "a-brand-new-password",
    }
    for _ in range(10):
        assert client.form("/account/password", data).status_code == 422
    assert client.form("/account/password", data).status_code == 429


def test_registration_is_rate_limited_per_ip(client, dbs):
    for n in range(20):
        assert client.form("/register/enterprise", {"name": f"x{n}"}).status_code == 422
    assert client.form("/register/enterprise", {"name": "x"}).status_code == 429


def test_nul_bytes_are_refused(client, dbs):
    response = client.form("/login", {"email": "a\x00@b.cn", "password": "whatever-it-is"})
    assert response.status_code == 400 and "无法识别该请求" in response.get_data(as_text=True)


def test_htmx_request_without_session_is_sent_to_login(client, dbs):
    response = client.get("/admin/organisations", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/admin/organisations"
