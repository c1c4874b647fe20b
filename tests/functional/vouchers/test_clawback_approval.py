"""Four eyes on claw-backs (issue 16): upholding a risk flag proposes the claw-back; another
official of the same agency approves it with a note for the amount their page showed, and only
then is the money clawed back. The proposer never approves their own (the database refuses it
too); a rejection or a withdrawal, each with its note, returns the flags to a new decision.
Every refusal stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from marketplace.audit import AuditEntry
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers import ledger, risk
from marketplace.vouchers.models import (
    ClawBack,
    ClawBackStatus,
    FlagStatus,
    RecoveryClaim,
    Reservation,
    ReservationStatus,
    RiskFlag,
    VoucherEntry,
)
from tests.factories import UserFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

REASON = "虚假交付：现场核查无部署记录"
NOTE = "已复核交付记录、现场照片与核查结论"
OWN = "another official of your agency must approve it"
OWN_ZH = "追回由您提出，须由本单位另一名工作人员批准"

# what the parties are told of a claw-back (vouchers issued are told too: not these)
CLAWED_BACK = ("voucher_clawed_back", "voucher_recovery_claimed")


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="cbf")


@pytest.fixture
def flags(app, dbs, p):
    """A redemption of ¥20,000 held by two flags (a shared phone, a fast delivery)."""
    p.provider.contact_phone = "+86 0311 6666 8888"
    dbs.commit()
    p.issue_to(p.programme())
    accepted_order(app, dbs, p)
    found = list(dbs.scalars(select(RiskFlag).order_by(RiskFlag.id)))
    assert len(found) == 2
    return found


@pytest.fixture
def proposal(app, dbs, p, flags):
    """The first official's proposal to claw the redemption back."""
    with services(app, dbs):
        return risk.propose_clawback(flags[0], f"  {REASON} ", p.official_actor)


def snapshot(dbs):
    """Everything a decision on a claw-back may write."""
    dbs.expire_all()
    count = lambda model: dbs.scalar(select(func.count(model.id)))  # noqa: E731
    return (
        [
            (c.id, c.status, c.approved_by_id, c.approval_note, c.decided_by_id, c.decision_note)
            for c in dbs.scalars(select(ClawBack).order_by(ClawBack.id))
        ],
        [(f.id, f.status, f.decision_note) for f in dbs.scalars(select(RiskFlag))],
        [(r.id, r.status, r.held) for r in dbs.scalars(select(Reservation))],
        count(VoucherEntry),
        count(AuditEntry),
        count(Invoice),
        count(Notification),
        count(RecoveryClaim),
    )


def books_balance(app, dbs):
    with services(app, dbs):
        assert ledger.check() == []


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


# --- proposing ------------------------------------------------------------------------


def test_a_proposal_moves_no_money_and_keeps_the_redemption_held(app, dbs, p, flags, proposal):
    dbs.refresh(proposal)
    assert (proposal.status, proposal.proposed_by_id, proposal.reason) == (
        ClawBackStatus.PROPOSED,
        p.official.id,
        REASON,
    )
    assert proposal.amount_fen == 20_000_00 and proposal.approved_by_id is None
    for flag in flags:
        dbs.refresh(flag)
        assert flag.status is FlagStatus.OPEN
    reservation = dbs.scalars(select(Reservation)).one()
    assert (reservation.status, reservation.held) == (ReservationStatus.REDEEMED, True)
    assert (
        dbs.scalar(select(func.count(VoucherEntry.id)).where(VoucherEntry.kind == "clawback")) == 0
    )
    assert (
        dbs.scalar(select(func.count(Notification.id)).where(Notification.kind.in_(CLAWED_BACK)))
        == 0
    )
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "clawback.proposed")).one()
    assert (entry.actor_user_id, entry.details["reason"]) == (p.official.id, REASON)
    assert entry.details["amount_fen"] == 20_000_00
    books_balance(app, dbs)


