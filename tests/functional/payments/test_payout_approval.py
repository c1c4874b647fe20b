"""Four eyes on payouts to providers (issue 16): one platform administrator proposes a
payout with a note, another approves it with a note for the amount their page showed, then
the transfer's reference is recorded. The proposer never approves their own (the database
refuses it too); a proposal commits its amount, so two never exceed what the platform owes.
Every refusal stores nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.payments import payouts
from marketplace.payments import services as payments
from marketplace.payments.models import Payout, PayoutStatus, ProviderBalance
from marketplace.security import Actor
from tests.factories import OrganisationFactory, UserFactory
from tests.functional.catalog_helpers import services

OWN = "You proposed this payout; another platform administrator must approve it."
OWN_ZH = "该付款由您提议，须由另一名平台管理员批准。"
OWED = 100_000_00


@pytest.fixture
def pay(dbs):
    """The platform with two administrators, and a provider it collected ¥100,000 for."""
    platform = OrganisationFactory(platform=True)
    admin = UserFactory(org=platform, email="admin@pay.cn", name="管理员甲")
    admin2 = UserFactory(org=platform, email="admin2@pay.cn", name="管理员乙")
    provider = OrganisationFactory(provider=True, name="付款测试科技有限公司")
    provider_owner = UserFactory(org=provider, email="provider@pay.cn")
    dbs.add(ProviderBalance(provider_id=provider.id, collected_fen=OWED, paid_out_fen=0))
    dbs.commit()
    return SimpleNamespace(
        platform=platform,
        admin=admin,
        admin2=admin2,
        provider=provider,
        provider_owner=provider_owner,
        actor=Actor(admin.id, platform.id, "127.0.0.1"),
        actor2=Actor(admin2.id, platform.id, "127.0.0.1"),
    )


@pytest.fixture
def proposed(app, dbs, pay):
    """¥30,000 proposed by the first administrator."""
    with services(app, dbs):
        return payouts.propose(pay.provider.id, 30_000_00, "三月在线支付款", pay.actor)


def balance(dbs, pay):
    b = dbs.get(ProviderBalance, pay.provider.id)
    dbs.refresh(b)
    return (b.collected_fen, b.paid_out_fen, b.pending_fen)


def stored(dbs, pay):
    """Everything a refusal must leave as it was: the payouts, the balance, the audit."""
    rows = dbs.execute(
        select(
            Payout.id,
            Payout.status,
            Payout.amount_fen,
            Payout.reference,
            Payout.approved_by_id,
            Payout.approval_note,
            Payout.approved_at,
            Payout.paid_by_id,
            Payout.cancelled_by_id,
        ).order_by(Payout.id)
    ).all()
    audited = dbs.scalar(
        select(func.count(AuditEntry.id)).where(AuditEntry.action.like("payout.%"))
    )
    return rows, balance(dbs, pay), audited


def refused(app, dbs, pay, call, *args, field=None):
    """``call(*args)`` raises a domain error and stores nothing; return its message."""
    before = stored(dbs, pay)
    with services(app, dbs), pytest.raises(DomainError) as error:
        call(*args)
    dbs.expire_all()
    assert stored(dbs, pay) == before
    if field is not None:
        assert error.value.field == field
    return str(error.value.message)


# --- the service ----------------------------------------------------------------------


def test_a_proposal_commits_its_amount(app, dbs, pay, proposed):
    assert proposed.status is PayoutStatus.PROPOSED and proposed.reference is None
    assert (proposed.proposed_by_id, proposed.proposal_note) == (pay.admin.id, "三月在线支付款")
    assert balance(dbs, pay) == (OWED, 0, 30_000_00)
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "payout.proposed")).one()
    assert entry.actor_user_id == pay.admin.id and entry.object_id == str(pay.provider.id)
    assert entry.details == {
        "payout_id": proposed.id,
        "amount_fen": 30_000_00,
        "note": "三月在线支付款",
    }


def test_a_proposal_needs_a_note_and_an_amount(app, dbs, pay):
    assert "note" in refused(app, dbs, pay, payouts.propose, pay.provider.id, 1, "  ", pay.actor)
    refused(app, dbs, pay, payouts.propose, pay.provider.id, 0, "说明", pay.actor, field="amount")


def test_the_proposer_cannot_approve_their_own_payout(app, dbs, pay, proposed):
    message = refused(app, dbs, pay, payouts.approve, proposed, 30_000_00, "自己批准", pay.actor)
    assert message == OWN


def test_a_second_administrator_approves_with_a_note_and_any_records_the_transfer(
    app, dbs, pay, proposed
):
    with services(app, dbs):
        payouts.approve(proposed, 30_000_00, "  已核对账号与金额  ", pay.actor2)
    dbs.refresh(proposed)
    assert proposed.status is PayoutStatus.APPROVED
    assert (proposed.proposed_by_id, proposed.approved_by_id) == (pay.admin.id, pay.admin2.id)
    assert proposed.approval_note == "已核对账号与金额" and proposed.approved_at is not None
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "payout.approved")).one()
    assert entry.actor_user_id == pay.admin2.id
    assert entry.details["note"] == "已核对账号与金额"
    assert entry.details["amount_fen"] == 30_000_00
    assert entry.details["proposed_by"] == pay.admin.id
    assert balance(dbs, pay) == (OWED, 0, 30_000_00)  # still committed, not yet paid out
    # Recording the transfer is a step of its own, open to any administrator (the proposer).
    with services(app, dbs):
        payouts.mark_paid(proposed, " HX-2026-0001 ", pay.actor)
    dbs.refresh(proposed)
    assert proposed.status is PayoutStatus.PAID and proposed.reference == "HX-2026-0001"
    assert proposed.paid_by_id == pay.admin.id and proposed.paid_at is not None
    assert balance(dbs, pay) == (OWED, 30_000_00, 0)
    paid = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "payout.paid")).one()
    assert paid.details["reference"] == "HX-2026-0001"
    message = refused(app, dbs, pay, payouts.cancel, proposed, "晚了", pay.actor2)
    assert "cannot be cancelled" in message


def test_an_approval_needs_a_note(app, dbs, pay, proposed):
    message = refused(
        app, dbs, pay, payouts.approve, proposed, 30_000_00, "   ", pay.actor2, field="note"
    )
    assert "note" in message


def test_approving_twice_is_refused_and_keeps_the_first_approval(app, dbs, pay, proposed):
    with services(app, dbs):
        payouts.approve(proposed, 30_000_00, "第一次", pay.actor2)
    third = UserFactory(org=pay.platform, email="admin3@pay.cn")
    message = refused(
        app,
        dbs,
        pay,
        payouts.approve,
        proposed,
        30_000_00,
        "第二次",
        Actor(third.id, pay.platform.id, None),
    )
    assert message == "This payout is already approved."
    dbs.refresh(proposed)
    assert (proposed.approved_by_id, proposed.approval_note) == (pay.admin2.id, "第一次")


def test_an_amount_other_than_the_one_shown_is_refused(app, dbs, pay, proposed):
    message = refused(app, dbs, pay, payouts.approve, proposed, 30_000_01, "已核对", pay.actor2)
    assert "not the one you saw" in message


def test_an_amount_changed_under_the_page_is_refused_by_the_update(app, dbs, pay, proposed):
    """The page showed ¥30,000; the row says otherwise by the time the UPDATE runs (the
    Python check saw the old amount): the conditional UPDATE refuses."""
    dbs.execute(
        text("UPDATE provider_payouts SET amount_fen = 29000000 WHERE id = :p"), {"p": proposed.id}
    )
    dbs.commit()  # the row changed; the object still says ¥30,000
    message = refused(app, dbs, pay, payouts.approve, proposed, 30_000_00, "已核对", pay.actor2)
    assert "changed meanwhile" in message or "not the one you saw" in message


def test_a_user_outside_the_platform_can_neither_propose_nor_approve(app, dbs, pay, proposed):
    provider = Actor(pay.provider_owner.id, pay.provider.id, None)
    agency = OrganisationFactory(agency=True)
    official = UserFactory(org=agency, email="official@pay.cn")
    for outsider in (provider, Actor(official.id, agency.id, None), Actor(None, None, None)):
        message = refused(app, dbs, pay, payouts.approve, proposed, 30_000_00, "好", outsider)
        assert message == "Only a platform administrator can do this."
        refused(app, dbs, pay, payouts.propose, pay.provider.id, 1_00, "说明", outsider)
        refused(app, dbs, pay, payouts.cancel, proposed, "理由", outsider)


def test_two_proposals_never_exceed_what_is_owed(app, dbs, pay, proposed):
    message = refused(
        app,
        dbs,
        pay,
        payouts.propose,
        pay.provider.id,
        OWED - 30_000_00 + 1,
        "再来一笔",
        pay.actor2,
        field="amount",
    )
    assert "counting the payouts already proposed" in message
    with services(app, dbs):
        payouts.propose(pay.provider.id, OWED - 30_000_00, "其余款项", pay.actor2)
    assert balance(dbs, pay) == (OWED, 0, OWED)
    refused(app, dbs, pay, payouts.propose, pay.provider.id, 1, "一分", pay.actor)


def test_cancelling_returns_the_pending_money(app, dbs, pay, proposed):
    refused(app, dbs, pay, payouts.cancel, proposed, "  ", pay.actor2, field="reason")
    with services(app, dbs):
        payouts.cancel(proposed, "金额有误，退回重提", pay.actor2)
    dbs.refresh(proposed)
    assert proposed.status is PayoutStatus.CANCELLED
    assert (proposed.cancelled_by_id, proposed.cancel_reason) == (
        pay.admin2.id,
        "金额有误，退回重提",
    )
    assert balance(dbs, pay) == (OWED, 0, 0)
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "payout.cancelled")).one()
    assert entry.details["reason"] == "金额有误，退回重提"
    message = refused(app, dbs, pay, payouts.approve, proposed, 30_000_00, "已核对", pay.actor2)
    assert "cancelled" in message
    with services(app, dbs):  # the whole amount may be proposed again
        payouts.propose(pay.provider.id, OWED, "全部款项", pay.actor)
    assert balance(dbs, pay) == (OWED, 0, OWED)


def test_paying_needs_an_approval_and_a_reference_used_once(app, dbs, pay, proposed):
    message = refused(app, dbs, pay, payouts.mark_paid, proposed, "HX-1", pay.actor2)
    assert "changed meanwhile" in message  # not approved yet
    with services(app, dbs):
        payouts.approve(proposed, 30_000_00, "已核对", pay.actor2)
        second = payouts.propose(pay.provider.id, 10_000_00, "第二笔", pay.actor2)
        payouts.approve(second, 10_000_00, "已核对", pay.actor)
    refused(app, dbs, pay, payouts.mark_paid, proposed, "   ", pay.actor, field="reference")
    with services(app, dbs):
        payouts.mark_paid(proposed, "HX-1", pay.actor)
    message = refused(
        app, dbs, pay, payouts.mark_paid, second, "HX-1", pay.actor, field="reference"
    )
    assert "already recorded" in message


def test_a_stripe_refund_cannot_take_money_a_proposal_commits(app, dbs, pay, proposed):
    def owe_less(amount_fen):
        payments._owe_provider_less(pay.provider.id, amount_fen)

    message = refused(app, dbs, pay, owe_less, OWED - 30_000_00 + 1)
    assert "cancel that payout on the platform first" in message
    with services(app, dbs):
        owe_less(OWED - 30_000_00)
    assert balance(dbs, pay) == (30_000_00, 0, 30_000_00)


def test_the_database_refuses_an_approval_by_the_proposer(dbs, pay, proposed):
    with pytest.raises(IntegrityError), dbs.begin_nested():
        dbs.execute(
            text(
                "UPDATE provider_payouts SET status = 'approved', approved_by_id = :u,"
                " approval_note = 'x' WHERE id = :p"
            ),
            {"u": pay.admin.id, "p": proposed.id},
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor an approval without a note
        dbs.execute(
            text("UPDATE provider_payouts SET approved_by_id = :u WHERE id = :p"),
            {"u": pay.admin2.id, "p": proposed.id},
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor paid without a reference
        dbs.execute(
            text("UPDATE provider_payouts SET status = 'paid' WHERE id = :p"), {"p": proposed.id}
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor more committed than owed
        dbs.execute(
            text("UPDATE provider_balances SET pending_fen = collected_fen + 1 - paid_out_fen")
        )
    dbs.execute(
        text("UPDATE provider_payouts SET approved_by_id = :u, approval_note = 'x' WHERE id = :p"),
        {"u": pay.admin2.id, "p": proposed.id},
    )  # another administrator: allowed


# --- the pages ------------------------------------------------------------------------


def approve_on_the_page(client, payout, note="已核对开户行账号与金额", amount=None, **kwargs):
    return client.form(
        f"/platform/payouts/{payout.id}/approve",
        {"note": note, "amount_fen": str(payout.amount_fen if amount is None else amount)},
        **kwargs,
    )


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


def test_on_the_page_one_proposes_and_another_approves(client, dbs, pay):
    client.login("admin@pay.cn")
    page = client.text("/platform/payouts")
    assert "付款测试科技有限公司" in page and "仍应付" in page and "提议付款" in page
    proposal = {"provider_id": str(pay.provider.id), "amount": "30000", "note": "三月在线支付款"}
    too_much = client.form("/platform/payouts", {**proposal, "amount": "100000.01"})
    assert too_much.status_code == 422
    assert "超出了平台仍应付该服务商的金额" in too_much.get_data(as_text=True)
    no_note = client.form("/platform/payouts", {**proposal, "note": ""})
    assert no_note.status_code == 422 and "请写明这笔付款的用途" in no_note.get_data(as_text=True)
    assert dbs.scalar(select(func.count(Payout.id))) == 0
    assert client.form("/platform/payouts", proposal).status_code == 302
    payout = dbs.scalars(select(Payout)).one()
    assert balance(dbs, pay) == (OWED, 0, 30_000_00)

    page = client.text("/platform/payouts")
    assert OWN_ZH not in page and "等待另一名管理员批准。" in page
    assert f"/platform/payouts/{payout.id}/approve" not in page  # no form for the proposer
    before = stored(dbs, pay)
    own = approve_on_the_page(client, payout, follow_redirects=True)
    assert OWN_ZH in own.get_data(as_text=True)
    assert stored(dbs, pay) == before
    logout(client)

    client.login("admin2@pay.cn")
    page = client.text("/platform/payouts")
    assert f'name="amount_fen" value="{payout.amount_fen}"' in page
    no_note = approve_on_the_page(client, payout, note="", follow_redirects=True)
    assert "批准前请写明您核对了哪些内容" in no_note.get_data(as_text=True)
    stale = approve_on_the_page(client, payout, amount=29_000_00, follow_redirects=True)
    assert "付款金额与您看到的不一致" in stale.get_data(as_text=True)
    forged = approve_on_the_page(client, payout, amount="-5", follow_redirects=True)
    assert forged.status_code == 200
    assert stored(dbs, pay) == before
    approve_on_the_page(client, payout)
    dbs.refresh(payout)
    assert payout.status is PayoutStatus.APPROVED and payout.approved_by_id == pay.admin2.id
    page = client.text("/platform/payouts")
    assert "管理员甲 · " in page and "管理员乙 · " in page  # who proposed, who approved
    assert "三月在线支付款" in page and "已核对开户行账号与金额" in page
    assert "已批准，待转账" in page
    again = approve_on_the_page(client, payout, note="再批一次", follow_redirects=True)
    assert "该付款已经批准。" in again.get_data(as_text=True)

    before = stored(dbs, pay)
    no_reference = client.form(
        f"/platform/payouts/{payout.id}/pay", {"reference": ""}, follow_redirects=True
    )
    assert "请输入银行转账流水号。" in no_reference.get_data(as_text=True)
    assert stored(dbs, pay) == before
    client.form(f"/platform/payouts/{payout.id}/pay", {"reference": "HX-2026-0001"})
    dbs.refresh(payout)
    assert payout.status is PayoutStatus.PAID and payout.paid_by_id == pay.admin2.id
    assert balance(dbs, pay) == (OWED, 30_000_00, 0)
    entries = dbs.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("payout.%")).order_by(AuditEntry.id)
    ).all()
    assert entries == ["payout.proposed", "payout.approved", "payout.paid"]


def test_the_proposers_refusal_in_english(english, dbs, pay, proposed):
    english.login("admin@pay.cn")
    assert "Waiting for another administrator" in english.text("/platform/payouts")
    before = stored(dbs, pay)
    own = approve_on_the_page(english, proposed, follow_redirects=True)
    assert OWN in own.get_data(as_text=True)
    assert stored(dbs, pay) == before


def test_cancelling_on_the_page_needs_a_reason(client, dbs, pay, proposed):
    client.login("admin2@pay.cn")
    before = stored(dbs, pay)
    client.form(f"/platform/payouts/{proposed.id}/cancel", {"reason": ""})
    assert stored(dbs, pay) == before
    client.form(f"/platform/payouts/{proposed.id}/cancel", {"reason": "账号有误"})
    dbs.refresh(proposed)
    assert proposed.status is PayoutStatus.CANCELLED
    assert balance(dbs, pay) == (OWED, 0, 0)
    page = client.text("/platform/payouts")
    assert "账号有误" in page and "经办人：管理员乙" in page


def test_others_cannot_reach_the_platform_pages(client, dbs, pay, proposed):
    client.login("provider@pay.cn")
    assert client.get("/platform/payouts").status_code in (403, 404)
    before = stored(dbs, pay)
    response = approve_on_the_page(client, proposed)
    assert response.status_code in (403, 404)
    assert stored(dbs, pay) == before


def test_the_provider_sees_approved_and_paid_payouts(app, client, dbs, pay, proposed):
    with services(app, dbs):
        later = payouts.propose(pay.provider.id, 10_000_00, "第二笔", pay.actor)
        payouts.approve(proposed, 30_000_00, "已核对", pay.actor2)
    client.login("provider@pay.cn")
    page = client.text("/payouts")
    assert "已批准，待转账" in page and "¥30,000.00" in page
    assert "¥10,000.00" not in page  # a proposal is the platform's own business
    with services(app, dbs):
        payouts.mark_paid(proposed, "HX-9", pay.actor)
        payouts.cancel(later, "重复", pay.actor2)
    page = client.text("/payouts")
    assert "HX-9" in page and "已批准，待转账" not in page
