"""Disputes someone can decide: a dispute the parties do not settle goes, after
DISPUTE_ESCALATION_DAYS or at a party's request, to the agency whose vouchers pay part of
the line (else the platform), which decides with a note: deliver again, accept at a reduced
amount (invoice and voucher share follow), or cancel (vouchers released)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.audit import AuditEntry
from marketplace.db import utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.notifications import Notification
from marketplace.orders import disputes
from marketplace.orders import services as orders
from marketplace.orders.models import (
    DeciderKind,
    Dispute,
    DisputeStatus,
    LineEvent,
    LineStatus,
    LineStatusChange,
    OrderLine,
)
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers import ledger, spending
from marketplace.vouchers.models import ReservationStatus, Voucher
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import agency_with_official, services
from tests.functional.order_helpers import SYSTEM, deliver
from tests.functional.voucher_helpers import pilot


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="dsp")


def disputed(app, dbs, p, vouchers: bool = True) -> OrderLine:
    """A ¥60,000 line, delivered and disputed; with vouchers, the agency's programme pays
    ¥20,000 of it (its rate is 50 %, the voucher's face value ¥20,000)."""
    if vouchers:  # a programme of its own for each line: its voucher pays this line only
        p.issue_to(p.programme(name=f"转型券 {secrets.token_hex(3)}"))
    with services(app, dbs):
        line = orders.checkout(p.enterprise, p.bundle(), p.enterprise_actor).lines[0]
        deliver(line)
        orders.transition(line, LineEvent.DISPUTE, "看板数据与现场不一致", SYSTEM, "enterprise")
    return line


def case_of(dbs, line: OrderLine) -> Dispute:
    dbs.expire_all()
    return dbs.scalars(select(Dispute).where(Dispute.line_id == line.id)).one()


def escalated(app, dbs, line: OrderLine) -> Dispute:
    with services(app, dbs):
        disputes.escalate(case_of(dbs, line), "enterprise", SYSTEM, "三次沟通未果")
    return case_of(dbs, line)


def funding_of(app, dbs, line: OrderLine) -> spending.LineFunding:
    dbs.expire_all()
    with services(app, dbs):
        return spending.line_funding(line.id)


def notices(dbs, org_id: int) -> list[str]:
    return list(dbs.scalars(select(Notification.kind).where(Notification.org_id == org_id)))


def invoices(dbs, line: OrderLine) -> list[Invoice]:
    return list(dbs.scalars(select(Invoice).where(Invoice.order_line_id == line.id)))


def history(dbs, line: OrderLine) -> list[tuple[str, str]]:
    rows = dbs.execute(
        select(LineStatusChange.event, LineStatusChange.actor_kind)
        .where(LineStatusChange.line_id == line.id)
        .order_by(LineStatusChange.id)
    )
    return [tuple(r) for r in rows]


# --- the case and its escalation ---------------------------------------------------------------


def test_a_dispute_opens_a_case_and_the_parties_own_ending_closes_it(app, dbs, p):
    line = disputed(app, dbs, p)
    d = case_of(dbs, line)
    assert (d.status, d.reason, d.line_amount_fen) == (
        DisputeStatus.OPEN,
        "看板数据与现场不一致",
        60_000_00,
    )
    with services(app, dbs):
        orders.transition(line, LineEvent.REDELIVER, "", SYSTEM, "provider")
    assert case_of(dbs, line).status is DisputeStatus.ENDED
    with services(app, dbs):  # disputed again: a new case; the old one stays as it ended
        orders.transition(line, LineEvent.DISPUTE, "仍然不一致", SYSTEM, "enterprise")
    rows = dbs.scalars(select(Dispute).where(Dispute.line_id == line.id).order_by(Dispute.id))
    assert [(r.status, r.reason) for r in rows] == [
        (DisputeStatus.ENDED, "看板数据与现场不一致"),
        (DisputeStatus.OPEN, "仍然不一致"),
    ]


def test_the_job_escalates_an_unsettled_dispute_to_the_paying_agency(app, dbs, p):
    line = disputed(app, dbs, p)
    fresh = disputed(app, dbs, p)  # disputed just now: not due yet
    dbs.execute(
        update(Dispute)
        .where(Dispute.line_id == line.id)
        .values(opened_at=utcnow() - timedelta(days=app.config["DISPUTE_ESCALATION_DAYS"], hours=1))
    )
    dbs.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run", "dispute_escalation"])
    assert "1 of 1 item(s) moved" in result.output, result.output
    d = case_of(dbs, line)
    assert (d.status, d.escalated_by, d.decider_kind, d.decider_org_id) == (
        DisputeStatus.ESCALATED,
        "system",
        DeciderKind.AGENCY,
        p.agency.id,
    )
    assert case_of(dbs, fresh).status is DisputeStatus.OPEN
    assert "dispute_escalated" in notices(dbs, p.enterprise.id)
    assert "dispute_escalated" in notices(dbs, p.provider.id)
    assert notices(dbs, p.agency.id).count("dispute_to_decide") == 1
    # a second run finds nothing; running the item again changes nothing
    again = app.test_cli_runner().invoke(args=["jobs", "run", "dispute_escalation"])
    assert "0 of 0 item(s) moved" in again.output, again.output
    with services(app, dbs):
        assert disputes.escalate_due(d.id, timedelta(days=7), SYSTEM) is False
    assert notices(dbs, p.agency.id).count("dispute_to_decide") == 1
    assert (
        dbs.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "dispute.escalated")
        )
        == 1
    )


