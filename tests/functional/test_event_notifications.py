"""Every event that asks someone to act, or that they must know about, notifies them (issue
18): the organisation concerned gets exactly one notification naming the object, with the
deadline where there is one, a link to a page it may open, and a text that reads in both
languages with no parameter code left untranslated."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from marketplace import notifications
from marketplace.accounts import grants
from marketplace.accounts.models import GrantScope, Organisation, User
from marketplace.db import LOCAL_ZONE, local_today
from marketplace.notifications import Notification
from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, OrderLine
from marketplace.outcomes import services as outcomes
from marketplace.oversight import evaluation
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice
from marketplace.pool import services as pool
from marketplace.pool.models import PoolEvent, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import issuing, risk, settlement, spending
from marketplace.vouchers.models import RiskFlag, Voucher
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import provider_with_owner, services
from tests.functional.grant_helpers import ordered_from
from tests.functional.order_helpers import SYSTEM
from tests.functional.outcomes.test_outcomes import contract_of, measuring, order_outcome_line
from tests.functional.voucher_helpers import key, pilot
from tests.functional.vouchers.test_vouchers import accepted_order

QUALIFICATION = pool.Qualification(5, 2, "甲\n乙", "", "能力说明", "王工", "138", "bd@p.cn")


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="tell")


def told(dbs, org: Organisation, kind: str) -> Notification:
    """The one notification of ``kind`` the organisation got."""
    rows = dbs.scalars(
        select(Notification).where(Notification.org_id == org.id, Notification.kind == kind)
    ).all()
    assert len(rows) == 1, [(n.kind, n.params) for n in rows]
    return rows[0]


def none_of(dbs, org: Organisation, kind: str) -> None:
    assert not dbs.scalars(
        select(Notification).where(Notification.org_id == org.id, Notification.kind == kind)
    ).all()


def reads(app, n: Notification, *names: str, by: str | None = None) -> None:
    """The text names the objects (``names``) and, for a kind with a deadline, its date, in
    English and in Chinese; nothing is left as a placeholder or an untranslated code."""
    assert n.kind in notifications.TEXTS
    if by is not None:
        assert n.kind in notifications.DEADLINE_KINDS and n.params["by"] == by
    texts = {}
    for locale in ("en", "zh"):
        with app.test_request_context(), force_locale(locale):
            texts[locale] = text = notifications.text(n)
        assert "%(" not in text, text
        for name in (*names, *([by] if by else [])):
            assert name in text, (locale, name, text)
        for param, value in n.params.items():
            labels = notifications.PARAM_LABELS.get(param, {})
            if isinstance(value, str) and value in labels:
                with app.test_request_context(), force_locale(locale):
                    assert str(labels[value]) in text, (locale, param, text)
    assert texts["en"] != texts["zh"]  # translated


def opens(client, n: Notification, user: User) -> None:
    """The link answers 200 for a member of the organisation told."""
    client.login(user.email)
    assert client.get(n.link).status_code == 200, n.link
    client.form("/logout")


def tells(app, client, dbs, org, user, kind, *names, by=None) -> Notification:
    n = told(dbs, org, kind)
    reads(app, n, *names, by=by)
    opens(client, n, user)
    return n


def in_days(days: int) -> str:
    return (local_today() + timedelta(days=days)).isoformat()


# --- vouchers -----------------------------------------------------------------------------


def test_voucher_applications_issue_and_revocation(app, client, dbs, p):
    programme = p.programme()
    redeem_by = programme.redeem_by.isoformat()
    with services(app, dbs):
        application = issuing.apply_for(programme, p.enterprise, "", p.enterprise_actor)
    tells(app, client, dbs, p.agency, p.official, "voucher_applied", p.enterprise.name)
    with services(app, dbs):
        issuing.decide_application(application, True, "", p.official_actor)
    n = tells(
        app,
        client,
        dbs,
        p.enterprise,
        p.owner,
        "voucher_application_approved",
        programme.name,
        "¥20,000.00",
        by=redeem_by,
    )
    none_of(dbs, p.enterprise, "voucher_issued")  # one message for the one event
    voucher = dbs.scalars(select(Voucher).where(Voucher.enterprise_id == p.enterprise.id)).one()
    assert voucher.code in n.params["code"] and n.link == f"/vouchers/{voucher.id}"

    other = OrganisationFactory(contact_phone="0311-1")
    other_owner = UserFactory(org=other, email="other@tell.cn")
    with services(app, dbs):
        refused = issuing.apply_for(programme, other, "", Actor(other_owner.id, other.id, None))
        issuing.decide_application(refused, False, "不在本次支持行业", p.official_actor)
    tells(
        app,
        client,
        dbs,
        other,
        other_owner,
        "voucher_application_rejected",
        programme.name,
        "不在本次支持行业",
    )

    third = OrganisationFactory(contact_phone="0311-2")
    third_owner = UserFactory(org=third, email="third@tell.cn")
    issued = p.issue_to(programme, third)
    tells(app, client, dbs, third, third_owner, "voucher_issued", issued.code, by=redeem_by)
    with services(app, dbs):
        spending.revoke(issued, "重复发放", p.official_actor)
    tells(app, client, dbs, third, third_owner, "voucher_revoked", issued.code, "重复发放")


def test_a_batch_above_the_threshold_asks_the_agency_for_a_second_official(app, client, dbs, p):
    programme = p.programme(batch_approval_threshold_fen=10_000_00)
    with services(app, dbs):
        run = issuing.issue_batch(programme, key(), p.official_actor, note="首批")
    n = tells(app, client, dbs, p.agency, p.official2, "voucher_batch_proposed", programme.name)
    assert n.link == f"/agency/programmes/{programme.id}/runs/{run.id}"
    none_of(dbs, p.enterprise, "voucher_issued")  # nothing issued yet


def test_settlement_proposed_approved_and_paid(app, client, dbs, p, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)  # nothing held for review
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        s = settlement.draw_up(programme, p.provider.id, p.official_actor)
    tells(app, client, dbs, p.agency, p.official2, "settlement_proposed", s.number, p.provider.name)
    with services(app, dbs):
        settlement.approve(s, s.total_fen, "已核对明细与账号", p.official2_actor)
    tells(app, client, dbs, p.provider, p.provider_owner, "settlement_approved", s.number)
    with services(app, dbs):
        settlement.mark_paid(s, "HX202612010001", p.official_actor)
    tells(
        app,
        client,
        dbs,
        p.provider,
        p.provider_owner,
        "settlement_paid",
        s.number,
        "HX202612010001",
    )


def test_risk_flags_and_claw_back_decisions(app, client, dbs, p):
    programme = p.programme()
    p.issue_to(programme)
    line = accepted_order(app, dbs, p)  # delivered at once: held for fast delivery
    flag = dbs.scalars(select(RiskFlag)).first()
    with services(app, dbs):
        proposal = risk.propose_clawback(flag, "现场核查无部署记录", p.official_actor)
    n = tells(
        app, client, dbs, p.agency, p.official2, "clawback_proposed", line.order.number, "¥20,000"
    )
    assert "现场核查无部署记录" in n.params["reason"]
    with services(app, dbs):
        risk.reject_clawback(proposal, "部署记录已补充", p.official2_actor)
    tells(
        app,
        client,
        dbs,
        p.provider,
        p.provider_owner,
        "clawback_rejected",
        line.order.number,
        "部署记录已补充",
    )
    with services(app, dbs):
        risk.clear(flag, "已电话回访企业，确认上线", p.official_actor)
    n = tells(
        app, client, dbs, p.provider, p.provider_owner, "risk_flag_cleared", line.order.number
    )
    assert n.link == f"/orders/{line.order.number}" and n.params["flag"] == flag.reason.value


# --- orders and invoices -------------------------------------------------------------------


def placed_line(app, dbs, p) -> OrderLine:
    with services(app, dbs):
        order = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor, use_vouchers=False)
    return order.lines[0]


def move(app, dbs, line, event, kind, reason=""):
    with services(app, dbs):
        orders.transition(line, event, reason, SYSTEM, kind)


def test_an_order_line_from_placing_to_acceptance_and_payment(app, client, dbs, p):
    line = placed_line(app, dbs, p)
    number = line.order.number
    tells(app, client, dbs, p.provider, p.provider_owner, "order_placed", number)
    for event in (LineEvent.ACCEPT, LineEvent.START):
        move(app, dbs, line, event, "provider")
    move(app, dbs, line, LineEvent.DELIVER, "provider")
    delivered = line.delivered_at + timedelta(days=app.config["AUTO_ACCEPT_DAYS"])
    by = delivered.astimezone(LOCAL_ZONE).date().isoformat()
    tells(app, client, dbs, p.enterprise, p.owner, "order_delivered", number, by=by)
    move(app, dbs, line, LineEvent.DISPUTE, "enterprise", "报表数据不刷新")
    tells(
        app, client, dbs, p.provider, p.provider_owner, "order_disputed", number, "报表数据不刷新"
    )
    move(app, dbs, line, LineEvent.SETTLE, "enterprise")
    tells(app, client, dbs, p.provider, p.provider_owner, "dispute_settled", number)
    invoice = dbs.scalars(select(Invoice).where(Invoice.order_line_id == line.id)).one()
    tells(
        app,
        client,
        dbs,
        p.enterprise,
        p.owner,
        "invoice_issued",
        invoice.number,
        "¥60,000.00",
        by=invoice.due_on.isoformat(),
    )
    assert invoice.due_on.isoformat() == in_days(app.config["INVOICE_PAYMENT_TERMS_DAYS"])
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        payments.record_transfer(
            invoice, invoice.amount_fen, "HX-1", invoice.finalised_at, provider
        )
    tells(app, client, dbs, p.enterprise, p.owner, "invoice_paid", invoice.number)
    none_of(dbs, p.provider, "invoice_paid")  # it recorded the transfer itself


def test_rejected_accepted_automatically_and_voided(app, client, dbs, p):
    rejected = placed_line(app, dbs, p)
    move(app, dbs, rejected, LineEvent.REJECT, "provider", "本月排期已满")
    tells(
        app,
        client,
        dbs,
        p.enterprise,
        p.owner,
        "order_rejected",
        rejected.order.number,
        "本月排期已满",
    )
    silent = placed_line(app, dbs, p)
    for event in (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER):
        move(app, dbs, silent, event, "provider")
    with services(app, dbs):
        assert orders.auto_accept_line(silent.id, timedelta(0), SYSTEM)
    for org, user in ((p.enterprise, p.owner), (p.provider, p.provider_owner)):
        tells(app, client, dbs, org, user, "order_auto_accepted", silent.order.number)
    invoice = dbs.scalars(select(Invoice).where(Invoice.order_line_id == silent.id)).one()
    provider = Actor(p.provider_owner.id, p.provider.id, None)
    with services(app, dbs):
        payments.void(invoice, "金额有误，重开", provider)
    tells(app, client, dbs, p.enterprise, p.owner, "invoice_voided", invoice.number, "金额有误")
    none_of(dbs, p.provider, "invoice_voided")


# --- outcome contracts ---------------------------------------------------------------------


def test_baseline_and_measurements(app, client, dbs, p):
    line = order_outcome_line(app, dbs, p)
    contract = contract_of(dbs, line)
    today = local_today()
    with services(app, dbs):
        outcomes.propose_baseline(
            contract, "58.5", today - timedelta(days=9), today, "月报", p.official_actor
        )
    tells(app, client, dbs, p.enterprise, p.owner, "baseline_proposed", contract.title, "58.5")
    with services(app, dbs):
        outcomes.dispute_baseline(contract, "取数口径不对", p.enterprise_actor)
    tells(app, client, dbs, p.provider, p.provider_owner, "baseline_disputed", "取数口径不对")

    other = pilot(app, dbs, tag="tell-m")
    _line, contract = measuring(app, dbs, other)
    tells(app, client, dbs, other.provider, other.provider_owner, "baseline_agreed", contract.title)
    with services(app, dbs):
        m, _ = outcomes.submit(
            contract, outcomes.Reading("mes-1", today, today, "66"), other.enterprise_actor
        )
    by = in_days(app.config["MEASUREMENT_CONFIRM_DAYS"])
    tells(app, client, dbs, other.enterprise, other.owner, "measurement_submitted", "66", by=by)
    assessor = OrganisationFactory(assessor=True, name="赛迪评估中心")
    assessor_user = UserFactory(org=assessor, email="assessor@tell.cn")
    with services(app, dbs):
        outcomes.dispute(m, "当天停产检修", other.enterprise_actor)
    tells(
        app,
        client,
        dbs,
        other.provider,
        other.provider_owner,
        "measurement_disputed",
        contract.title,
        "当天停产检修",
    )
    tells(app, client, dbs, assessor, assessor_user, "measurement_to_verify", contract.title)
    with services(app, dbs):
        outcomes.verify(m, False, "停产日应剔除", Actor(assessor_user.id, assessor.id, None))
    for org, user in ((other.enterprise, other.owner), (other.provider, other.provider_owner)):
        tells(app, client, dbs, org, user, "measurement_rejected", contract.title, "停产日应剔除")


# --- pool, evaluation, data grants ---------------------------------------------------------


def test_pool_applications_and_decisions(app, client, dbs, p):
    provider, owner = provider_with_owner("joiner@tell.cn")
    with services(app, dbs):
        m = pool.apply(provider, p.agency.id, QUALIFICATION, Actor(owner.id, provider.id, None))
    tells(app, client, dbs, p.agency, p.official, "pool_applied", provider.name)
    with services(app, dbs):
        pool.decide(m, PoolEvent.REJECT, "缺少本地案例", p.official_actor)
    tells(app, client, dbs, provider, owner, "pool_rejected", p.agency.name, "缺少本地案例")
    with services(app, dbs):
        pool.apply(provider, p.agency.id, QUALIFICATION, Actor(owner.id, provider.id, None))
        pool.decide(m, PoolEvent.ADMIT, "材料齐全", p.official_actor)
    tells(app, client, dbs, provider, owner, "pool_admitted", p.agency.name)
    with services(app, dbs):
        pool.decide(m, PoolEvent.SUSPEND, "投诉核查中", p.official_actor)
    tells(app, client, dbs, provider, owner, "pool_suspended", p.agency.name, "投诉核查中")
    with services(app, dbs):
        pool.decide(m, PoolEvent.EXIT, "核查属实", p.official_actor)
    tells(app, client, dbs, provider, owner, "pool_exited", p.agency.name, "核查属实")
    assert m.status is PoolStatus.EXITED


def test_an_evaluation_round_tells_the_providers_and_the_assessors(app, client, dbs, p):
    assessor = OrganisationFactory(assessor=True, name="赛迪评估中心")
    assessor_user = UserFactory(org=assessor, email="assessor@tell.cn")
    later = OrganisationFactory(assessor=True, name="工信评估所")
    later_user = UserFactory(org=later, email="later@tell.cn")
    start = local_today() - timedelta(days=100)
    terms = evaluation.Terms("2026 Q3", start, start + timedelta(days=89), pass_mark=60)
    with services(app, dbs):
        rnd = evaluation.open_round(p.agency, terms, assessor.id, p.official_actor)
    tells(app, client, dbs, p.provider, p.provider_owner, "evaluation_opened", "2026 Q3")
    n = tells(app, client, dbs, assessor, assessor_user, "evaluation_to_score", "2026 Q3")
    assert n.params["count"] == 1
    with services(app, dbs):
        evaluation.assign(rnd, rnd.entries[0].id, later.id, p.official_actor)
    tells(app, client, dbs, later, later_user, "evaluation_assigned", p.provider.name)


def test_a_grantee_looking_at_shared_data_tells_the_enterprise_once_a_day(app, client, dbs, p):
    ordered_from(dbs, p.enterprise, p.provider)  # a reason to be granted the data
    with services(app, dbs):
        g = grants.grant(
            p.enterprise,
            grants.GrantTerms(
                p.provider.id,
                frozenset({GrantScope.TICKETS}),
                local_today(),
                local_today() + timedelta(days=30),
            ),
            p.enterprise_actor,
        )
    tells(app, client, dbs, p.provider, p.provider_owner, "data_granted", p.enterprise.name)
    viewer = Actor(p.provider_owner.id, p.provider.id, None)
    for _ in range(3):
        with services(app, dbs):
            grants.log_view(g, GrantScope.TICKETS, "tickets", p.enterprise.id, viewer)
    tells(
        app,
        client,
        dbs,
        p.enterprise,
        p.owner,
        "data_grant_used",
        p.provider.name,
        local_today().isoformat(),
    )


def test_every_kind_reads_in_both_languages(app):
    """Each registered text is translated and fills from its parameters."""
    sample = {
        "number": "N-1",
        "title": "T",
        "status": "accepted",
        "severity": "high",
        "rating": 5,
        "count": 2,
        "pass_mark": 60,
        "flag": "fast_delivery",
        "scope": "tickets",
        "field": "name",
        "outcome": "approved",
    }
    for kind, template in notifications.TEXTS.items():
        msgid = template._args[0]
        names = re.findall(r"%\((\w+)\)s", msgid)
        params = dict.fromkeys(names, "X") | {k: v for k, v in sample.items() if f"%({k})" in msgid}
        n = Notification(kind=kind, params=params, link="/")
        for locale in ("en", "zh"):
            with app.test_request_context(), force_locale(locale):
                assert "%(" not in notifications.text(n), (kind, locale)
        with app.test_request_context(), force_locale("zh"):
            zh = notifications.text(n)
        with app.test_request_context(), force_locale("en"):
            assert zh != notifications.text(n), kind