def test_a_proposal_needs_a_reason_and_one_at_a_time(app, dbs, p, flags, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.propose_clawback(flags[1], "  ", p.official2_actor)
    assert refused.value.field == "note"
    with services(app, dbs), pytest.raises(DomainError) as refused:  # the other flag, same line
        risk.propose_clawback(flags[1], "再次提出", p.official2_actor)
    assert "already proposed" in str(refused.value.message)
    assert snapshot(dbs) == before


def test_the_database_holds_one_live_claw_back_per_redemption(dbs, p, proposal):
    with pytest.raises(IntegrityError), dbs.begin_nested():
        dbs.execute(
            text(
                "INSERT INTO voucher_clawbacks (reservation_id, programme_id, amount_fen, status,"
                " proposed_by_id, reason, created_at) VALUES (:r, :p, 1, 'proposed', :u, 'x',"
                " CURRENT_TIMESTAMP)"
            ),
            {"r": proposal.reservation_id, "p": proposal.programme_id, "u": p.official2.id},
        )


# --- approving ------------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_claw_back(app, dbs, p, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.approve_clawback(proposal, proposal.amount_fen, NOTE, p.official_actor)
    assert OWN in str(refused.value.message)
    assert snapshot(dbs) == before


def test_another_agencys_official_cannot_approve(app, dbs, p, proposal):
    elsewhere = pilot(app, dbs, tag="cbf-other").official2
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError):
        risk.approve_clawback(
            proposal, proposal.amount_fen, NOTE, Actor(elsewhere.id, elsewhere.org_id, None)
        )
    assert snapshot(dbs) == before


def test_a_second_official_approves_with_a_note_and_the_money_is_clawed_back(
    app, dbs, p, flags, proposal
):
    with services(app, dbs):
        risk.approve_clawback(proposal, 20_000_00, f"  {NOTE} ", p.official2_actor)
    dbs.refresh(proposal)
    assert proposal.status is ClawBackStatus.APPROVED
    assert (proposal.proposed_by_id, proposal.approved_by_id) == (p.official.id, p.official2.id)
    assert proposal.approval_note == NOTE and proposal.approved_at is not None
    for flag in flags:  # both flags of the redemption are upheld, with the proposer's reason
        dbs.refresh(flag)
        assert (flag.status, flag.decision_note) == (FlagStatus.UPHELD, REASON)
        assert flag.decided_by_id == p.official2.id and flag.decided_at is not None
    reservation = dbs.scalars(select(Reservation)).one()
    assert (reservation.status, reservation.held) == (ReservationStatus.CLAWED_BACK, False)
    entry = dbs.scalars(select(VoucherEntry).where(VoucherEntry.kind == "clawback")).one()
    assert (entry.amount_fen, entry.note, entry.actor_user_id) == (
        20_000_00,
        REASON,
        p.official2.id,
    )
    approval = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "clawback.approved")).one()
    assert approval.actor_user_id == p.official2.id
    assert approval.details["proposed_by"] == p.official.id  # the approval names the proposer
    assert (approval.details["note"], approval.details["reason"]) == (NOTE, REASON)
    assert approval.details["amount_fen"] == 20_000_00
    told = dbs.scalars(select(Notification).where(Notification.kind == "voucher_clawed_back"))
    assert {n.org_id: n.params["reason"] for n in told} == {
        p.enterprise.id: REASON,
        p.provider.id: REASON,
    }
    books_balance(app, dbs)