def test_either_party_may_escalate_at_once_and_state_its_side(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = case_of(dbs, line)
    client.login("owner@dsp.cn")
    page = client.text(f"/orders/{line.order.number}")
    assert "立即申请裁决" in page and f"/disputes/{d.id}" in page
    assert "提交主管部门裁决" in client.text(f"/disputes/{d.id}")
    response = client.form(f"/disputes/{d.id}/escalate", {"statement": "看板缺少两条产线的数据"})
    assert response.status_code == 302
    d = case_of(dbs, line)
    assert (d.status, d.escalated_by, d.enterprise_statement) == (
        DisputeStatus.ESCALATED,
        "enterprise",
        "看板缺少两条产线的数据",
    )
    # escalating twice is refused, nothing changes
    again = client.form(f"/disputes/{d.id}/escalate", {"statement": "再次"})
    assert again.status_code == 422 and "该异议已不在双方协商阶段" in again.get_data(as_text=True)
    client.form("/logout")
    client.login("provider@dsp.cn")
    assert client.form(f"/disputes/{d.id}/statement", {"statement": ""}).status_code == 422
    client.form(f"/disputes/{d.id}/statement", {"statement": "两条产线未按合同接入"})
    page = client.text(f"/disputes/{d.id}")
    assert "两条产线未按合同接入" in page and "看板缺少两条产线的数据" in page
    assert "裁决异议" not in page  # a party sees no decision form


# --- the decisions ------------------------------------------------------------------------------


def decide(client, d: Dispute, **data: str):
    return client.form(f"/disputes/{d.id}/decide", data)


def test_the_official_decides_redeliver(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    client.login("official@dsp.cn")
    assert "裁决异议" in client.text("/dashboard")  # on the official's to-do list
    listing = client.text("/disputes")
    assert line.order.number in listing
    page = client.text(f"/disputes/{d.id}")
    assert "看板数据与现场不一致" in page and "三次沟通未果" in page and "¥60,000.00" in page
    response = decide(client, d, ruling="rule_redeliver", note="补齐两条产线数据后重新交付")
    assert response.status_code == 302
    dbs.expire_all()
    assert line.status is LineStatus.IN_DELIVERY
    d = case_of(dbs, line)
    assert (d.status, d.decision, d.decision_note, d.decided_by_id) == (
        DisputeStatus.DECIDED,
        "rule_redeliver",
        "补齐两条产线数据后重新交付",
        p.official.id,
    )
    assert history(dbs, line)[-1] == ("rule_redeliver", "decider")
    assert "dispute_ruled_redeliver" in notices(dbs, p.enterprise.id)
    assert "dispute_ruled_redeliver" in notices(dbs, p.provider.id)
    assert invoices(dbs, line) == []
    assert funding_of(app, dbs, line).reserved_fen == 20_000_00  # still set aside
    assert "裁决异议" not in client.text("/dashboard")  # nothing waits any more
    actions = set(
        dbs.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(line.id)))
    )
    assert {"dispute.decided", "order_line.rule_redeliver"} <= actions
    with services(app, dbs):  # the provider delivers again, the enterprise accepts
        orders.transition(line, LineEvent.DELIVER, "", SYSTEM, "provider")
        orders.transition(line, LineEvent.ACCEPT_DELIVERY, "", SYSTEM, "enterprise")
    [invoice] = invoices(dbs, line)
    assert (invoice.gross_fen, invoice.voucher_fen) == (60_000_00, 20_000_00)


