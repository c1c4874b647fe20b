# ruff: noqa: F811  (the ``shop`` fixture is imported by name)
"""Support tickets as conversations: both sides write until the enterprise closes; it may
reopen within TICKET_REOPEN_DAYS; attachments checked by content and size and opened only by
the two parties; two SLA clocks (first answer, resolution) recorded once; each side told."""

import io
from datetime import timedelta

from sqlalchemy import func, select

from marketplace import notifications
from marketplace.audit import AuditEntry
from marketplace.db import LOCAL_ZONE, db, utcnow
from marketplace.notifications import Notification
from marketplace.orders import tickets
from marketplace.orders.models import (
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatus,
    TicketStatusChange,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.orders.test_aftercare import complete
from tests.functional.orders.test_orders import place, shop  # noqa: F401  (fixture)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def opened(client, dbs, shop, severity="high"):
    """The enterprise (e@ord.cn, signed in) has opened a ticket on provider a's line."""
    place(client, shop)
    line = complete(dbs, shop["a"])
    response = client.form(
        f"/order-lines/{line.id}/tickets", {"severity": severity, "description": "报表导出超时。"}
    )
    assert response.status_code == 302
    dbs.expire_all()
    return dbs.scalar(select(Ticket))


def as_user(client, email):
    client.form("/logout")
    client.login(email)


def notes(dbs, org, kind=None):
    stmt = select(Notification).where(Notification.org_id == org.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return dbs.scalars(stmt.order_by(Notification.id)).all()


def fresh(dbs, ticket):
    dbs.expire_all()
    return dbs.get(Ticket, ticket.id)


def day(moment):
    return moment.astimezone(LOCAL_ZONE).date().isoformat()


def count(dbs, model):
    return dbs.scalar(select(func.count(model.id)))


def test_a_conversation_back_and_forth(app, client, dbs, shop):
    t = opened(client, dbs, shop)
    assert t.status is TicketStatus.OPEN
    assert "等待答复" in client.text(f"/tickets/{t.id}")
    assert [m.body for m in t.messages] == ["报表导出超时。"]  # the question is the first message
    raised = notes(dbs, shop["a"], "ticket_raised")
    assert len(raised) == 1 and raised[0].params["by"] == day(t.respond_by)
    assert raised[0].link == f"/tickets/{t.id}" and raised[0].params["ticket"] == t.id
    assert t.resolve_by - t.opened_at == timedelta(hours=72)  # high severity's default

    as_user(client, "a@ord.cn")
    assert client.form(f"/tickets/{t.id}/reply", {"body": "请提供日志。"}).status_code == 302
    t = fresh(dbs, t)
    assert t.status is TicketStatus.ANSWERED and t.responded_at is not None
    assert [n.kind for n in notes(dbs, shop["org"])][-1] == "ticket_provider_replied"

    as_user(client, "e@ord.cn")
    sent = client.form(
        f"/tickets/{t.id}/reply",
        {"body": "日志见附件。", "attachment": (io.BytesIO(b"ERROR timeout\n"), "log.txt")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    t = fresh(dbs, t)
    assert t.status is TicketStatus.WAITING
    replied = notes(dbs, shop["a"], "ticket_enterprise_replied")
    assert len(replied) == 1 and replied[0].params["by"] == day(t.resolve_by)

    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/resolve", {"body": "已修复超时设置。"})
    t = fresh(dbs, t)
    assert t.status is TicketStatus.RESOLVED and t.resolved_at is not None
    assert [n.kind for n in notes(dbs, shop["org"])][-1] == "ticket_resolved"
    # the provider cannot close for the enterprise
    assert client.form(f"/tickets/{t.id}/close").status_code == 403

    as_user(client, "e@ord.cn")
    page = client.text(f"/tickets/{t.id}")
    order = ["报表导出超时。", "请提供日志。", "日志见附件。", "已修复超时设置。"]
    positions = [page.index(text) for text in order]
    assert positions == sorted(positions)  # the thread in order
    assert shop["a"].name in page and shop["org"].name in page and "log.txt" in page
    assert "服务商表示问题已解决" in page and "已达成" in page  # both clocks met
    client.form(f"/tickets/{t.id}/close")
    t = fresh(dbs, t)
    assert t.status is TicketStatus.CLOSED and t.closed_at is not None
    assert [n.kind for n in notes(dbs, shop["a"])][-1] == "ticket_closed"
    assert not t.breached and not t.resolution_breached
    history = [(h.from_status, h.to_status, h.event) for h in t.history]
    assert history == [
        (None, TicketStatus.OPEN, "open"),
        (TicketStatus.OPEN, TicketStatus.ANSWERED, "answer"),
        (TicketStatus.ANSWERED, TicketStatus.WAITING, "reply"),
        (TicketStatus.WAITING, TicketStatus.RESOLVED, "resolve"),
        (TicketStatus.RESOLVED, TicketStatus.CLOSED, "close"),
    ]
    authors = [(m.author_org_id, m.author.email) for m in t.messages]
    assert authors == [
        (shop["org"].id, "e@ord.cn"),
        (shop["a"].id, "a@ord.cn"),
        (shop["org"].id, "e@ord.cn"),
        (shop["a"].id, "a@ord.cn"),
    ]


def test_an_unsolved_resolution_sends_it_back_and_the_clock_skips_the_pause(
    client,
    dbs,
    shop,
):
    t = opened(client, dbs, shop)
    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/resolve", {"body": "应该好了。"})
    t = fresh(dbs, t)
    assert t.responded_at is not None  # a resolution is a first answer too
    t.resolved_at -= timedelta(hours=5)  # it stood resolved for five hours
    before = t.resolve_by
    dbs.commit()
    as_user(client, "e@ord.cn")
    client.form(f"/tickets/{t.id}/reply", {"body": "还是超时。"})
    t = fresh(dbs, t)
    assert t.status is TicketStatus.WAITING and t.resolved_at is None
    assert timedelta(hours=5) <= t.resolve_by - before < timedelta(hours=5, minutes=1)


def test_reopen_within_the_window_and_refused_after(client, dbs, shop):
    t = opened(client, dbs, shop)
    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/reply", {"body": "已处理。"})
    as_user(client, "e@ord.cn")
    client.form(f"/tickets/{t.id}/close")
    t = fresh(dbs, t)
    t.closed_at = t.resolved_at = utcnow() - timedelta(days=2)
    before = t.resolve_by
    dbs.commit()
    page = client.text(f"/tickets/{t.id}")
    assert "重新打开工单" in page
    assert client.form(f"/tickets/{t.id}/reopen", {"body": "又出现了。"}).status_code == 302
    t = fresh(dbs, t)
    assert t.status is TicketStatus.WAITING and t.closed_at is None and t.resolved_at is None
    assert [m.body for m in t.messages] == ["报表导出超时。", "已处理。", "又出现了。"]
    assert timedelta(days=2) <= t.resolve_by - before < timedelta(days=2, minutes=1)
    reopened = notes(dbs, shop["a"], "ticket_reopened")
    assert len(reopened) == 1 and reopened[0].params["by"] == day(t.resolve_by)

    client.form(f"/tickets/{t.id}/close")
    t = fresh(dbs, t)
    t.closed_at = utcnow() - timedelta(days=14, minutes=1)
    dbs.commit()
    assert "重新打开工单" not in client.text(f"/tickets/{t.id}")
    refused = client.form(f"/tickets/{t.id}/reopen", {"body": "还是不行。"})
    assert refused.status_code == 422
    assert "工单关闭后 14 天内可以重新打开" in refused.get_data(as_text=True)
    t = fresh(dbs, t)
    assert t.status is TicketStatus.CLOSED and len(t.messages) == 3
    # the provider neither reopens nor writes on a closed ticket
    as_user(client, "a@ord.cn")
    t.closed_at = utcnow()
    dbs.commit()
    assert "只有购买方可以重新打开工单" in client.form(
        f"/tickets/{t.id}/reopen", {"body": "x"}
    ).get_data(as_text=True)
    assert "该工单已关闭" in client.form(f"/tickets/{t.id}/reply", {"body": "x"}).get_data(
        as_text=True
    )
    assert len(fresh(dbs, t).messages) == 3


def test_attachments_checked_by_content_and_size_and_only_for_the_parties(
    app,
    client,
    dbs,
    shop,
    monkeypatch,
):
    t = opened(client, dbs, shop)
    url = f"/tickets/{t.id}/reply"
    refusals = [
        ("setup.exe", b"MZ\x90\x00", "请附上 PDF、图片（PNG、JPG）、表格（XLSX、CSV）或文本文件"),
        ("截图.png", b"%PDF-1.7", "文件内容与扩展名不符"),  # a PDF named .png
        ("report.pdf", b"<html>", "文件内容与扩展名不符"),
        ("data.csv", b"a,b\x00\x01", "文件内容与扩展名不符"),  # binary named .csv
        ("empty.txt", b"", "文件为空"),
    ]
    for name, data, message in refusals:
        refused = client.form(
            url,
            {"body": "见附件", "attachment": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422, name
        assert message in refused.get_data(as_text=True), name
    monkeypatch.setitem(app.config, "TICKET_ATTACHMENT_MAX_BYTES", 1000)
    too_big = client.form(
        url,
        {"body": "见附件", "attachment": (io.BytesIO(b"x" * 2000), "big.txt")},
        content_type="multipart/form-data",
    )
    assert too_big.status_code == 422 and "文件超过" in too_big.get_data(as_text=True)
    assert count(dbs, TicketMessage) == 1 and count(dbs, TicketAttachment) == 0  # nothing stored
    monkeypatch.undo()

    ok = client.form(
        url,
        {"body": "截图", "attachment": (io.BytesIO(PNG), "../../etc/截图.PNG")},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 302
    a = dbs.scalar(select(TicketAttachment))
    assert (a.name, a.content_type, a.size) == ("截图.PNG", "image/png", len(PNG))
    link = f"/tickets/{t.id}/attachments/{a.id}"
    got = client.get(link)
    assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert "attachment" in got.headers["Content-Disposition"]
    assert got.headers["Cache-Control"] == "private, no-store"
    as_user(client, "a@ord.cn")  # the provider of the ticket
    assert client.get(link).status_code == 200
    as_user(client, "b@ord.cn")  # another provider of the same order
    assert client.get(link).status_code == 404
    other = OrganisationFactory()
    UserFactory(org=other, email="nosy@ord.cn")  # another enterprise
    as_user(client, "nosy@ord.cn")
    assert client.get(link).status_code == 404
    assert client.get(f"/tickets/{t.id}").status_code == 404
    as_user(client, "o@ord.cn")  # the agency official: not a party
    assert client.get(link).status_code in (403, 404)
    client.form("/logout")
    assert client.get(link).status_code == 302  # to the login page


def test_an_attachment_is_found_only_under_its_own_ticket(client, dbs, shop):
    t = opened(client, dbs, shop)
    client.form(
        f"/tickets/{t.id}/reply",
        {"body": "表格", "attachment": (io.BytesIO(b"a,b\n1,2\n"), "数据.csv")},
        content_type="multipart/form-data",
    )
    a = dbs.scalar(select(TicketAttachment))
    line = dbs.get(Ticket, t.id).line
    client.form(f"/order-lines/{line.id}/tickets", {"severity": "low", "description": "另一个"})
    second = dbs.scalar(select(Ticket).where(Ticket.id != t.id))
    assert client.get(f"/tickets/{second.id}/attachments/{a.id}").status_code == 404
    assert client.get(f"/tickets/{t.id}/attachments/{a.id}").status_code == 200


def test_both_clocks_are_recorded_once_by_the_job(app, client, dbs, shop):
    t = opened(client, dbs, shop)
    t.opened_at = utcnow() - timedelta(days=3)
    t.respond_by = utcnow() - timedelta(hours=2)
    t.resolve_by = utcnow() - timedelta(hours=1)
    dbs.commit()
    runner = app.test_cli_runner()
    assert "SLA breaches recorded: 1" in runner.invoke(args=["sla-check"]).output
    t = fresh(dbs, t)
    assert t.breached and t.resolution_breached
    for org in (shop["a"], shop["org"]):
        missed = notes(dbs, org, "ticket_sla_missed")
        assert sorted(n.params["clock"] for n in missed) == ["first_response", "resolution"]
    assert "SLA breaches recorded: 0" in runner.invoke(args=["sla-check"]).output
    assert len(notes(dbs, shop["a"], "ticket_sla_missed")) == 2  # told once per clock
    assert (
        dbs.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "ticket.sla_missed")
        )
        == 2
    )
    page = client.text(f"/tickets/{t.id}")
    assert page.count("未达成") == 2


def test_a_late_first_answer_and_a_late_resolution_are_recorded_by_the_actions(
    app,
    client,
    dbs,
    shop,
):
    t = opened(client, dbs, shop)
    t.opened_at = utcnow() - timedelta(days=3)
    t.respond_by = utcnow() - timedelta(minutes=5)
    dbs.commit()
    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/reply", {"body": "抱歉来晚了。"})
    t = fresh(dbs, t)
    assert t.breached and not t.resolution_breached
    assert len(notes(dbs, shop["org"], "ticket_sla_missed")) == 1
    t.resolve_by = utcnow() - timedelta(minutes=1)
    dbs.commit()
    client.form(f"/tickets/{t.id}/resolve", {"body": "已解决。"})
    t = fresh(dbs, t)
    assert t.resolution_breached
    assert len(notes(dbs, shop["org"], "ticket_sla_missed")) == 2
    # nothing left for the job; a resolution in time is not missed later
    assert "SLA breaches recorded: 0" in app.test_cli_runner().invoke(args=["sla-check"]).output


def test_a_resolved_ticket_is_not_missed_while_it_awaits_the_enterprise(app, client, dbs, shop):
    t = opened(client, dbs, shop)
    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/resolve", {"body": "已解决。"})
    t = fresh(dbs, t)
    t.resolve_by = t.resolved_at + timedelta(minutes=1)  # resolved in time; the deadline passed
    t.opened_at = t.resolved_at - timedelta(hours=1)
    dbs.commit()
    assert "SLA breaches recorded: 0" in app.test_cli_runner().invoke(args=["sla-check"]).output


def test_hostile_input_gets_a_clear_error_and_stores_nothing(client, dbs, shop):
    t = opened(client, dbs, shop)
    url = f"/tickets/{t.id}/reply"
    for body, message in [
        ("", "此项为必填项"),
        ("   \n ", "此项为必填项"),
        ("长" * (tickets.MAX_BODY + 1), f"不能超过 {tickets.MAX_BODY} 个字符"),
    ]:
        response = client.form(url, {"body": body})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert count(dbs, TicketMessage) == 1
    assert fresh(dbs, t).status is TicketStatus.OPEN
    with_nul = client.form(url, {"body": "a\x00b"})
    assert with_nul.status_code == 400
    # a closed ticket takes no reply, from either side
    client.form(f"/tickets/{t.id}/close")
    closed = client.form(url, {"body": "还有一件事"})
    assert closed.status_code == 422
    assert "该工单已关闭。重新打开后才能继续留言" in closed.get_data(as_text=True)
    assert count(dbs, TicketMessage) == 1
    assert count(dbs, TicketStatusChange) == 2  # opened, closed
    # the enterprise cannot resolve; closing twice is refused
    assert client.form(f"/tickets/{t.id}/resolve", {"body": "x"}).status_code == 422
    again = client.form(f"/tickets/{t.id}/close", follow_redirects=True)
    assert "当前状态下无法执行此操作" in again.get_data(as_text=True)


def waiting_for(app, dbs, provider):
    """``tickets.tickets_waiting_for`` through the test's session (no context held meanwhile)."""
    dbs.expire_all()
    with app.app_context():
        db.session.registry.set(dbs)
        try:
            return [(t.id, t.respond_by) for t in tickets.tickets_waiting_for(provider)]
        finally:
            db.session.registry.clear()


def test_waiting_tickets_for_the_providers_to_do_list(app, client, dbs, shop):
    t = opened(client, dbs, shop)
    line = dbs.get(Ticket, t.id).line
    client.form(f"/order-lines/{line.id}/tickets", {"severity": "critical", "description": "停机"})
    second = dbs.scalar(select(Ticket).where(Ticket.id != t.id))
    second.respond_by = t.respond_by - timedelta(hours=1)  # more urgent
    dbs.commit()
    assert [i for i, _ in waiting_for(app, dbs, shop["a"])] == [second.id, t.id]
    as_user(client, "a@ord.cn")
    client.form(f"/tickets/{t.id}/reply", {"body": "处理中"})  # answered: the enterprise's turn
    assert waiting_for(app, dbs, shop["a"]) == [(second.id, second.respond_by)]
    as_user(client, "e@ord.cn")
    client.form(f"/tickets/{t.id}/reply", {"body": "还没好"})  # the provider's turn again
    assert [i for i, _ in waiting_for(app, dbs, shop["a"])] == [second.id, t.id]
    assert waiting_for(app, dbs, shop["b"]) == []


def test_notification_texts_name_the_ticket_and_the_deadline(app):
    from flask_babel import force_locale

    raised = Notification(
        kind="ticket_raised",
        params={"ticket": 7, "title": "MES", "severity": "critical", "by": "2026-12-06"},
    )
    missed = Notification(
        kind="ticket_sla_missed",
        params={"ticket": 7, "title": "MES", "clock": "resolution", "due": "2026-12-06"},
    )
    with app.test_request_context(), force_locale("en"):
        assert notifications.text(raised) == (
            "New support ticket #7 on MES (Critical: production stopped): send a first answer"
            " by 2026-12-06."
        )
        assert notifications.text(missed).startswith(
            "Ticket #7 (MES) missed its resolution deadline of 2026-12-06"
        )
    with app.test_request_context(), force_locale("zh"):
        assert "2026-12-06 前首次答复" in notifications.text(raised)
    assert {"ticket_raised", "ticket_enterprise_replied", "ticket_reopened"} <= (
        notifications.DEADLINE_KINDS
    )
