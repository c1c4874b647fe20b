"""The e-mail outbox through a real SMTP server (aiosmtpd, started here on a spare port):
a message is sent once even when its job runs again; a failing server leaves it queued with
the error and a later run sends it; without MAIL_SERVER it lands in the development outbox."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from marketplace import mail, tasks
from marketplace.mail import MailStatus, OutgoingMail


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Requested action aborted: try again later"
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


def _spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(app, monkeypatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = _spare_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    try:
        yield inbox
    finally:
        controller.stop()


def test_a_message_arrives_once_even_when_its_job_runs_again(app_ctx, smtp):
    queued = mail.queue(
        "zhang@factory.cn", "密码重置", "打开链接：https://example.cn/r/abc", kind="password_reset"
    )
    app_ctx.commit()  # the event's transaction
    assert tasks.run_now("mail_outbox").moved == 1
    assert mail.send_one(queued.id) is False  # delivered again: already sent
    assert tasks.run_now("mail_outbox").due == 0
    [received] = smtp.messages
    assert received["To"] == "zhang@factory.cn" and received["Subject"] == "密码重置"
    assert "https://example.cn/r/abc" in received.get_body(("plain",)).get_content()
    app_ctx.refresh(queued)
    assert (queued.status, queued.attempts) == (MailStatus.SENT, 1)


def test_a_failing_server_leaves_the_message_queued_then_it_is_sent(app_ctx, smtp):
    queued = mail.queue("li@factory.cn", "账单到期", "请于12月20日前付款", kind="invoice_due")
    app_ctx.commit()
    smtp.refuse = True
    outcome = tasks.run_now("mail_outbox")
    assert (outcome.moved, outcome.failed) == (0, 1)
    app_ctx.refresh(queued)
    assert queued.status is MailStatus.PENDING and "451" in (queued.last_error or "")
    smtp.refuse = False
    assert tasks.run_now("mail_outbox").moved == 1
    app_ctx.refresh(queued)
    assert (queued.status, queued.attempts) == (MailStatus.SENT, 2)
    assert len(smtp.messages) == 1


def test_after_the_last_attempt_the_address_is_shown_as_failed(app, app_ctx, smtp, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    queued = mail.queue("nobody@nowhere.cn", "提醒", "…", kind="reminder")
    app_ctx.commit()
    smtp.refuse = True
    tasks.run_now("mail_outbox")
    tasks.run_now("mail_outbox")
    app_ctx.refresh(queued)
    assert queued.status is MailStatus.FAILED
    assert [m.to_address for m in mail.failed()] == ["nobody@nowhere.cn"]
    assert tasks.run_now("mail_outbox").due == 0  # no longer tried


def test_without_a_server_mail_lands_in_the_development_outbox(
    app, app_ctx, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    monkeypatch.setitem(app.config, "INSTANCE_PATH", str(tmp_path))
    mail.queue("wang@factory.cn", "欢迎", "确认邮箱：https://example.cn/c/1", kind="confirm")
    app_ctx.commit()
    assert tasks.run_now("mail_outbox").moved == 1
    [saved] = list((tmp_path / "mail").glob("*.eml"))
    assert "wang@factory.cn" in saved.read_text(encoding="utf-8", errors="replace")
    assert "https://example.cn/c/1" in capsys.readouterr().out


def test_a_rolled_back_event_sends_nothing(app_ctx):
    with pytest.raises(RuntimeError), app_ctx.begin_nested():
        mail.queue("a@b.cn", "x", "y", kind="test")
        raise RuntimeError("the event failed")
    assert app_ctx.query(OutgoingMail).count() == 0
