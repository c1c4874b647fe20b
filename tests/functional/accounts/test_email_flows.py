"""Accounts by e-mail (issue 18): forgot password, confirming a new registration's address,
invitations sent and sent again. The messages are read from the outbox here; the e2e test
reads them from a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from marketplace.accounts import services
from marketplace.accounts.models import EmailConfirmation, Invitation, PasswordReset, User
from marketplace.audit import AuditEntry
from marketplace.db import utcnow
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.accounts.mail_helpers import last_link, link_in, mails_to
from tests.functional.accounts.test_registration import enterprise_form

NEW_PASSWORD = "a-brand-new-password"
CSRF = re.compile(r'"X-CSRFToken": "[^"]+"|name="csrf_token"[^>]*value="[^"]+"')


def forgot(client, email, **kwargs):
    return client.form("/forgot", {"email": email}, **kwargs)


def audit_actions(dbs, user_id):
    return list(
        dbs.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "user", AuditEntry.object_id == str(user_id))
            .order_by(AuditEntry.id)
        )
    )


# Forgot password


def test_reset_journey_signs_in_and_ends_other_sessions(app, client, dbs):
    user = UserFactory(email="wang@factory.cn", name="王强")
    elsewhere = app.test_client()
    elsewhere.login("wang@factory.cn")
    login_page = client.text("/login")
    assert 'href="/forgot"' in login_page and "忘记密码" in login_page
    assert client.get("/forgot").status_code == 200

    response = forgot(client, "Wang@Factory.cn")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    [sent] = mails_to(dbs, "wang@factory.cn", "password_reset")
    assert "转型包服务市场" in sent.subject and "王强" in sent.text_body
    assert "一小时内有效" in client.text("/login") and "1 小时内有效" in sent.text_body
    path = link_in(sent)
    reset = dbs.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert path.rsplit("/", 1)[1] not in reset.token_hash  # only a hash is stored
    assert reset.expires_at - reset.created_at <= timedelta(hours=1, seconds=1)
    assert elsewhere.get("/dashboard").status_code == 200  # asking changes nothing yet

    assert client.get(path).status_code == 200
    short = client.form(path, {"password": "short", "confirm": "short"})
    assert short.status_code == 422  # the registration's password rules
    done = client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200  # signed in
    assert elsewhere.get("/dashboard").status_code == 302  # other sessions logged out

    used = client.get(path)
    assert used.status_code == 404
    assert "该链接已失效" in used.get_data(as_text=True) and 'href="/forgot"' in used.get_data(
        as_text=True
    )
    fresh = app.test_client()
    old_password = {"email": "wang@factory.cn", "password": "correct-horse-battery"}
    assert fresh.form("/login", old_password).status_code == 200  # refused
    fresh.login("wang@factory.cn", NEW_PASSWORD)
    actions = audit_actions(dbs, user.id)
    assert actions.index("password.reset_requested") < actions.index("password.reset")


def test_the_same_answer_whether_or_not_the_address_exists(app, client, dbs):
    UserFactory(email="known@factory.cn")
    pages = []
    for email in ("known@factory.cn", "nobody@factory.cn"):
        visitor = app.test_client()
        response = forgot(visitor, email)
        assert (response.status_code, response.headers["Location"]) == (302, "/login")
        page = CSRF.sub("", visitor.text("/login"))
        assert "如果 " + email + " 有对应的账户" in page
        pages.append(page.replace(email, "EMAIL"))
    assert pages[0] == pages[1]
    assert mails_to(dbs, "known@factory.cn") and not mails_to(dbs, "nobody@factory.cn")
    entry = dbs.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "password.reset_requested", AuditEntry.object_id.is_(None)
        )
    )
    assert entry.details["email"] == "nobody@factory.cn" and entry.details["sent"] is False


def test_a_deactivated_account_gets_no_link(client, dbs):
    UserFactory(email="gone@factory.cn", active=False)
    assert forgot(client, "gone@factory.cn").status_code == 302
    assert mails_to(dbs, "gone@factory.cn") == []


def test_the_link_is_valid_for_one_hour(client, dbs, monkeypatch):
    UserFactory(email="slow@factory.cn")
    forgot(client, "slow@factory.cn")
    path = last_link(dbs, "slow@factory.cn")
    start = utcnow()
    monkeypatch.setattr(services, "utcnow", lambda: start + timedelta(minutes=59))
    assert client.get(path).status_code == 200
    monkeypatch.setattr(services, "utcnow", lambda: start + timedelta(minutes=61))
    late = client.get(path)
    assert late.status_code == 404 and 'href="/forgot"' in late.get_data(as_text=True)
    assert client.form(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == (
        404
    )


def test_a_new_request_invalidates_the_older_link(app, client, dbs):
    UserFactory(email="twice@factory.cn")
    forgot(client, "twice@factory.cn")
    first = last_link(dbs, "twice@factory.cn")
    forgot(client, "twice@factory.cn")
    second = last_link(dbs, "twice@factory.cn")
    assert first != second
    assert client.get(first).status_code == 404
    assert client.form(second, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == (
        302
    )


def test_forgot_password_is_rate_limited_per_address_and_per_ip(app, dbs):
    UserFactory(email="target@factory.cn")
    limit = int(app.config["FORGOT_PASSWORD_LIMIT"].split()[0])
    for address in ("target@factory.cn", "nobody2@factory.cn"):  # the same for both
        for n in range(limit):
            visitor = app.test_client()
            ip = {"REMOTE_ADDR": f"10.0.{len(address)}.{n}"}
            assert forgot(visitor, address, environ_base=ip).status_code == 302
        refused = forgot(app.test_client(), address, environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert refused.status_code == 429
    assert len(mails_to(dbs, "target@factory.cn")) == limit

    one_ip = app.test_client()
    ip = {"REMOTE_ADDR": "10.1.1.1"}
    assert forgot(one_ip, "not-an-address", environ_base=ip).status_code == 422  # not counted
    for n in range(limit):
        assert forgot(one_ip, f"a{n}@factory.cn", environ_base=ip).status_code == 302
    assert forgot(one_ip, "another@factory.cn", environ_base=ip).status_code == 429


def test_the_email_is_in_the_language_of_the_request(english, dbs):
    UserFactory(email="en@factory.cn")
    forgot(english, "en@factory.cn")
    [sent] = mails_to(dbs, "en@factory.cn")
    assert sent.subject == "Set a new password · Transformation Package Marketplace"
    assert "within 1 hour" in sent.text_body and "within 1 hour" in (sent.html_body or "")


# Confirming a new registration's address


def test_a_registration_confirms_its_address(app, client, dbs):
    response = client.form("/register/enterprise", enterprise_form())
    assert response.status_code == 302
    user = dbs.scalar(select(User).where(User.email == "chen.jing@xinyuan.cn"))
    assert user.email_confirmed_at is None
    page = client.text("/dashboard")  # the account works at once, with a notice
    assert "请确认您的邮箱" in page and "重新发送链接" in page
    # placing an order and applying for a voucher wait for the address
    refused = client.form("/programmes/999999/apply", {"note": ""})
    assert refused.status_code == 302 and refused.headers["Location"] == "/dashboard"
    assert "请先确认您的邮箱" in client.text("/dashboard")
    assert client.form("/my-bundles/999999/checkout").headers["Location"] == "/dashboard"

    [sent] = mails_to(dbs, "chen.jing@xinyuan.cn", "email_confirmation")
    path = link_in(sent)
    confirmation = dbs.scalar(select(EmailConfirmation).where(EmailConfirmation.user_id == user.id))
    assert confirmation.expires_at - confirmation.created_at >= timedelta(days=7) - timedelta(
        seconds=1
    )
    # another browser (the phone that opened the mail): a page with a button, then confirmed
    phone = app.test_client()
    assert "确认我的邮箱" in phone.text(path)
    assert phone.form(path).status_code == 302
    dbs.expire_all()
    assert dbs.get(User, user.id).email_confirmed_at is not None
    assert "请确认您的邮箱" not in client.text("/dashboard")
    assert client.form("/programmes/999999/apply", {"note": ""}).status_code == 404  # let through
    assert phone.get(path).status_code == 404  # used once
    assert "email.confirmed" in audit_actions(dbs, user.id)


def test_send_again_replaces_the_link_and_is_rate_limited(app, client, dbs):
    UserFactory(email="late@factory.cn", unconfirmed=True)
    client.login("late@factory.cn")
    assert client.form("/account/confirm-email", {"next": "/org"}).headers["Location"] == "/org"
    first = last_link(dbs, "late@factory.cn", "email_confirmation")
    client.form("/account/confirm-email")
    second = last_link(dbs, "late@factory.cn", "email_confirmation")
    assert first != second and client.get(first).status_code == 404
    limit = int(app.config["MAIL_AGAIN_LIMIT"].split()[0])
    for _ in range(limit - 2):
        assert client.form("/account/confirm-email").status_code == 302
    assert client.form("/account/confirm-email").status_code == 429
    assert client.form(last_link(dbs, "late@factory.cn")).status_code == 302


def test_a_confirmed_user_is_told_so_and_gets_no_mail(client, dbs):
    UserFactory(email="done@factory.cn")
    client.login("done@factory.cn")
    page = client.form("/account/confirm-email", follow_redirects=True).get_data(as_text=True)
    assert "您的邮箱已经确认" in page and mails_to(dbs, "done@factory.cn") == []


# Invitations


def test_an_invitation_is_sent_again_with_a_new_link(app, client, dbs):
    owner = UserFactory(email="owner9@factory.cn")
    client.login("owner9@factory.cn")
    client.form("/org/invitations", {"email": "new9@factory.cn", "role": "member"})
    first = last_link(dbs, "new9@factory.cn", "invitation")
    invitation = dbs.scalar(select(Invitation).where(Invitation.org_id == owner.org_id))
    assert "new9@factory.cn" in client.text("/org")
    page = client.form(f"/org/invitations/{invitation.id}/resend", follow_redirects=True)
    assert "邀请已重新发送至 new9@factory.cn" in page.get_data(as_text=True)
    second = last_link(dbs, "new9@factory.cn", "invitation")
    assert first != second and client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "invitation.resent"))
    # someone else's invitation is not found; one for an address with an account is refused
    stranger = app.test_client()
    UserFactory(email="stranger9@factory.cn", org=OrganisationFactory())
    stranger.login("stranger9@factory.cn")
    assert stranger.form(f"/org/invitations/{invitation.id}/resend").status_code == 404
    taken = client.form(
        "/org/invitations",
        {"email": "stranger9@factory.cn", "role": "member"},
        follow_redirects=True,
    )
    assert "该邮箱已有账户" in taken.get_data(as_text=True)
    assert mails_to(dbs, "stranger9@factory.cn") == []


def test_joining_with_another_address_asks_to_confirm_it(app, client, dbs):
    UserFactory(email="owner10@factory.cn")
    client.login("owner10@factory.cn")
    client.form("/org/invitations", {"email": "invited10@factory.cn", "role": "member"})
    path = last_link(dbs, "invited10@factory.cn")
    joined = app.test_client().form(
        path,
        {
            "owner_name": "周丽",
            "email": "zhou.li@elsewhere.cn",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert joined.status_code == 302
    user = dbs.scalar(select(User).where(User.email == "zhou.li@elsewhere.cn"))
    assert user.email_confirmed_at is None
    assert last_link(dbs, "zhou.li@elsewhere.cn", "email_confirmation").startswith("/confirm/")


def test_create_account_command_can_send_the_link(app, connection, dbs):
    result = app.test_cli_runner().invoke(
        args=[
            "create-account",
            "--kind",
            "agency",
            "--name",
            "石家庄市工业和信息化局",
            "--owner-name",
            "赵刚",
            "--email",
            "zhao@sjz.gov.cn",
            "--send-link",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "zhao@sjz.gov.cn" in result.output
    path = last_link(dbs, "zhao@sjz.gov.cn", "account_created")
    assert path.startswith("/reset/")
    [sent] = mails_to(dbs, "zhao@sjz.gov.cn")
    assert sent.text_body.count("http://127.0.0.1:5000/reset/") == 1  # PUBLIC_URL