def test_an_approval_needs_a_note(app, dbs, p, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.approve_clawback(proposal, proposal.amount_fen, " \n ", p.official2_actor)
    assert refused.value.field == "note"
    assert snapshot(dbs) == before


def test_approving_twice_is_refused_and_keeps_the_first_approval(app, dbs, p, proposal):
    with services(app, dbs):
        risk.approve_clawback(proposal, proposal.amount_fen, "第一次", p.official2_actor)
    before = snapshot(dbs)
    third = UserFactory(org=p.agency, email="official3@cbf.cn")
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.approve_clawback(
            proposal, proposal.amount_fen, "第二次", Actor(third.id, p.agency.id, None)
        )
    assert "already approved" in str(refused.value.message)
    assert snapshot(dbs) == before
    dbs.refresh(proposal)
    assert (proposal.approved_by_id, proposal.approval_note) == (p.official2.id, "第一次")
    books_balance(app, dbs)


def test_an_amount_other_than_the_one_shown_is_refused(app, dbs, p, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.approve_clawback(proposal, proposal.amount_fen - 1, NOTE, p.official2_actor)
    assert "not the one you saw" in str(refused.value.message)
    assert snapshot(dbs) == before


def test_the_database_refuses_an_approval_by_the_proposer(dbs, p, proposal):
    with pytest.raises(IntegrityError), dbs.begin_nested():
        dbs.execute(
            text(
                "UPDATE voucher_clawbacks SET status = 'approved', approved_by_id = :u,"
                " approval_note = 'x', approved_at = CURRENT_TIMESTAMP WHERE id = :c"
            ),
            {"u": p.official.id, "c": proposal.id},
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor an approval without a note
        dbs.execute(
            text("UPDATE voucher_clawbacks SET approved_by_id = :u WHERE id = :c"),
            {"u": p.official2.id, "c": proposal.id},
        )
    with pytest.raises(IntegrityError), dbs.begin_nested():  # nor a rejection without one
        dbs.execute(
            text(
                "UPDATE voucher_clawbacks SET status = 'rejected', decided_by_id = :u,"
                " decided_at = CURRENT_TIMESTAMP WHERE id = :c"
            ),
            {"u": p.official2.id, "c": proposal.id},
        )
    dbs.execute(
        text("UPDATE voucher_clawbacks SET approved_by_id = :u, approval_note = 'x' WHERE id = :c"),
        {"u": p.official2.id, "c": proposal.id},
    )  # another official: allowed


# --- clearing, rejecting, withdrawing -------------------------------------------------


def test_clearing_a_flag_while_a_claw_back_waits_is_refused(app, dbs, p, flags, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.clear(flags[1], "已核实", p.official2_actor)
    assert "waiting for another official's approval" in str(refused.value.message)
    assert snapshot(dbs) == before


def test_a_rejection_returns_the_flags_to_a_new_decision(app, dbs, p, flags, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.reject_clawback(proposal, "", p.official2_actor)  # a rejection needs its note
    assert refused.value.field == "note"
    with services(app, dbs), pytest.raises(DomainError):  # the proposer withdraws instead
        risk.reject_clawback(proposal, "不追回", p.official_actor)
    assert snapshot(dbs) == before
    with services(app, dbs):
        risk.reject_clawback(proposal, " 证据不足，需补充现场核查 ", p.official2_actor)
    dbs.refresh(proposal)
    assert (proposal.status, proposal.decided_by_id, proposal.decision_note) == (
        ClawBackStatus.REJECTED,
        p.official2.id,
        "证据不足，需补充现场核查",
    )
    assert proposal.approved_by_id is None
    for flag in flags:
        dbs.refresh(flag)
        assert flag.status is FlagStatus.OPEN
    reservation = dbs.scalars(select(Reservation)).one()
    assert (reservation.status, reservation.held) == (ReservationStatus.REDEEMED, True)
    entry = dbs.scalars(select(AuditEntry).where(AuditEntry.action == "clawback.rejected")).one()
    assert entry.details["proposed_by"] == p.official.id
    with services(app, dbs), pytest.raises(DomainError):  # decided: it cannot be approved now
        risk.approve_clawback(proposal, proposal.amount_fen, NOTE, p.official2_actor)
    with services(app, dbs):  # a new decision: clearing is possible again
        risk.clear(flags[0], "补充核查后确认交付属实", p.official2_actor)
        risk.clear(flags[1], "补充核查后确认交付属实", p.official2_actor)
    dbs.refresh(reservation)
    assert reservation.held is False
    books_balance(app, dbs)


def test_the_proposer_withdraws_with_a_reason(app, dbs, p, flags, proposal):
    before = snapshot(dbs)
    with services(app, dbs), pytest.raises(DomainError):  # only the proposer
        risk.withdraw_clawback(proposal, "撤回", p.official2_actor)
    with services(app, dbs), pytest.raises(DomainError) as refused:
        risk.withdraw_clawback(proposal, "   ", p.official_actor)
    assert refused.value.field == "note"
    assert snapshot(dbs) == before
    with services(app, dbs):
        risk.withdraw_clawback(proposal, "理由写错，重新提出", p.official_actor)
    dbs.refresh(proposal)
    assert (proposal.status, proposal.decided_by_id) == (ClawBackStatus.WITHDRAWN, p.official.id)
    assert dbs.scalar(
        select(func.count(AuditEntry.id)).where(AuditEntry.action == "clawback.withdrawn")
    )
    with services(app, dbs):  # proposed anew, and approved by the other official
        again = risk.propose_clawback(flags[0], REASON, p.official_actor)
        risk.approve_clawback(again, again.amount_fen, NOTE, p.official2_actor)
    assert dbs.scalars(select(Reservation)).one().status is ReservationStatus.CLAWED_BACK
    books_balance(app, dbs)


# --- the pages ------------------------------------------------------------------------


def test_on_the_page_the_proposer_waits_and_is_refused(client, dbs, p, flags, proposal):
    client.login(p.official.email)
    page = client.text("/agency/risk-flags")
    assert "追回由您提出，正在等待另一名工作人员批准。" in page
    assert f"/agency/clawbacks/{proposal.id}/approve" not in page
    assert f"/risk-flags/{flags[0].id}/clear" not in page  # while the claw-back waits
    before = snapshot(dbs)
    refused = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": NOTE, "amount_fen": str(proposal.amount_fen)},
        follow_redirects=True,
    )
    assert OWN_ZH in refused.get_data(as_text=True)
    cleared = client.form(
        f"/agency/risk-flags/{flags[1].id}/clear", {"reason": "已核实"}, follow_redirects=True
    )
    assert "请先驳回或撤回该追回，再清除风险标记" in cleared.get_data(as_text=True)
    assert snapshot(dbs) == before
    client.form(f"/agency/clawbacks/{proposal.id}/withdraw", {"reason": "重新核查"})
    dbs.refresh(proposal)
    assert proposal.status is ClawBackStatus.WITHDRAWN
    page = client.text("/agency/risk-flags")
    assert "提出追回" in page and "提出人已撤回" in page and "重新核查" in page


def test_on_the_page_the_second_official_sees_the_proposal_and_approves(
    client, dbs, p, flags, proposal
):
    client.login(p.official2.email)
    page = client.text("/agency/risk-flags")
    assert "追回待批准" in page and "已提出追回" in page
    assert p.official.name in page and REASON in page and "¥20,000.00" in page
    assert f'name="amount_fen" value="{proposal.amount_fen}"' in page
    assert "批准追回 ¥20,000.00" in page and "驳回追回" in page
    before = snapshot(dbs)
    no_note = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": "", "amount_fen": str(proposal.amount_fen)},
        follow_redirects=True,
    )
    assert "批准前请写明您核对了哪些内容" in no_note.get_data(as_text=True)
    stale = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": NOTE, "amount_fen": str(proposal.amount_fen + 100)},
        follow_redirects=True,
    )
    assert "追回金额与您看到的不一致" in stale.get_data(as_text=True)
    forged = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": NOTE, "amount_fen": "-5"},
        follow_redirects=True,
    )
    assert forged.status_code == 200
    assert snapshot(dbs) == before
    client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": NOTE, "amount_fen": str(proposal.amount_fen)},
    )
    dbs.refresh(proposal)
    assert proposal.status is ClawBackStatus.APPROVED and proposal.approved_by_id == p.official2.id
    page = client.text("/agency/risk-flags")
    assert "已批准：已追回" in page and NOTE in page and p.official2.name in page


