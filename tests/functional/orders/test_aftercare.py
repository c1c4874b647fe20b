"""Reviews by verified buyers, support tickets with the SLA clock, notifications."""

from datetime import timedelta

from sqlalchemy import func, select

from marketplace.catalog.models import Package, Review
from marketplace.db import utcnow
from marketplace.notifications import Notification
from marketplace.orders.models import LineStatus, OrderLine, Ticket
from tests.functional.orders.test_orders import line_of, place, shop  # noqa: F401  (fixture)


def complete(dbs, provider):
    line = line_of(dbs, provider)
    line.status = LineStatus.COMPLETED
    dbs.commit()
    return line


def test_reviews_only_after_acceptance_and_once(client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = line_of(dbs, shop["a"])
    page = client.form(
        f"/order-lines/{line.id}/review", {"rating": "5"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "验收后才能评价" in page
    complete(dbs, shop["a"])
    client.form(f"/order-lines/{line.id}/review", {"rating": "4", "comment": "上线很快。"})
    again = client.form(f"/order-lines/{line.id}/review", {"rating": "1"}, follow_redirects=True)
    assert "您已评价过" in again.get_data(as_text=True)
    bad = client.form(f"/order-lines/{line.id}/review", {"rating": "9"}, follow_redirects=True)
    assert "请打 1 到 5 分" in bad.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Review.id))) == 1
    dbs.expire_all()
    package = dbs.get(Package, shop["pa"].id)
    assert (package.rating_sum, package.rating_count, package.rating) == (4, 1, 4.0)
    public = client.text(f"/packages/{package.id}")
    assert "上线很快。" in public and "★ 4.0" in public


def test_only_the_buyer_reviews(client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = complete(dbs, shop["a"])
    client.form("/logout")
    client.login("a@ord.cn")  # the provider
    assert client.form(f"/order-lines/{line.id}/review", {"rating": "5"}).status_code == 403
    assert dbs.scalar(select(func.count(Review.id))) == 0


def test_rating_filter_and_sort(client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = complete(dbs, shop["a"])
    client.form(f"/order-lines/{line.id}/review", {"rating": "5"})
    other = complete(dbs, shop["b"])
    client.form(f"/order-lines/{other.id}/review", {"rating": "2"})
    page = client.text("/catalog?min_rating=4")
    assert shop["a"].name in page and shop["b"].name not in page
    ranked = client.text("/catalog?sort=rating")
    assert ranked.index(shop["a"].name) < ranked.index(shop["b"].name)


def test_ticket_sla_clock_and_breach(app, client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = complete(dbs, shop["a"])
    response = client.form(
        f"/order-lines/{line.id}/tickets", {"severity": "critical", "description": "产线停了。"}
    )
    assert response.status_code == 302
    ticket = dbs.scalar(select(Ticket))
    assert ticket.respond_by - ticket.opened_at == timedelta(hours=4)  # the package's SLA
    bad = client.form(
        f"/order-lines/{line.id}/tickets",
        {"severity": "apocalyptic", "description": "x"},
        follow_redirects=True,
    )
    assert "请从列表中选择严重程度" in bad.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Ticket.id))) == 1

    ticket.respond_by = utcnow() - timedelta(hours=1)  # the clock ran out
    dbs.commit()
    result = app.test_cli_runner().invoke(args=["sla-check"])
    assert "SLA breaches recorded: 1" in result.output
    client.form("/logout")
    client.login("a@ord.cn")
    assert "产线停了。" in client.text(f"/tickets/{ticket.id}")
    client.form(f"/tickets/{ticket.id}/reply", {"body": "工程师已出发。"})
    dbs.expire_all()
    answered = dbs.get(Ticket, ticket.id)
    assert answered.breached and answered.responded_at is not None
    client.form("/logout")
    client.login("e@ord.cn")
    assert "工程师已出发。" in client.text(f"/tickets/{ticket.id}")
    client.form(f"/tickets/{ticket.id}/close")
    dbs.expire_all()
    assert dbs.get(Ticket, ticket.id).closed_at is not None


def test_tickets_need_an_accepted_line_and_stay_private(client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = line_of(dbs, shop["a"])
    page = client.form(
        f"/order-lines/{line.id}/tickets",
        {"severity": "high", "description": "x"},
        follow_redirects=True,
    )
    assert "工单仅适用于已验收的交付" in page.get_data(as_text=True)
    complete(dbs, shop["a"])
    client.form(f"/order-lines/{line.id}/tickets", {"severity": "high", "description": "x"})
    ticket = dbs.scalar(select(Ticket))
    client.form("/logout")
    client.login("b@ord.cn")  # the other provider of the same order
    assert client.get(f"/tickets/{ticket.id}").status_code == 404
    assert client.form(f"/tickets/{ticket.id}/reply", {"body": "x"}).status_code == 404


def test_each_party_is_notified(client, dbs, shop):  # noqa: F811
    place(client, shop)
    notes = dbs.scalars(select(Notification).where(Notification.org_id == shop["a"].id)).all()
    assert [n.kind for n in notes] == ["order_placed"]
    client.form("/logout")
    client.login("a@ord.cn")
    page = client.text("/notifications")
    assert "新订单" in page and 'class="badge"' in client.text("/dashboard")
    line = dbs.scalar(select(OrderLine).where(OrderLine.provider_id == shop["a"].id))
    client.form(f"/order-lines/{line.id}/events/accept")
    enterprise_notes = dbs.scalars(
        select(Notification).where(Notification.org_id == shop["org"].id)
    ).all()
    assert [n.kind for n in enterprise_notes] == ["line_changed"]
    client.form("/notifications")
    assert 'class="badge"' not in client.text("/dashboard")
    client.form("/logout")
    client.login("e@ord.cn")
    assert "服务商已接单" in client.text("/notifications")


def test_a_ticket_closed_in_time_is_no_breach(app, client, dbs, shop):  # noqa: F811
    place(client, shop)
    line = complete(dbs, shop["a"])
    client.form(f"/order-lines/{line.id}/tickets", {"severity": "low", "description": "小问题"})
    ticket = dbs.scalar(select(Ticket))
    client.form(f"/tickets/{ticket.id}/close")
    dbs.expire_all()
    ticket = dbs.get(Ticket, ticket.id)
    ticket.respond_by = utcnow() - timedelta(minutes=1)  # the deadline passes after it was closed
    ticket.closed_at = ticket.respond_by - timedelta(hours=1)
    dbs.commit()
    assert "SLA breaches recorded: 0" in app.test_cli_runner().invoke(args=["sla-check"]).output
