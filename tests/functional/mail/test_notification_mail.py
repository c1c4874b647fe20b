"""Notifications by e-mail through a real SMTP server: each member who wants a kind gets it
in their language with an absolute link; a kind turned off stays in the app only, one with a
deadline comes anyway; the daily digest gathers the day's notifications once; the preferences
page; the platform admin's failed addresses and "send again"; nothing of a rolled-back event."""

from __future__ import annotations

from email.message import Message

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import notifications, tasks
from marketplace.accounts import notification_mail
from marketplace.accounts.models import MailDigest, MailPreference, User
from marketplace.audit import AuditEntry
from marketplace.db import utcnow
from marketplace.mail import MailStatus, OutgoingMail
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory

DEADLINE_KIND = "test_pay_by"


@pytest.fixture
def deadline_kind(monkeypatch):
    """A kind with a deadline, as a domain registers one (``register_kinds(..., deadline=)``)."""
    monkeypatch.setitem(
        notifications.TEXTS, DEADLINE_KIND, _l("Invoice %(number)s is due on %(by)s.")
    )
    monkeypatch.setattr(
        notifications, "DEADLINE_KINDS", {*notifications.DEADLINE_KINDS, DEADLINE_KIND}
    )
    return DEADLINE_KIND


@pytest.fixture
def org(dbs):
    org = OrganisationFactory()
    UserFactory(org=org, email="zhang@factory.cn", name="张工")  # Chinese, the default
    UserFactory(org=org, email="smith@factory.cn", name="Smith", locale="en", member=True)
    UserFactory(org=org, email="gone@factory.cn", active=False, member=True)
    UserFactory(email="other@elsewhere.cn")  # another organisation
    return org


def _by_address(smtp) -> dict[str, list[Message]]:
    found: dict[str, list[Message]] = {}
    for message in smtp.messages:
        found.setdefault(str(message["To"]), []).append(message)
    return found


def _subject(message: Message) -> str:
    # a subject that fits a line of its own is folded onto the next one, which the parser
    # keeps as a leading space (mail clients drop it)
    return str(message["Subject"]).strip()


def _text(message: Message) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _html(message: Message) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_an_events_mail_reaches_each_member_in_their_language(app, app_ctx, org, smtp):
    notifications.notify(org.id, "ticket_opened", "/tickets/7", title="MES", severity="critical")
    app_ctx.commit()  # the event's transaction
    assert tasks.run_now("mail_outbox").moved == 2
    inbox = _by_address(smtp)
    assert sorted(inbox) == ["smith@factory.cn", "zhang@factory.cn"]  # not the inactive one
    link = app.config["PUBLIC_URL"] + "/tickets/7"
    assert link.startswith("http")

    [english] = inbox["smith@factory.cn"]
    assert _subject(english) == (
        "New support ticket on MES (Critical: production stopped). "
        "[Transformation Package Marketplace]"
    )
    assert "New support ticket on MES (Critical: production stopped)." in _text(english)
    assert link in _text(english) and "Choose which e-mails you get" in _text(english)
    assert f'href="{link}"' in _html(english) and "Open it on the platform" in _html(english)

    [chinese] = inbox["zhang@factory.cn"]
    assert "MES 有新的支持工单（紧急：生产已停止）" in _subject(chinese)
    assert "转型包服务市场" in _subject(chinese)
    assert "紧急：生产已停止" in _text(chinese) and link in _text(chinese)
    assert f'href="{link}"' in _html(chinese) and "转型包服务市场" in _html(chinese)
    mails = app_ctx.scalars(select(OutgoingMail)).all()
    assert {m.kind for m in mails} == {"ticket_opened"} and all(m.user_id for m in mails)


