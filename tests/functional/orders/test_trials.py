"""Trials (issue 23): a package version offers a trial (days, price, limits); an enterprise
starts one (one per package, ever), ends it early, or orders the package, which converts it;
the scheduled jobs end trials past their end and remind the enterprise 3 days before; the
provider sees its conversions."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from marketplace import tasks
from marketplace.catalog import services as catalog
from marketplace.catalog.models import PackageVersion
from marketplace.db import clock_at, utcnow
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.orders import aftercare, bundles, trials
from marketplace.orders import services as orders
from marketplace.orders.models import (
    LineEvent,
    OrderLine,
    Trial,
    TrialStatus,
    TrialStatusChange,
)
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers.models import VoucherEntry
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import (
    agency_with_official,
    membership,
    provider_with_owner,
    published_package,
    services,
)

ONE_TIME = catalog.PlanFields(kind="one_time", name="买断", amount_fen=30_000_00)
LIMITS = "最多接入 5 台设备，不含二次开发"


@pytest.fixture
def market(app, dbs):
    agency, official = agency_with_official("o@trial.cn")
    provider, owner = provider_with_owner("p@trial.cn")
    membership(dbs, provider, agency)
    free = published_package(
        app,
        dbs,
        provider,
        owner,
        plans=[ONE_TIME],
        title="设备联网免费试用",
        trial_days=14,
        trial_limits=LIMITS,
    )
    paid = published_package(
        app,
        dbs,
        provider,
        owner,
        plans=[ONE_TIME],
        title="生产看板付费试用",
        trial_days=30,
        trial_price_fen=99_00,
    )
    none = published_package(app, dbs, provider, owner, plans=[ONE_TIME], title="没有试用")
    ent = OrganisationFactory(name="石家庄精工机械有限公司")
    user = UserFactory(org=ent, email="e@trial.cn")
    other = OrganisationFactory(name="另一家企业")
    UserFactory(org=other, email="x@trial.cn")
    return {
        "provider": provider,
        "owner": owner,
        "free": free,
        "paid": paid,
        "none": none,
        "ent": ent,
        "user": user,
        "other": other,
        "official": official,
    }


def actor(user):
    return Actor(user.id, user.org_id, "127.0.0.1")


def count(dbs, model):
    dbs.expire_all()
    return dbs.scalar(select(func.count()).select_from(model))


def start(client, package, agree="y"):
    data = {"agree": agree} if agree else {}
    return client.form(f"/packages/{package.id}/trial", data)


def started(app, dbs, market, package, enterprise=None):
    with services(app, dbs):
        return trials.start(enterprise or market["ent"], package.id, actor(market["user"]))


# --- the offer on the version ----------------------------------------------------------------


def test_the_offer_is_shown_on_the_package_page_cards_compare_and_api(client, market):
    free, paid, none = market["free"], market["paid"], market["none"]
    page = client.text(f"/packages/{free.id}")
    assert "免费试用 14 天" in page and LIMITS in page
    assert "¥99.00 试用 30 天" in client.text(f"/packages/{paid.id}")
    assert 'id="trial"' not in client.text(f"/packages/{none.id}")
    catalogue = client.text("/catalog")
    assert "免费试用 14 天" in catalogue and "¥99.00 试用 30 天" in catalogue
    compare = client.text(f"/compare?ids={free.id}&ids={none.id}")
    assert "免费试用 14 天" in compare and "无试用" in compare
    items = {i["id"]: i for i in client.get("/api/v1/packages").json["items"]}
    assert items[free.id]["trial"] == {"days": 14, "price_fen": 0, "limits": LIMITS}
    assert items[paid.id]["trial"] == {"days": 30, "price_fen": 99_00, "limits": ""}
    assert items[none.id]["trial"] is None


def edit(client, package, **trial):
    version = package.latest
    data = {
        "title": version.title,
        "summary": version.summary,
        "description": version.description,
        "category_code": version.category_code,
        "industry_codes": [i.code for i in version.industries],
        "size_tiers": [t.value for t in version.size_tiers],
        "deployment": version.deployment.value,
        "go_live_days": str(version.go_live_days),
        "sla_response_hours": str(version.sla_response_hours),
        **trial,
    }
    return client.form(f"/provider/packages/{package.id}", data)


def test_the_provider_edits_the_offer_on_the_draft_and_a_new_version_copies_it(
    app, client, dbs, market
):
    package = market["free"]
    with services(app, dbs):
        draft = catalog.new_version(package, actor(market["owner"]))
    assert (draft.trial_days, draft.trial_limits) == (14, LIMITS)  # copied
    client.login("p@trial.cn")
    assert "试用天数" in client.text(f"/provider/packages/{package.id}")
    answer = edit(client, package, trial_days="7", trial_price="120", trial_limits="限 2 条产线")
    assert answer.status_code == 302
    dbs.expire_all()
    draft = dbs.get(PackageVersion, draft.id)
    assert (draft.trial_days, draft.trial_price_fen, draft.trial_limits) == (
        7,
        120_00,
        "限 2 条产线",
    )
    assert edit(client, package, trial_days="", trial_price="", trial_limits="x").status_code == 302
    dbs.expire_all()
    draft = dbs.get(PackageVersion, draft.id)
    assert (draft.trial_days, draft.trial_price_fen, draft.trial_limits) == (None, 0, "")
    # the trial is not a material change: vouchers never pay for it
    draft.trial_days = 30
    assert catalog.material_changes(package.published_version, draft) == []


@pytest.mark.parametrize(
    ("trial", "message"),
    [
        ({"trial_days": "0"}, "试用期为 1 到 90 天"),
        ({"trial_days": "91"}, "试用期为 1 到 90 天"),
        ({"trial_days": "abc"}, "整数"),
        ({"trial_days": "14", "trial_price": "-5"}, "不能为负"),
        ({"trial_days": "14", "trial_price": "30000"}, "低于该转型包的起步价"),
        ({"trial_days": "14", "trial_price": "40000"}, "低于该转型包的起步价"),
    ],
)
def test_bad_offers_are_refused_and_nothing_is_stored(app, client, dbs, market, trial, message):
    package = market["free"]
    with services(app, dbs):
        draft = catalog.new_version(package, actor(market["owner"]))
    client.login("p@trial.cn")
    answer = edit(client, package, **trial)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    dbs.expire_all()
    draft = dbs.get(PackageVersion, draft.id)
    assert (draft.trial_days, draft.trial_price_fen) == (14, 0)


def test_a_paid_trial_must_stay_below_the_entry_price_when_submitted(app, dbs, market):
    package = market["free"]
    act = actor(market["owner"])
    with services(app, dbs):
        draft = catalog.new_version(package, act)
        draft.trial_price_fen = 50_00
        cheap = catalog.PlanFields(kind="one_time", name="基础版", amount_fen=40_00)
        catalog.remove_plan(package, draft.plans[0].id, act)
        catalog.add_plan(package, cheap, act)
        with pytest.raises(DomainError):
            catalog.submit(package, act)


def test_the_database_refuses_an_offer_out_of_range(dbs, market):
    version = market["free"].published_version
    for column, value in (("trial_days", 0), ("trial_days", 91), ("trial_price_fen", -1)):
        with pytest.raises(IntegrityError), dbs.begin_nested():
            setattr(version, column, value)
            dbs.flush()
        dbs.expire_all()
    with pytest.raises(IntegrityError), dbs.begin_nested():
        version.trial_price_fen = version.entry_price_fen  # published: below the entry price
        dbs.flush()


# --- starting a trial --------------------------------------------------------------------------


def test_an_enterprise_starts_a_free_trial_and_the_provider_is_told(client, dbs, market):
    client.login("e@trial.cn")
    page = client.text(f"/packages/{market['free'].id}")
    assert "开始试用" in page
    answer = start(client, market["free"])
    assert answer.status_code == 302 and answer.location.endswith("/trials")
    trial = dbs.scalar(select(Trial))
    assert trial.status is TrialStatus.LIVE and trial.price_fen == 0 and trial.limits == LIMITS
    assert trial.ends_at - trial.started_at == timedelta(days=14)
    assert trial.order_line_id is None
    assert [h.event.value for h in trial.history] == ["start"]
    assert dbs.scalar(
        select(Notification).where(
            Notification.kind == "trial_started", Notification.org_id == market["provider"].id
        )
    )
    mine = client.text("/trials")
    assert "设备联网免费试用" in mine and "14 天" in mine and LIMITS in mine and "立即下单" in mine
    assert "您已试用过该转型包" in client.text(f"/packages/{market['free'].id}") or (
        "/trials" in client.text(f"/packages/{market['free'].id}")
    )


def test_a_paid_trial_is_billed_as_a_one_time_line_without_vouchers(app, dbs, market):
    trial = started(app, dbs, market, market["paid"])
    assert trial.price_fen == 99_00 and trial.order_line_id is not None
    line = dbs.get(OrderLine, trial.order_line_id)
    assert line.kind == "trial" and line.committed_fen == 99_00 and line.plan_id is None
    assert line.provider_id == market["provider"].id
    assert dbs.scalar(select(func.count(VoucherEntry.id))) == 0  # vouchers never pay trials
    # the line's normal flow: accepted, delivered, accepted by the enterprise → invoiced
    p_act, e_act = actor(market["owner"]), actor(market["user"])
    with services(app, dbs):
        for event, who, kind in (
            ("accept", p_act, "provider"),
            ("start", p_act, "provider"),
            ("deliver", p_act, "provider"),
            ("accept_delivery", e_act, "enterprise"),
        ):
            orders.transition(dbs.get(OrderLine, line.id), LineEvent(event), "", who, kind)
    invoice = dbs.scalar(select(Invoice).where(Invoice.order_line_id == line.id))
    assert invoice.amount_fen == 99_00 and invoice.voucher_fen == 0
    with services(app, dbs), pytest.raises(DomainError):  # reviews come from buyers
        aftercare.review(dbs.get(OrderLine, line.id), 5, "", e_act)


@pytest.mark.parametrize("status", [TrialStatus.LIVE, TrialStatus.ENDED, TrialStatus.CANCELLED])
def test_a_second_trial_of_the_same_package_is_refused(app, client, dbs, market, status):
    trial = started(app, dbs, market, market["free"])
    if status is not TrialStatus.LIVE:
        trial.status, trial.ended_at = status, utcnow()
        dbs.commit()
    client.login("e@trial.cn")
    answer = start(client, market["free"])
    assert answer.status_code == 302
    assert "每家客户只提供一次试用" in client.text(answer.location)
    assert count(dbs, Trial) == 1


def test_the_unique_key_holds_when_the_service_check_is_bypassed(dbs, market):
    first = Trial(
        enterprise_id=market["ent"].id,
        package_id=market["free"].id,
        version_id=market["free"].published_version.id,
        provider_id=market["provider"].id,
        status=TrialStatus.ENDED,
        days=14,
        price_fen=0,
        limits="",
        started_at=utcnow() - timedelta(days=20),
        ends_at=utcnow() - timedelta(days=6),
        ended_at=utcnow() - timedelta(days=6),
    )
    dbs.add(first)
    dbs.commit()
    second = Trial(
        enterprise_id=market["ent"].id,
        package_id=market["free"].id,
        version_id=market["free"].published_version.id,
        provider_id=market["provider"].id,
        status=TrialStatus.LIVE,
        days=14,
        price_fen=0,
        limits="",
        started_at=utcnow(),
        ends_at=utcnow() + timedelta(days=14),
    )
    with pytest.raises(IntegrityError), dbs.begin_nested():
        dbs.add(second)
        dbs.flush()


def test_the_database_holds_the_trials_rules(dbs, market):
    base = {
        "enterprise_id": market["ent"].id,
        "package_id": market["free"].id,
        "version_id": market["free"].published_version.id,
        "provider_id": market["provider"].id,
        "days": 14,
        "limits": "",
    }
    now = utcnow()
    bad = [
        {"status": TrialStatus.LIVE, "price_fen": -1, "started_at": now, "ends_at": now},
        {"status": TrialStatus.LIVE, "price_fen": 0, "started_at": now, "ends_at": now},
        {
            "status": TrialStatus.CONVERTED,
            "price_fen": 0,
            "started_at": now,
            "ends_at": now + timedelta(days=1),
            "ended_at": now,
        },
    ]
    for values in bad:
        with pytest.raises(IntegrityError), dbs.begin_nested():
            dbs.add(Trial(**base, **values))
            dbs.flush()


def test_no_trial_on_a_package_that_offers_none(client, dbs, market):
    client.login("e@trial.cn")
    assert "开始试用" not in client.text(f"/packages/{market['none'].id}")
    answer = start(client, market["none"])
    assert "该转型包不提供试用" in client.text(answer.location)
    assert count(dbs, Trial) == 0


def test_the_terms_must_be_confirmed(client, dbs, market):
    client.login("e@trial.cn")
    answer = start(client, market["free"], agree="")
    assert "请确认试用条款" in client.text(answer.location)
    assert count(dbs, Trial) == 0


def test_only_enterprises_start_trials(app, client, dbs, market):
    assert start(client, market["free"]).status_code == 302  # anonymous: to the login page
    assert "/login" in start(client, market["free"]).location
    client.login("p@trial.cn")
    assert start(client, market["free"]).status_code == 403
    client.get("/logout")
    client.login("o@trial.cn")
    assert start(client, market["free"]).status_code == 403
    client.get("/logout")
    UserFactory(org=market["ent"], email="new@trial.cn", unconfirmed=True)
    client.login("new@trial.cn")  # an e-mail address not confirmed yet
    assert start(client, market["free"]).location.endswith("/dashboard")
    client.get("/logout")
    UserFactory(org=market["ent"], email="member@trial.cn", member=True)
    client.login("member@trial.cn")  # a member, not an owner: the owner orders and tries
    assert start(client, market["free"]).status_code == 403
    assert count(dbs, Trial) == 0
    with pytest.raises(DomainError):
        started(app, dbs, market, market["free"], enterprise=market["provider"])
    assert count(dbs, Trial) == 0


def test_no_trial_of_a_draft_or_delisted_package(app, client, dbs, market):
    provider, owner = market["provider"], market["owner"]
    with services(app, dbs):
        draft_only = catalog.create_package(
            provider,
            catalog.VersionFields(
                title="草稿",
                summary="s",
                description="d",
                category_code="equipment_networking",
                industry_codes=["machining"],
                size_tiers=["small"],
                deployment="saas",
                go_live_days=7,
                sla_response_hours=4,
                enterprise_provides="",
                trial_days=14,
            ),
            actor(owner),
        )
    client.login("e@trial.cn")
    assert start(client, draft_only).status_code == 404
    package = market["free"]
    with services(app, dbs):
        catalog.delist(package, "违规", actor(market["official"]))
    assert start(client, package).status_code == 404
    assert count(dbs, Trial) == 0


def test_the_enterprise_ends_its_trial_early(client, dbs, market, app):
    trial = started(app, dbs, market, market["free"])
    client.login("x@trial.cn")
    assert client.form(f"/trials/{trial.id}/end").status_code == 404  # not its own
    client.get("/logout")
    client.login("e@trial.cn")
    assert client.form(f"/trials/{trial.id}/end").status_code == 302
    dbs.expire_all()
    trial = dbs.get(Trial, trial.id)
    assert trial.status is TrialStatus.CANCELLED and trial.ended_at is not None
    answer = client.form(f"/trials/{trial.id}/end")
    assert "只能结束进行中的试用" in client.text(answer.location)


# --- ending and converting ---------------------------------------------------------------------


def test_the_job_ends_trials_past_their_end_and_is_safe_to_run_twice(app, dbs, market):
    trial = started(app, dbs, market, market["free"])
    job = tasks.JOBS["trial_expiry"]
    with services(app, dbs):
        assert job.due() == []
    with clock_at(trial.ends_at + timedelta(minutes=1)), services(app, dbs):
        assert job.due() == [trial.id]
        assert job.item(trial.id) is True
        assert job.item(trial.id) is False
    dbs.expire_all()
    trial = dbs.get(Trial, trial.id)
    assert trial.status is TrialStatus.ENDED
    assert [h.event.value for h in trial.history] == ["start", "end"]
    assert dbs.scalar(select(Notification).where(Notification.kind == "trial_ended"))


def test_the_enterprise_is_reminded_once_three_days_before_the_end(app, client, dbs, market):
    trial = started(app, dbs, market, market["free"])
    job = tasks.JOBS["trial_reminders"]
    with services(app, dbs):
        assert job.due() == []
    with clock_at(trial.ends_at - timedelta(days=2)), services(app, dbs):
        assert job.due() == [trial.id]
        assert job.item(trial.id) is True
        assert job.item(trial.id) is False
        assert job.due() == []
    told = dbs.scalars(
        select(Notification).where(
            Notification.kind == "trial_ending", Notification.org_id == market["ent"].id
        )
    ).all()
    assert len(told) == 1
    client.login("e@trial.cn")
    assert "试用将于" in client.text("/notifications")
    with clock_at(trial.ends_at - timedelta(days=2)):
        assert 'data-todo="trial_ending"' in client.text("/dashboard")


def order(app, dbs, market, package):
    ent, user = market["ent"], market["user"]
    with services(app, dbs):
        bundle = bundles.create(ent, f"试用后下单 {package.id}", actor(user))
        bundles.add(bundle, package.id, None, actor(user))
        return orders.checkout(ent, bundle, actor(user), use_vouchers=False)


def test_ordering_the_package_converts_a_live_trial_in_the_same_transaction(app, dbs, market):
    trial = started(app, dbs, market, market["free"])
    placed = order(app, dbs, market, market["free"])
    dbs.expire_all()
    trial = dbs.get(Trial, trial.id)
    line = next(line for line in placed.lines if line.package_id == market["free"].id)
    assert trial.status is TrialStatus.CONVERTED and trial.converted_line_id == line.id
    assert [h.event.value for h in trial.history] == ["start", "convert"]
    assert dbs.scalar(select(Notification).where(Notification.kind == "trial_converted"))


def test_an_order_within_30_days_of_the_end_converts_later_ones_do_not(app, dbs, market):
    recent = started(app, dbs, market, market["free"])
    old = started(app, dbs, market, market["paid"])
    recent.status, recent.ended_at = TrialStatus.ENDED, utcnow() - timedelta(days=29)
    old.status, old.ended_at = TrialStatus.ENDED, utcnow() - timedelta(days=31)
    dbs.commit()
    order(app, dbs, market, market["free"])
    order(app, dbs, market, market["paid"])
    dbs.expire_all()
    assert dbs.get(Trial, recent.id).status is TrialStatus.CONVERTED
    assert dbs.get(Trial, old.id).status is TrialStatus.ENDED


def test_a_failed_checkout_converts_nothing(app, dbs, market):
    trial = started(app, dbs, market, market["free"])
    ent, user = market["ent"], market["user"]
    with services(app, dbs):
        bundle = bundles.create(ent, "空", actor(user))
        with pytest.raises(DomainError):
            orders.checkout(ent, bundle, actor(user))
    dbs.expire_all()
    assert dbs.get(Trial, trial.id).status is TrialStatus.LIVE
    assert count(dbs, TrialStatusChange) == 1


# --- the provider's page ---------------------------------------------------------------------


def test_the_provider_sees_trials_and_conversions(app, client, dbs, market):
    converted = started(app, dbs, market, market["free"])
    order(app, dbs, market, market["free"])
    other = UserFactory(org=market["other"], email="y@trial.cn")
    with services(app, dbs):
        trials.start(market["other"], market["free"].id, actor(other))
        trials.start(market["other"], market["paid"].id, actor(other))
    more = OrganisationFactory(name="第三家企业")
    third = UserFactory(org=more, email="z@trial.cn")
    with services(app, dbs):
        ended = trials.start(more, market["free"].id, actor(third))
    dbs.get(Trial, ended.id).status = TrialStatus.ENDED
    dbs.get(Trial, ended.id).ended_at = utcnow()
    dbs.commit()
    with services(app, dbs):
        rows = {r.package_id: r for r in trials.conversions(market["provider"])}
    free = rows[market["free"].id]
    assert (free.started, free.live, free.converted, free.not_converted) == (3, 1, 1, 1)
    assert free.rate_bp == 5000 and rows[market["paid"].id].rate_bp is None
    client.login("p@trial.cn")
    page = client.text("/provider/trials")
    assert "试用与转化" in page and "50.0%" in page and "另一家企业" in page
    assert "已结束的试用" in page  # the definition of the rate
    assert converted.id
    assert "/provider/trials" in client.text("/dashboard")


def test_the_enterprise_sees_its_trials_in_english(app, english, dbs, market):
    started(app, dbs, market, market["free"])
    english.login("e@trial.cn")
    page = english.text("/trials")
    assert "My trials" in page and "In trial" in page and "Order now" in page
    assert "/trials" in english.text("/dashboard")
