"""The needs board: an enterprise posts a need, admitted providers quote, the enterprise
compares the quotes and turns the chosen ones into a bundle; the deadline expires a need."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace import tasks
from marketplace.accounts.models import User
from marketplace.audit import AuditEntry
from marketplace.catalog import services as catalog
from marketplace.db import local_today
from marketplace.notifications import Notification
from marketplace.orders import needs
from marketplace.orders.models import (
    Bundle,
    Need,
    NeedStatus,
    NeedStatusChange,
    Quote,
    QuoteStatus,
)
from marketplace.pool.models import PoolStatus
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    FIELDS,
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

ONE_TIME = catalog.PlanFields(kind="one_time", name="买断", amount_fen=30_000_00)
MONTHLY = catalog.PlanFields(kind="subscription", name="订阅", monthly_fen=1_000_00, term_months=12)
CATEGORY = "equipment_networking"


@pytest.fixture
def market(app, dbs):
    agency, _ = agency_with_official("o@need.cn")
    p1, o1 = provider_with_owner("p1@need.cn")
    p2, o2 = provider_with_owner("p2@need.cn")
    outsider, o3 = provider_with_owner("p3@need.cn")  # published, then suspended
    elsewhere, o4 = provider_with_owner("p4@need.cn")  # admitted, other category
    membership(dbs, p1, agency)
    membership(dbs, p2, agency)
    suspended = membership(dbs, outsider, agency)
    membership(dbs, elsewhere, agency)
    gateway = published_package(
        app, dbs, p1, o1, plans=[ONE_TIME, MONTHLY], title="联网网关", category_code=CATEGORY
    )
    board = published_package(
        app,
        dbs,
        p1,
        o1,
        plans=[MONTHLY],
        title="生产看板",
        category_code="production_visualisation",
    )
    rival = published_package(
        app, dbs, p2, o2, plans=[ONE_TIME], title="另一个网关", category_code=CATEGORY
    )
    published_package(app, dbs, outsider, o3, plans=[ONE_TIME], category_code=CATEGORY)
    suspended.status = PoolStatus.SUSPENDED
    dbs.commit()
    published_package(
        app,
        dbs,
        elsewhere,
        o4,
        plans=[ONE_TIME],
        title="能耗管理",
        category_code="energy_management",
    )
    ent = OrganisationFactory(name="石家庄精工机械有限公司")
    UserFactory(org=ent, email="e@need.cn")
    other = OrganisationFactory()
    UserFactory(org=other, email="x@need.cn")
    return {
        "p1": p1,
        "p2": p2,
        "outsider": outsider,
        "elsewhere": elsewhere,
        "gateway": gateway,
        "board": board,
        "rival": rival,
        "ent": ent,
        "other": other,
    }


def deadline(days=10):
    return (local_today() + timedelta(days=days)).isoformat()


def post(client, **changes):
    data = {
        "category_code": CATEGORY,
        "description": "两条冲压线 12 台设备联网，数据进看板，要求兼容三菱 PLC。",
        "budget": "50000",
        "deadline": deadline(),
        "site": "石家庄市藁城区工业园",
        **changes,
    }
    return client.form("/needs", data)


def count(dbs, model):
    dbs.expire_all()
    return dbs.scalar(select(func.count()).select_from(model))


def posted_need(client, dbs):
    client.login("e@need.cn")
    assert post(client).status_code == 302
    need = dbs.scalar(select(Need).order_by(Need.id.desc()))
    client.get("/logout")
    return need


def plans_of(package):
    return [p.id for p in package.published_version.plans]


def quote(client, need, plan_ids, price="28000", days="20", message="含现场调试与培训"):
    return client.form(
        f"/needs/board/{need.id}",
        {
            "plan_ids": [str(p) for p in plan_ids],
            "price": price,
            "delivery_days": days,
            "message": message,
        },
    )


def test_posting_a_need_tells_the_providers_in_its_category(client, dbs, market):
    client.login("e@need.cn")
    response = post(client)
    assert response.status_code == 302
    need = dbs.scalar(select(Need))
    assert need.budget_fen == 50_000_00
    assert need.status is NeedStatus.OPEN
    assert need.site == "石家庄市藁城区工业园"
    assert [h.event.value for h in need.history] == ["post"]
    told = set(
        dbs.scalars(select(Notification.org_id).where(Notification.kind == "need_posted")).all()
    )
    assert told == {market["p1"].id, market["p2"].id}  # not the outsider, not another category
    assert dbs.scalar(select(AuditEntry).where(AuditEntry.action == "need.posted")) is not None
    page = client.text(f"/needs/{need.id}")
    assert "暂无报价" in page
    assert "¥50,000.00" in client.text("/needs")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"budget": "0"}, "预算"),
        ({"budget": "-5"}, "预算"),
        ({"budget": "五万"}, "元"),
        ({"deadline": (local_today() - timedelta(days=1)).isoformat()}, "截止"),
        ({"deadline": local_today().isoformat()}, "截止"),
        ({"description": "   "}, "必填"),
        ({"category_code": "nonsense"}, "类别"),
    ],
)
def test_bad_needs_are_refused_with_nothing_stored(client, dbs, market, changes, message):
    client.login("e@need.cn")
    response = post(client, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count(dbs, Need) == 0
    assert count(dbs, Notification) == 0


def test_the_board_shows_open_needs_of_the_providers_categories_without_the_name(
    client, dbs, market
):
    need = posted_need(client, dbs)
    client.login("p1@need.cn")
    page = client.text("/needs/board")
    assert f"#{need.id}" in page
    assert "¥50,000.00" in page
    assert "石家庄精工机械有限公司" not in page
    assert "小型" in page  # the size tier, not the name
    page = client.text(f"/needs/board/{need.id}")
    assert "石家庄精工机械有限公司" not in page
    assert "联网网关" in page
    client.get("/logout")

    client.login("p4@need.cn")  # admitted, but nothing in this category
    assert f"#{need.id}" not in client.text("/needs/board")
    assert client.get(f"/needs/board/{need.id}").status_code == 404
    client.get("/logout")

    client.login("p3@need.cn")  # not admitted to any pool
    response = client.get("/needs/board")
    assert response.status_code == 403
    assert "资源池" in response.get_data(as_text=True)


def test_quote_then_compare_then_bundle(client, dbs, market):
    need = posted_need(client, dbs)
    gateway_one_time = plans_of(market["gateway"])[0]
    board_monthly = plans_of(market["board"])[0]
    client.login("p1@need.cn")
    response = quote(client, need, [gateway_one_time, board_monthly], price="38000")
    assert response.status_code == 302, response.get_data(as_text=True)
    client.get("/logout")
    client.login("p2@need.cn")
    assert (
        quote(client, need, plans_of(market["rival"]), price="26000", days="15").status_code == 302
    )
    client.get("/logout")

    q1, q2 = dbs.scalars(select(Quote).order_by(Quote.id)).all()
    assert q1.list_price_fen == 30_000_00 + 12_000_00
    assert q1.price_fen == 38_000_00
    told = dbs.scalars(
        select(Notification).where(
            Notification.org_id == market["ent"].id, Notification.kind == "quote_received"
        )
    ).all()
    assert len(told) == 2

    client.login("e@need.cn")
    page = client.text(f"/needs/{need.id}")
    assert "¥38,000.00" in page and "¥26,000.00" in page and "¥42,000.00" in page
    assert "15 天" in page and "20 天" in page
    assert "联网网关" in page and "生产看板" in page and "另一个网关" in page
    assert "已验证业绩" in page or "业绩" in page

    response = client.form(f"/needs/{need.id}/accept", {"quote_ids": [str(q1.id)]})
    assert response.status_code == 302
    dbs.expire_all()
    need = dbs.get(Need, need.id)
    assert need.status is NeedStatus.AWARDED
    bundle = dbs.get(Bundle, need.bundle_id)
    assert bundle.enterprise_id == market["ent"].id
    assert [(i.package_id, i.plan_id) for i in bundle.items] == [
        (market["gateway"].id, gateway_one_time),
        (market["board"].id, board_monthly),
    ]
    assert response.headers["Location"].endswith(f"/my-bundles/{bundle.id}")
    assert dbs.get(Quote, q1.id).status is QuoteStatus.ACCEPTED
    assert dbs.get(Quote, q2.id).status is QuoteStatus.DECLINED
    kinds = dict(
        dbs.execute(
            select(Notification.org_id, Notification.kind).where(
                Notification.kind.in_(("quote_accepted", "quote_declined"))
            )
        ).all()
    )
    assert kinds == {market["p1"].id: "quote_accepted", market["p2"].id: "quote_declined"}
    # the bundle page works as for any bundle: the interoperability check and checkout follow
    assert client.get(f"/my-bundles/{bundle.id}").status_code == 200
    client.get("/logout")

    client.login("p1@need.cn")
    assert "石家庄精工机械有限公司" in client.text(f"/needs/board/{need.id}")
    client.get("/logout")
    client.login("p2@need.cn")
    assert "石家庄精工机械有限公司" not in client.text(f"/needs/board/{need.id}")


def test_bad_quotes_are_refused_with_nothing_stored(app, client, dbs, market):
    need = posted_need(client, dbs)
    own = plans_of(market["gateway"])[0]
    owner = dbs.scalar(select(User).where(User.email == "p1@need.cn"))
    with services(app, dbs):  # a package of its own, not published
        draft = catalog.create_package(market["p1"], FIELDS, Actor(owner.id, market["p1"].id, None))
        catalog.add_plan(draft, ONE_TIME, Actor(owner.id, market["p1"].id, None))
    draft_plan = draft.versions[0].plans[0].id
    client.login("p1@need.cn")
    cases = [
        ([plans_of(market["rival"])[0]], "28000", "自己"),  # another provider's package
        ([draft_plan], "28000", "已上架"),  # its own, but not in the catalogue
        ([], "28000", "至少"),
        ([own], "30000.01", "目录价"),  # above the list price
        ([own], "0", "0"),
        ([own, plans_of(market["gateway"])[1]], "28000", "每个转型包"),  # two plans, one package
    ]
    for plan_ids, price, message in cases:
        response = quote(client, need, plan_ids, price=price)
        assert response.status_code == 422, (plan_ids, price)
        assert message in response.get_data(as_text=True), (plan_ids, price)
    assert quote(client, need, [own], days="0").status_code == 422
    assert count(dbs, Quote) == 0

    assert quote(client, need, [own]).status_code == 302
    response = quote(client, need, [own], price="25000")  # a second live quote
    assert response.status_code == 422
    assert "您已经对该需求报过价" in response.get_data(as_text=True)
    assert count(dbs, Quote) == 1
    with pytest.raises(IntegrityError), dbs.begin_nested():  # the UNIQUE index holds it too
        dbs.add(
            Quote(
                need_id=need.id,
                provider_id=market["p1"].id,
                status=QuoteStatus.LIVE,
                price_fen=1,
                list_price_fen=1,
                delivery_days=1,
            )
        )
        dbs.flush()
    client.get("/logout")

    client.login("p3@need.cn")  # not admitted
    assert quote(client, need, []).status_code == 403
    assert count(dbs, Quote) == 1


def test_second_live_quote_is_refused_by_the_service(app, dbs, market):
    need = None
    with services(app, dbs):
        need = needs.post(
            market["ent"],
            needs.NeedFields(CATEGORY, "设备联网", 10_000_00, local_today() + timedelta(days=3)),
            Actor(None, market["ent"].id, None),
        )
        fields = needs.QuoteFields(plans_of(market["gateway"])[:1], 9_000_00, 10)
        needs.send_quote(market["p1"], need.id, fields, Actor(None, market["p1"].id, None))
    with services(app, dbs):  # noqa: SIM117 (the refusal inside, so services() commits)
        with pytest.raises(needs.DomainError, match="已经"):
            needs.send_quote(market["p1"], need.id, fields, Actor(None, market["p1"].id, None))
    assert count(dbs, Quote) == 1


def test_withdraw_and_quote_again_and_close(client, dbs, market):
    need = posted_need(client, dbs)
    own = plans_of(market["gateway"])[0]
    client.login("p1@need.cn")
    quote(client, need, [own])
    q = dbs.scalar(select(Quote))
    assert client.form(f"/needs/quotes/{q.id}/withdraw").status_code == 302
    dbs.expire_all()
    assert dbs.get(Quote, q.id).status is QuoteStatus.WITHDRAWN
    assert quote(client, need, [own], price="27000").status_code == 302
    assert count(dbs, Quote) == 2
    client.get("/logout")

    client.login("p2@need.cn")  # another provider's quote is not found
    assert client.form(f"/needs/quotes/{q.id}/withdraw").status_code == 404
    client.get("/logout")

    client.login("x@need.cn")  # another enterprise cannot see, accept or close the need
    assert client.get(f"/needs/{need.id}").status_code == 404
    live = dbs.scalar(select(Quote).where(Quote.status == QuoteStatus.LIVE))
    assert client.form(f"/needs/{need.id}/accept", {"quote_ids": [str(live.id)]}).status_code == 404
    assert client.form(f"/needs/{need.id}/close").status_code == 404
    client.get("/logout")

    client.login("e@need.cn")
    assert client.form(f"/needs/{need.id}/close").status_code == 302
    dbs.expire_all()
    assert dbs.get(Need, need.id).status is NeedStatus.CLOSED
    assert dbs.get(Quote, live.id).status is QuoteStatus.DECLINED
    page = client.form(
        f"/needs/{need.id}/accept", {"quote_ids": [str(live.id)]}, follow_redirects=True
    ).get_data(as_text=True)
    assert "不再开放" in page
    assert count(dbs, Bundle) == 0
    client.get("/logout")

    client.login("p1@need.cn")  # a quote on a closed need
    response = quote(client, need, [own])
    assert response.status_code == 422
    assert "该需求已不再接受报价" in response.get_data(as_text=True)
    assert count(dbs, Quote) == 2


def test_accepting_a_quote_not_of_this_need_is_refused(client, dbs, market):
    first = posted_need(client, dbs)
    second = posted_need(client, dbs)
    client.login("p1@need.cn")
    quote(client, second, plans_of(market["gateway"])[:1])
    client.get("/logout")
    q = dbs.scalar(select(Quote))
    client.login("e@need.cn")
    page = client.form(
        f"/needs/{first.id}/accept", {"quote_ids": [str(q.id)]}, follow_redirects=True
    ).get_data(as_text=True)
    assert "请在等待您决定的报价中选择" in page
    dbs.expire_all()
    assert dbs.get(Need, first.id).status is NeedStatus.OPEN
    assert dbs.get(Quote, q.id).status is QuoteStatus.LIVE
    assert count(dbs, Bundle) == 0


def test_the_job_expires_needs_past_their_deadline(app, client, dbs, market):
    need = posted_need(client, dbs)
    client.login("p1@need.cn")
    quote(client, need, plans_of(market["gateway"])[:1])
    client.get("/logout")
    dbs.expire_all()
    dbs.get(Need, need.id).deadline = local_today() - timedelta(days=1)
    dbs.commit()
    with services(app, dbs):
        assert tasks.JOBS["need_expiry"].due() == [need.id]
        assert tasks.JOBS["need_expiry"].item(need.id) is True
        assert tasks.JOBS["need_expiry"].item(need.id) is False  # a second run finds it moved
    dbs.expire_all()
    need = dbs.get(Need, need.id)
    assert need.status is NeedStatus.EXPIRED
    assert [h.event.value for h in need.history] == ["post", "expire"]
    assert dbs.scalar(
        select(Notification).where(
            Notification.kind == "need_expired", Notification.org_id == market["ent"].id
        )
    )
    client.login("p1@need.cn")
    q = dbs.scalar(select(Quote))
    assert client.form(f"/needs/quotes/{q.id}/withdraw").status_code == 302
    dbs.expire_all()
    assert dbs.get(Quote, q.id).status is QuoteStatus.LIVE  # refused: the need is not open


def test_to_dos_for_both_sides(client, dbs, market):
    need = posted_need(client, dbs)
    client.login("p1@need.cn")
    assert f"/needs/board/{need.id}" in client.text("/dashboard")
    quote(client, need, plans_of(market["gateway"])[:1])
    assert f"/needs/board/{need.id}" not in client.text("/dashboard")
    client.get("/logout")
    client.login("e@need.cn")
    assert f"/needs/{need.id}" in client.text("/dashboard")
    assert count(dbs, NeedStatusChange) == 1


def test_a_provider_who_turned_the_kind_off_gets_no_mail_of_new_needs(app, client, dbs, market):
    from marketplace import notifications
    from marketplace.accounts import notification_mail
    from marketplace.mail import OutgoingMail

    owner = dbs.scalar(select(User).where(User.email == "p1@need.cn"))
    with services(app, dbs):
        wanted = set(notifications.TEXTS) - {"need_posted"}
        notification_mail.save_mail_preferences(owner, wanted, False, Actor(owner.id, None, None))
    posted_need(client, dbs)
    dbs.expire_all()
    mailed = set(
        dbs.scalars(select(OutgoingMail.to_address).where(OutgoingMail.kind == "need_posted"))
    )
    assert mailed == {"p2@need.cn"}
    told = set(dbs.scalars(select(Notification.org_id).where(Notification.kind == "need_posted")))
    assert told == {market["p1"].id, market["p2"].id}  # in the app, both
