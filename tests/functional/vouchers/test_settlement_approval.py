"""Four eyes on settlements (issue 16): one official draws a settlement up, another approves
it with a note for the total their page showed; the proposer never approves their own, and
the database refuses it too. Every refusal stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.security import Actor
from marketplace.vouchers import settlement
from marketplace.vouchers.models import Reservation, Settlement, SettlementStatus
from tests.factories import UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

OWN = "another official of your agency must approve it"
OWN_ZH = "须由本单位另一名工作人员批准"


@pytest.fixture
def p(app, dbs, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)  # nothing held for review
    return pilot(app, dbs, tag="four")


@pytest.fixture
def draft(app, dbs, p):
    """A settlement of ¥20,000 drawn up by the first official."""
    programme = p.programme()
    p.issue_to(programme)
    accepted_order(app, dbs, p)
    with services(app, dbs):
        return settlement.draw_up(programme, p.provider.id, p.official_actor)


def approvals(dbs, s):
    return dbs.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "settlement.approved", AuditEntry.object_id == str(s.id)
        )
    )


def unchanged_draft(dbs, s):
    dbs.refresh(s)
    assert s.status is SettlementStatus.DRAFT
    assert (s.approved_by_id, s.approval_note, s.approved_at) == (None, None, None)
    assert approvals(dbs, s) == 0


def approve_on_the_page(client, s, note="已核对明细、开户行账号与合计金额", total=None, **kwargs):
    return client.form(
        f"/settlements/{s.id}/approve",
        {
            "note": note,
            "total_fen": str(s.total_fen if total is None else total),
            "confirmed": "y",
        },
        **kwargs,
    )


# --- the service ----------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_settlement(app, dbs, p, draft):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.approve(draft, draft.total_fen, "自己批准", p.official_actor)
    assert OWN in str(refused.value.message)
    unchanged_draft(dbs, draft)
    elsewhere = pilot(app, dbs, tag="four-other").official2  # another agency's official
    with services(app, dbs), pytest.raises(DomainError):
        settlement.approve(
            draft, draft.total_fen, "已核对", Actor(elsewhere.id, elsewhere.org_id, None)
        )
    unchanged_draft(dbs, draft)


def test_a_second_official_approves_with_a_note(app, dbs, p, draft):
    with services(app, dbs):
        settlement.approve(draft, 20_000_00, "  已核对明细与账号  ", p.official2_actor)
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.APPROVED
    assert (draft.created_by_id, draft.approved_by_id) == (p.official.id, p.official2.id)
    assert draft.approval_note == "已核对明细与账号" and draft.approved_at is not None
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "settlement.approved")).one()
    assert entry.actor_user_id == p.official2.id
    assert entry.details["note"] == "已核对明细与账号"
    assert entry.details["total_fen"] == 20_000_00
    # Marking paid stays a step of its own, open to any official of the agency.
    with services(app, dbs):
        settlement.mark_paid(draft, "HX-0001", p.official_actor)
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.PAID and draft.paid_by_id == p.official.id


def test_an_approval_needs_a_note(app, dbs, p, draft):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.approve(draft, draft.total_fen, "   ", p.official2_actor)
    assert refused.value.field == "note"
    unchanged_draft(dbs, draft)


def test_approving_twice_is_refused_and_keeps_the_first_approval(app, dbs, p, draft):
    with services(app, dbs):
        settlement.approve(draft, draft.total_fen, "第一次", p.official2_actor)
    third = UserFactory(org=p.agency, email="official3@four.cn")  # any other owner
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.approve(draft, draft.total_fen, "第二次", Actor(third.id, p.agency.id, None))
    assert "already approved" in str(refused.value.message)
    dbs.refresh(draft)
    assert (draft.approved_by_id, draft.approval_note) == (p.official2.id, "第一次")
    assert approvals(dbs, draft) == 1


def test_a_total_other_than_the_one_shown_is_refused(app, dbs, p, draft):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.approve(draft, draft.total_fen - 1, "已核对", p.official2_actor)
    assert "not the one you saw" in str(refused.value.message)
    unchanged_draft(dbs, draft)


def test_a_cancelled_settlement_cannot_be_approved(app, dbs, p, draft):
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.cancel(draft, "", p.official2_actor)  # a rejection needs its reason
    assert refused.value.field == "reason"
    with services(app, dbs):
        settlement.cancel(draft, "明细有误，退回重做", p.official2_actor)
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.CANCELLED
    assert (draft.cancelled_by_id, draft.cancel_reason) == (p.official2.id, "明细有误，退回重做")
    assert (
        dbs.scalar(select(func.count(Reservation.id)).where(Reservation.settlement_id.is_not(None)))
        == 0
    )
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "settlement.cancelled")).one()
    assert entry.details["reason"] == "明细有误，退回重做"
    with services(app, dbs), pytest.raises(DomainError) as refused:
        settlement.approve(draft, draft.total_fen, "已核对", p.official2_actor)
    assert "cancelled" in str(refused.value.message)
    dbs.refresh(draft)
    assert draft.approved_by_id is None and approvals(dbs, draft) == 0


def test_the_database_refuses_an_approval_by_the_proposer(dbs, p, draft):
    with pytest.raises(IntegrityError), dbs.begin_nested():
        dbs.execute(
            text(
                "UPDATE voucher_settlements SET status = 'approved', approved_by_id = :u,"
                " approval_note = 'x' WHERE id = :s"
            ),
            {"u": p.official.id, "s": draft.id},
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor an approval without a note
        dbs.execute(
            text("UPDATE voucher_settlements SET approved_by_id = :u WHERE id = :s"),
            {"u": p.official2.id, "s": draft.id},
        )
    dbs.execute(
        text(
            "UPDATE voucher_settlements SET approved_by_id = :u, approval_note = 'x' WHERE id = :s"
        ),
        {"u": p.official2.id, "s": draft.id},
    )  # another official: allowed


# --- the pages ------------------------------------------------------------------------


def test_on_the_page_the_proposer_is_refused_and_the_second_official_approves(
    client, dbs, p, draft
):
    client.login("official@four.cn")
    page = client.text(f"/settlements/{draft.id}")
    assert OWN_ZH in page and "/approve" not in page  # no approve form for the proposer
    refused = approve_on_the_page(client, draft, follow_redirects=True)
    assert OWN_ZH in refused.get_data(as_text=True)
    unchanged_draft(dbs, draft)
    client.post("/logout", data={"csrf_token": client.csrf_token()})

    client.login("official2@four.cn")
    page = client.text(f"/settlements/{draft.id}")
    assert f'name="total_fen" value="{draft.total_fen}"' in page
    no_note = approve_on_the_page(client, draft, note="", follow_redirects=True)
    assert "批准前请写明您核对了哪些内容" in no_note.get_data(as_text=True)
    unchanged_draft(dbs, draft)
    approve_on_the_page(client, draft, note="已核对明细、开户行账号与合计金额")
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.APPROVED and draft.approved_by_id == p.official2.id
    page = client.text(f"/settlements/{draft.id}")
    assert f"<dd>{p.official.name} · " in page  # who proposed
    assert f"经办人：{p.official2.name}<" in page  # who approved
    assert "已核对明细、开户行账号与合计金额" in page
    again = approve_on_the_page(client, draft, note="再批一次", follow_redirects=True)
    assert "该结算单已经批准" in again.get_data(as_text=True)
    assert approvals(dbs, draft) == 1


def test_the_proposers_refusal_in_english(english, dbs, p, draft):
    english.login("official@four.cn")
    assert OWN in english.text(f"/settlements/{draft.id}")
    refused = approve_on_the_page(english, draft, follow_redirects=True)
    assert f"You drew up this settlement; {OWN}." in refused.get_data(as_text=True)
    unchanged_draft(dbs, draft)


def test_on_the_page_an_older_total_and_a_cancelled_settlement_are_refused(client, dbs, p, draft):
    client.login("official2@four.cn")
    stale = approve_on_the_page(client, draft, total=draft.total_fen + 100, follow_redirects=True)
    assert "结算单合计金额与您看到的不一致" in stale.get_data(as_text=True)
    unchanged_draft(dbs, draft)
    forged = approve_on_the_page(client, draft, total="-5", follow_redirects=True)
    assert forged.status_code == 200
    unchanged_draft(dbs, draft)
    client.form(f"/settlements/{draft.id}/cancel", {"reason": ""})
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.DRAFT  # a rejection needs its reason
    client.form(f"/settlements/{draft.id}/cancel", {"reason": "服务商账号有误"})
    dbs.refresh(draft)
    assert draft.status is SettlementStatus.CANCELLED
    page = client.text(f"/settlements/{draft.id}")
    assert "服务商账号有误" in page and f"经办人：{p.official2.name}<" in page
    late = approve_on_the_page(client, draft, follow_redirects=True)
    assert "该结算单已取消，不能批准" in late.get_data(as_text=True)
    dbs.refresh(draft)
    assert draft.approved_by_id is None and approvals(dbs, draft) == 0


def test_the_programme_page_says_who_proposed_a_draft(client, dbs, p, draft):
    client.login("official2@four.cn")
    page = client.text(f"/agency/programmes/{draft.programme_id}")
    assert f"由{p.official.name}生成，待另一名工作人员批准" in page
    assert dbs.get(Settlement, draft.id).number in page