def test_a_kind_turned_off_stays_in_the_app_but_a_deadline_kind_still_arrives(
    app, app_ctx, org, smtp, deadline_kind
):
    smith = app_ctx.scalar(select(User).where(User.email == "smith@factory.cn"))
    app_ctx.add(MailPreference(user_id=smith.id, kind="ticket_opened", by_email=False))
    app_ctx.add(MailPreference(user_id=smith.id, kind=deadline_kind, by_email=False))  # ignored
    app_ctx.commit()
    notifications.notify(org.id, "ticket_opened", "/tickets/8", title="ERP", severity="minor")
    notifications.notify(org.id, deadline_kind, "/invoices/3", number="INV-3", by="2026-12-20")
    app_ctx.commit()
    tasks.run_now("mail_outbox")
    inbox = _by_address(smtp)
    assert [_subject(m) for m in inbox["smith@factory.cn"]] == [
        "Invoice INV-3 is due on 2026-12-20. [Transformation Package Marketplace]"
    ]
    assert len(inbox["zhang@factory.cn"]) == 2
    # both are in the app all the same
    assert len(notifications.notifications_of(org.id)) == 2


def test_the_digest_gathers_the_days_notifications_once(app, app_ctx, org, smtp, deadline_kind):
    smith = app_ctx.scalar(select(User).where(User.email == "smith@factory.cn"))
    notifications.notify(org.id, "order_placed", "/orders/0", number="MO-0", title="before")
    notification_mail.save_mail_preferences(
        smith, set(notifications.TEXTS) - {"review_received"}, True, Actor(smith.id, org.id, "u")
    )
    app_ctx.commit()
    notifications.notify(org.id, "order_placed", "/orders/1", number="MO-1", title="MES")
    notifications.notify(org.id, "ticket_answered", "/tickets/2", title="ERP")
    notifications.notify(org.id, "review_received", "/reviews/1", title="MES", rating=5)  # off
    notifications.notify(org.id, deadline_kind, "/invoices/4", number="INV-4", by="2026-12-21")
    app_ctx.commit()
    tasks.run_now("mail_outbox")
    smtp.messages.clear()  # the ones sent at once (the deadline one to Smith too)

    assert tasks.run_now("mail_digest").moved == 1
    assert tasks.run_now("mail_digest").due == 0  # once a day, whatever runs it again
    assert notification_mail.send_digest(smith.id) == 0
    tasks.run_now("mail_outbox")
    [digest] = smtp.messages
    assert digest["To"] == "smith@factory.cn"
    assert _subject(digest) == (
        "Your daily digest: 2 notifications [Transformation Package Marketplace]"
    )
    text = _text(digest)
    assert "New order MO-1: MES." in text and "The provider answered your ticket on ERP." in text
    assert "MO-0" not in text and "INV-4" not in text and "rated" not in text
    assert app.config["PUBLIC_URL"] + "/orders/1" in text
    assert 'href="' + app.config["PUBLIC_URL"] + '/tickets/2"' in _html(digest)
    [marker] = app_ctx.scalars(select(MailDigest)).all()
    assert (marker.user_id, marker.count) == (smith.id, 2)


def test_the_digest_of_a_quiet_day_is_not_sent(app_ctx, org):
    smith = app_ctx.scalar(select(User).where(User.email == "smith@factory.cn"))
    smith.digest_from = utcnow()
    app_ctx.commit()
    outcome = tasks.run_now("mail_digest")
    assert (outcome.due, outcome.moved) == (1, 0)
    assert app_ctx.query(OutgoingMail).count() == 0


def test_the_preferences_page_saves_and_keeps_deadline_kinds(client, app, dbs, org, deadline_kind):
    client.set_cookie("lang", "en")
    client.login("smith@factory.cn")
    page = client.text("/account/notifications")
    assert "E-mail notifications" in page and "Orders and delivery" in page
    assert "A new support ticket" in page
    assert 'id="kind-test_pay_by" checked disabled' in page and "Has a deadline" in page
    assert "/account/notifications" in client.text("/notifications")

    kinds = [k for k in notifications.TEXTS if k != "ticket_opened"]
    response = client.form("/account/notifications", {"kinds": kinds, "digest": "y"})
    assert response.status_code == 302
    smith = dbs.scalar(select(User).where(User.email == "smith@factory.cn"))
    dbs.refresh(smith)
    assert smith.digest_from is not None
    rows = dbs.execute(
        select(MailPreference.kind, MailPreference.by_email).where(
            MailPreference.user_id == smith.id
        )
    )
    stored = {kind: by_email for kind, by_email in rows}
    assert stored["ticket_opened"] is False and stored["order_placed"] is True
    assert deadline_kind not in stored
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "mail_preferences.changed"))
    page = client.text("/account/notifications")
    assert 'value="ticket_opened">' in page and 'value="order_placed" checked>' in page

    # turning a deadline kind off (the page never sends that) is refused; nothing changes
    without = [k for k in kinds if k != deadline_kind]
    response = client.form("/account/notifications", {"kinds": without})
    assert response.status_code == 422
    assert "carries a deadline" in response.get_data(as_text=True)
    dbs.refresh(smith)
    assert smith.digest_from is not None
    response = client.form("/account/notifications", {"kinds": [*kinds, "no_such_kind"]})
    assert response.status_code == 422


