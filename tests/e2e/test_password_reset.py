"""Forgot password, end to end in Chromium, through a real SMTP server (aiosmtpd, started
here on a spare port; the app's MAIL_SERVER points at it): 忘记密码 on the login page, the
address, the e-mail read from the SMTP server, its link followed in the browser, a new
password, signed in; then out, and in again with the new password.

The queue's worker does not run in e2e: the test sends the outbox itself, with the job the
worker would run (``tasks.run_now("mail_outbox")``) in the server app's context.
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from marketplace import tasks
from marketplace.accounts import passwords
from marketplace.accounts.models import MemberRole, Organisation, User
from marketplace.db import db, utcnow

EMAIL = "reset.e2e@factory.cn"
OLD_PASSWORD = "the-old-forgotten-one"
NEW_PASSWORD = "a-new-and-better-one"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def _spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(live_app: Any, live_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = _spare_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(live_app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(live_app.config, "MAIL_PORT", port)
    monkeypatch.setitem(live_app.config, "PUBLIC_URL", live_server)  # links in the e-mails
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def forgetful_user(live_app: Any) -> str:
    """A user of its own (changing a demo user's password would upset other tests)."""
    with live_app.app_context():
        org = db.session.query(Organisation).filter_by(name="转型包服务平台运营中心").one()
        db.session.add(
            User(
                org=org,
                email=EMAIL,
                name="吴倩",
                password_hash=passwords.hash_password(OLD_PASSWORD),
                role=MemberRole.MEMBER,
                session_token=secrets.token_hex(16),
                email_confirmed_at=utcnow(),
            )
        )
        db.session.commit()
    return EMAIL


def send_outbox(live_app: Any) -> None:
    with live_app.app_context():
        tasks.run_now("mail_outbox")


def log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_a_forgotten_password_is_reset_by_email(
    page: Page, live_server: str, live_app: Any, smtp: Inbox, forgetful_user: str
):
    page.goto(live_server + "/login")
    page.get_by_role("link", name="忘记密码").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("忘记密码")
    page.get_by_label("您的邮箱（登录账号）").fill(forgetful_user)
    page.get_by_role("button", name="发送链接").click()
    expect(page).to_have_url(live_server + "/login")
    expect(page.locator(".flashes")).to_contain_text("我们已向其发送设置新密码的链接")

    send_outbox(live_app)
    [message] = smtp.to(forgetful_user)
    assert "设置新密码" in message["Subject"] and "转型包服务市场" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = re.search(re.escape(live_server) + r"/reset/[A-Za-z0-9_\-]+", text).group(0)
    assert link in html

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("设置新密码")
    page.get_by_label("新密码").fill(NEW_PASSWORD)
    page.get_by_label("再次输入密码").fill(NEW_PASSWORD)
    page.get_by_role("button", name="设置密码").click()
    expect(page).to_have_url(live_server + "/dashboard")
    expect(page.locator(".flashes")).to_contain_text("新密码已设置，您已登录")
    expect(page.locator(".user-name")).to_have_text("吴倩")

    page.goto(link)  # used once
    expect(page.get_by_role("heading", level=1)).to_contain_text("该链接已失效")

    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="退出登录").click()
    log_in(page, live_server, forgetful_user, OLD_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("邮箱或密码不正确")
    log_in(page, live_server, forgetful_user, NEW_PASSWORD)
    expect(page).to_have_url(live_server + "/dashboard")