def test_the_official_accepts_at_a_reduced_amount(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    client.login("official@dsp.cn")
    response = decide(
        client, d, ruling="rule_reduced", amount="30,000", note="两条产线未接入，按比例核减"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    dbs.expire_all()
    assert (line.status, line.committed_fen, line.amount_fen) == (
        LineStatus.COMPLETED,
        30_000_00,
        30_000_00,
    )
    assert case_of(dbs, line).decided_amount_fen == 30_000_00
    # the programme pays at most its rate (50 %) of the reduced amount: ¥15,000 of the ¥20,000
    # it set aside is spent, ¥5,000 goes back to the voucher
    funding = funding_of(app, dbs, line)
    assert (funding.redeemed_fen, funding.reserved_fen) == (15_000_00, 0)
    [reservation] = funding.reservations
    assert (reservation.status, reservation.trimmed_fen, reservation.line_amount_fen) == (
        ReservationStatus.REDEEMED,
        5_000_00,
        30_000_00,
    )
    voucher = dbs.get(Voucher, reservation.voucher_id)
    assert (voucher.reserved_fen, voucher.redeemed_fen, voucher.available_fen) == (
        0,
        15_000_00,
        5_000_00,
    )
    [invoice] = invoices(dbs, line)
    assert (invoice.gross_fen, invoice.voucher_fen, invoice.amount_fen) == (
        30_000_00,
        15_000_00,
        15_000_00,
    )
    assert history(dbs, line)[-1] == ("rule_reduced", "decider")
    assert "dispute_ruled_reduced" in notices(dbs, p.enterprise.id)
    assert "dispute_ruled_reduced" in notices(dbs, p.provider.id)
    with services(app, dbs):
        assert ledger.check() == []
    page = client.text(f"/disputes/{d.id}")
    assert "裁决：核减金额后验收" in page and "¥30,000.00" in page


def test_a_small_reduction_keeps_the_whole_voucher_share(app, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    with services(app, dbs):
        disputes.decide(
            d, p.agency, LineEvent.RULE_REDUCED, "少量核减", p.official_actor, 50_000_00
        )
    funding = funding_of(app, dbs, line)
    assert funding.redeemed_fen == 20_000_00  # 50 % of ¥50,000 is more than was set aside
    [invoice] = invoices(dbs, line)
    assert (invoice.gross_fen, invoice.amount_fen) == (50_000_00, 30_000_00)
    with services(app, dbs):
        assert ledger.check() == []


def test_the_official_cancels_and_the_voucher_is_released(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    client.login("official@dsp.cn")
    assert decide(client, d, ruling="rule_cancel", note="交付与合同不符，取消").status_code == 302
    dbs.expire_all()
    assert line.status is LineStatus.CANCELLED
    funding = funding_of(app, dbs, line)
    assert (funding.released_fen, funding.reserved_fen, funding.redeemed_fen) == (20_000_00, 0, 0)
    assert dbs.get(Voucher, funding.reservations[0].voucher_id).available_fen == 20_000_00
    assert invoices(dbs, line) == []
    assert "dispute_ruled_cancel" in notices(dbs, p.enterprise.id)
    assert "dispute_ruled_cancel" in notices(dbs, p.provider.id)
    assert history(dbs, line)[-1] == ("rule_cancel", "decider")
    with services(app, dbs):
        assert ledger.check() == []


# --- who decides --------------------------------------------------------------------------------


def test_lines_without_vouchers_go_to_the_platform(app, client, dbs, p):
    platform = OrganisationFactory(platform=True)
    UserFactory(org=platform, email="admin@dsp.cn")
    line = disputed(app, dbs, p, vouchers=False)
    d = escalated(app, dbs, line)
    assert (d.decider_kind, d.decider_org_id) == (DeciderKind.PLATFORM, platform.id)
    assert "dispute_to_decide" in notices(dbs, platform.id)
    client.login("official@dsp.cn")  # the agency pays nothing of this line
    assert client.get(f"/disputes/{d.id}").status_code == 404
    assert decide(client, d, ruling="rule_cancel", note="越权").status_code == 404
    client.form("/logout")
    client.login("admin@dsp.cn")
    assert line.order.number in client.text("/disputes")
    assert decide(client, d, ruling="rule_cancel", note="服务商无法交付").status_code == 302
    dbs.expire_all()
    assert line.status is LineStatus.CANCELLED


def test_only_the_deciding_agency_may_decide(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    agency_with_official("other@dsp.cn")  # another city's agency
    UserFactory(org=p.agency, email="clerk@dsp.cn", member=True)
    for email, status in [
        ("owner@dsp.cn", 403),  # the enterprise: a party
        ("provider@dsp.cn", 403),  # the provider: a party
        ("other@dsp.cn", 404),
        ("clerk@dsp.cn", 403),  # an official, not an owner of the agency's account
    ]:
        client.login(email)
        response = decide(client, d, ruling="rule_cancel", note="越权裁决")
        assert response.status_code == status, email
        client.form("/logout")
    with services(app, dbs), pytest.raises(NotFound):  # a party cannot decide, even by a script
        disputes.decide(d, p.enterprise, LineEvent.RULE_CANCEL, "自行裁决", p.enterprise_actor)
    dbs.expire_all()
    assert line.status is LineStatus.DISPUTED
    assert case_of(dbs, line).status is DisputeStatus.ESCALATED


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ruling": "rule_cancel", "note": ""}, "请填写裁决说明"),
        ({"ruling": "rule_cancel", "note": "   "}, "请填写裁决说明"),
        ({"note": "没有选择"}, "请选择裁决结果"),
        ({"ruling": "rule_everything", "note": "乱填"}, None),
        ({"ruling": "rule_reduced", "note": "核减", "amount": ""}, "请填写核减后的金额"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "三万"}, "最多两位小数"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "0"}, "必须大于零且小于"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "-100"}, "必须大于零且小于"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "60000"}, "必须大于零且小于"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "99999999"}, "必须大于零且小于"),
        ({"ruling": "rule_reduced", "note": "核减", "amount": "1.234"}, "最多两位小数"),
    ],
)
def test_bad_decisions_are_refused_with_nothing_stored(app, client, dbs, p, data, message):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    before = history(dbs, line)
    client.login("official@dsp.cn")
    response = decide(client, d, **data)
    assert response.status_code == 422
    if message:
        assert message in response.get_data(as_text=True)
    dbs.expire_all()
    assert (line.status, line.committed_fen) == (LineStatus.DISPUTED, 60_000_00)
    assert case_of(dbs, line).status is DisputeStatus.ESCALATED
    assert history(dbs, line) == before and invoices(dbs, line) == []
    assert funding_of(app, dbs, line).reserved_fen == 20_000_00