def test_switching_language_when_signed_in_sets_the_language_of_ones_mail(client, dbs, org):
    client.login("zhang@factory.cn")
    client.form("/language", {"lang": "en", "next": "/"})
    zhang = dbs.scalar(select(User).where(User.email == "zhang@factory.cn"))
    dbs.refresh(zhang)
    assert zhang.locale == "en"


def test_the_admin_sees_a_failed_address_and_sends_it_again(client, app, dbs, smtp):
    UserFactory(email="admin@platform.cn", org=OrganisationFactory(platform=True))
    failed = OutgoingMail(
        to_address="nobody@nowhere.cn",
        kind="ticket_opened",
        subject="New support ticket",
        text_body="…",
        status=MailStatus.FAILED,
        attempts=5,
        last_error="SMTPRecipientsRefused: 550 no such user",
    )
    dbs.add(failed)
    dbs.commit()
    client.set_cookie("lang", "en")
    client.login("admin@platform.cn")
    page = client.text("/admin/mail")
    assert "nobody@nowhere.cn" in page and "550 no such user" in page
    assert "New support ticket" in page and "ticket_opened" in page

    response = client.form(f"/admin/mail/{failed.id}/retry")
    assert response.status_code == 302
    dbs.refresh(failed)
    assert (failed.status, failed.attempts) == (MailStatus.PENDING, 0)
    entry = dbs.scalar(select(AuditEntry).where(AuditEntry.action == "mail.resent"))
    assert entry is not None and entry.object_id == str(failed.id)
    assert "nobody@nowhere.cn" not in client.text("/admin/mail")
    again = client.form(f"/admin/mail/{failed.id}/retry", follow_redirects=True)
    assert "Only an e-mail that failed can be sent again." in again.get_data(as_text=True)
    with app.app_context():
        assert tasks.run_now("mail_outbox").moved == 1
    assert [m["To"] for m in smtp.messages] == ["nobody@nowhere.cn"]


def test_others_may_not_open_the_failed_mail_page(client, dbs, org):
    client.login("zhang@factory.cn")
    assert client.get("/admin/mail").status_code in (403, 404)


def test_the_mail_of_a_rolled_back_event_is_never_sent(app_ctx, org, smtp):
    with pytest.raises(RuntimeError), app_ctx.begin_nested():
        notifications.notify(org.id, "order_placed", "/orders/9", number="MO-9", title="x")
        assert app_ctx.query(OutgoingMail).count() == 2  # written with the event ...
        raise RuntimeError("the event failed")
    app_ctx.commit()
    assert app_ctx.query(OutgoingMail).count() == 0  # ... and gone with it
    assert tasks.run_now("mail_outbox").due == 0
    assert smtp.messages == []


def test_a_kind_registered_without_label_or_group_is_still_named(app, monkeypatch):
    monkeypatch.setattr(notifications, "TEXTS", dict(notifications.TEXTS))
    monkeypatch.setattr(notifications, "KIND_GROUPS", dict(notifications.KIND_GROUPS))
    notifications.register_kinds({"test_new_kind": _l("Invoice %(number)s is due on %(by)s.")})
    with app.test_request_context(), force_locale("en"):
        assert notifications.label("test_new_kind") == "Invoice … is due on …."
        groups = dict(notifications.grouped_kinds())
        assert "test_new_kind" in groups["Other"]
        assert "order_placed" in groups["Orders and delivery"]