def test_on_the_page_the_second_official_rejects(english, dbs, p, flags, proposal):
    english.login(p.official2.email)
    english.form(f"/agency/clawbacks/{proposal.id}/reject", {"reason": ""})
    dbs.refresh(proposal)
    assert proposal.status is ClawBackStatus.PROPOSED  # a rejection needs its reason
    english.form(f"/agency/clawbacks/{proposal.id}/reject", {"reason": "Evidence is thin"})
    dbs.refresh(proposal)
    assert proposal.status is ClawBackStatus.REJECTED
    page = english.text("/agency/risk-flags")
    assert "Rejected: not clawed back" in page and "Evidence is thin" in page
    assert f"/risk-flags/{flags[0].id}/clear" in page and "Propose a claw-back" in page


def test_another_agency_cannot_reach_the_claw_back(client, app, dbs, p, proposal):
    elsewhere = pilot(app, dbs, tag="cbf-away").official2
    client.login(elsewhere.email)
    before = snapshot(dbs)
    answer = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": NOTE, "amount_fen": str(proposal.amount_fen)},
    )
    assert answer.status_code == 404
    assert snapshot(dbs) == before


def test_the_audit_trail_names_the_claw_back_decisions(client, app, dbs, p, proposal):
    with services(app, dbs):
        risk.approve_clawback(proposal, proposal.amount_fen, NOTE, p.official2_actor)
    client.login(p.official.email)
    page = client.text("/agency/audit")
    assert "已提出追回" in page and "已批准追回：转型券资金已追回" in page