def test_a_dispute_not_escalated_is_not_decided(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = case_of(dbs, line)
    with services(app, dbs):
        d.decider_kind, d.decider_org_id = DeciderKind.AGENCY, p.agency.id  # as if it knew
        with pytest.raises(DomainError) as refused:
            disputes.decide(d, p.agency, LineEvent.RULE_CANCEL, "抢先裁决", p.official_actor)
        dbs.rollback()
    assert "escalated" in str(refused.value.message)
    client.login("official@dsp.cn")
    assert client.get(f"/disputes/{d.id}").status_code == 404  # not the agency's case yet
    dbs.expire_all()
    assert line.status is LineStatus.DISPUTED


def test_deciding_twice_or_after_the_parties_ended_it_is_refused(app, client, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    client.login("official@dsp.cn")
    assert decide(client, d, ruling="rule_cancel", note="取消").status_code == 302
    again = decide(client, d, ruling="rule_redeliver", note="改为重新交付")
    assert again.status_code == 422 and "该异议已裁决或已结束" in again.get_data(as_text=True)
    dbs.expire_all()
    assert line.status is LineStatus.CANCELLED and case_of(dbs, line).decision == "rule_cancel"
    # the parties settle while the case waits: it ends, and a decision comes too late
    other = disputed(app, dbs, p)
    case = escalated(app, dbs, other)
    with services(app, dbs):
        orders.transition(other, LineEvent.SETTLE, "", SYSTEM, "enterprise")
    assert case_of(dbs, other).status is DisputeStatus.ENDED
    late = decide(client, case, ruling="rule_cancel", note="取消")
    assert late.status_code == 422 and "该异议已裁决或已结束" in late.get_data(as_text=True)
    dbs.expire_all()
    assert other.status is LineStatus.COMPLETED


def test_two_officials_at_once_one_decision_stands(app, dbs, p):
    """The second official's request saw the case escalated and the line disputed; the first
    decided meanwhile. Its conditional update moves nothing and nothing of it is stored."""
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    second = Actor(p.official2.id, p.agency.id, None)
    with services(app, dbs):
        disputes.decide(d, p.agency, LineEvent.RULE_CANCEL, "第一位：取消", p.official_actor)
    with services(app, dbs):
        # what the second request had read before the first committed
        set_committed_value(d, "status", DisputeStatus.ESCALATED)
        set_committed_value(line, "status", LineStatus.DISPUTED)
        with pytest.raises(DomainError):
            disputes.decide(d, p.agency, LineEvent.RULE_REDELIVER, "第二位：重新交付", second)
    dbs.expire_all()
    assert line.status is LineStatus.CANCELLED
    d = case_of(dbs, line)
    assert (d.decision, d.decision_note, d.decided_by_id) == (
        "rule_cancel",
        "第一位：取消",
        p.official.id,
    )
    assert [e for e, _k in history(dbs, line)].count("rule_redeliver") == 0


def test_the_database_holds_the_decided_amount_within_the_line(app, dbs, p):
    line = disputed(app, dbs, p)
    d = escalated(app, dbs, line)
    for values in (
        {"decision": "rule_reduced", "decided_amount_fen": 60_000_00},  # not below the line's
        {"decision": "rule_reduced", "decided_amount_fen": 0},
        {"decision": "rule_cancel", "decided_amount_fen": 1_00},  # an amount only when reduced
        {"status": DisputeStatus.DECIDED},  # decided without a decision
    ):
        with pytest.raises(IntegrityError), dbs.begin_nested():
            dbs.execute(update(Dispute).where(Dispute.id == d.id).values(**values))
    with pytest.raises(IntegrityError), dbs.begin_nested():  # a second live case on one line
        dbs.add(
            Dispute(
                line_id=line.id,
                enterprise_id=d.enterprise_id,
                provider_id=d.provider_id,
                status=DisputeStatus.OPEN,
                reason="重复",
                line_amount_fen=1,
            )
        )
        dbs.flush()
