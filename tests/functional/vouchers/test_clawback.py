"""Claw-back is money, not a label (issue 16): upholding a risk flag (a claw-back proposed by one
official and approved by another) bills the voucher share to the enterprise on a corrected
invoice, tells both parties why, and the books still balance."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.db import utcnow
from marketplace.errors import DomainError
from marketplace.notifications import Notification
from marketplace.payments import services as payments
from marketplace.payments.models import Invoice, InvoiceKind, InvoiceStatus
from marketplace.vouchers import figures, ledger, risk, settlement
from marketplace.vouchers.models import (
    ClawBack,
    ClawBackStatus,
    FlagStatus,
    RecoveryClaim,
    RecoveryStatus,
    Reservation,
    ReservationStatus,
    RiskFlag,
    RiskReason,
    SettlementStatus,
)
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import pilot
from tests.functional.vouchers.test_vouchers import accepted_order

REASON = "虚假交付：现场核查无部署记录"

# what the parties are told of a claw-back (vouchers issued are told too: not these)
CLAWED_BACK = ("voucher_clawed_back", "voucher_recovery_claimed")


@pytest.fixture
def p(app, dbs):
    return pilot(app, dbs, tag="cb")


@pytest.fixture
def voucher(p):
    return p.issue_to(p.programme())


def books_balance(app, dbs):
    with services(app, dbs):
        assert ledger.check() == []


def live_invoices(dbs, line):
    return list(
        dbs.scalars(
            select(Invoice)
            .where(Invoice.order_line_id == line.id, Invoice.status != InvoiceStatus.VOID)
            .order_by(Invoice.id)
        )
    )


def first_flag(dbs):
    return dbs.scalars(select(RiskFlag).order_by(RiskFlag.id)).first()


def test_an_unpaid_invoice_is_voided_and_reissued_with_the_voucher_share(app, dbs, p, voucher):
    line = accepted_order(app, dbs, p)
    (before,) = live_invoices(dbs, line)
    assert (before.gross_fen, before.voucher_fen, before.amount_fen) == (
        60_000_00,
        20_000_00,
        40_000_00,
    )
    p.claw_back(first_flag(dbs), REASON)
    dbs.refresh(before)
    assert before.status is InvoiceStatus.VOID and REASON in (before.void_reason or "")
    (after,) = live_invoices(dbs, line)
    assert after.kind is InvoiceKind.CO_PAYMENT and after.number != before.number
    assert (after.gross_fen, after.voucher_fen, after.amount_fen) == (60_000_00, 0, 60_000_00)
    assert after.sequence == (before.sequence or 0) + 1  # gap-free numbering
    dbs.refresh(voucher)
    assert (voucher.redeemed_fen, voucher.clawed_back_fen) == (0, 20_000_00)
    assert {f.status for f in dbs.scalars(select(RiskFlag))} == {FlagStatus.UPHELD}
    books_balance(app, dbs)


def test_a_paid_invoice_gets_an_invoice_for_the_voucher_share(app, dbs, p, voucher):
    line = accepted_order(app, dbs, p)
    (paid,) = live_invoices(dbs, line)
    with services(app, dbs):
        payments.record_transfer(paid, 10_000_00, "HX-1", utcnow(), p.official_actor)
    p.claw_back(first_flag(dbs), REASON)
    dbs.refresh(paid)
    assert paid.status is InvoiceStatus.FINALISED and paid.voucher_fen == 20_000_00  # kept
    _paid, extra = live_invoices(dbs, line)
    assert extra.kind is InvoiceKind.VOUCHER_SHORTFALL
    assert (extra.gross_fen, extra.voucher_fen, extra.amount_fen) == (20_000_00, 0, 20_000_00)
    assert extra.enterprise_id == p.enterprise.id and extra.provider_id == p.provider.id
    assert "clawed back" in extra.description or "追回" in extra.description
    with services(app, dbs):  # billing again finds nothing more owed
        assert (
            payments.bill_clawback(
                line.id, p.provider.id, p.enterprise.id, 0, REASON, p.official_actor
            )
            == []
        )
    assert len(live_invoices(dbs, line)) == 2
    books_balance(app, dbs)


def test_both_parties_are_told_with_the_reason(app, dbs, p, voucher):
    line = accepted_order(app, dbs, p)
    p.claw_back(first_flag(dbs), REASON)
    told = dbs.scalars(select(Notification).where(Notification.kind == "voucher_clawed_back"))
    by_org = {n.org_id: n for n in told}
    assert set(by_org) == {p.enterprise.id, p.provider.id}
    (invoice,) = live_invoices(dbs, line)
    for n in by_org.values():
        assert n.params["reason"] == REASON and n.link == f"/invoices/{invoice.id}"


def test_proposing_again_after_the_claw_back_is_refused_and_stores_nothing(app, dbs, p, voucher):
    line = accepted_order(app, dbs, p)
    flag = first_flag(dbs)
    p.claw_back(flag, REASON)
    counts = (
        dbs.scalar(select(func.count(Invoice.id))),
        dbs.scalar(select(func.count(Notification.id))),
    )
    with services(app, dbs), pytest.raises(DomainError):
        risk.propose_clawback(flag, "再次追回", p.official_actor)
    assert (
        dbs.scalar(select(func.count(Invoice.id))),
        dbs.scalar(select(func.count(Notification.id))),
    ) == counts
    assert [i.amount_fen for i in live_invoices(dbs, line)] == [60_000_00]
    dbs.refresh(voucher)
    assert voucher.clawed_back_fen == 20_000_00
    books_balance(app, dbs)


def test_clawed_back_money_returns_to_the_budget(english, app, dbs, p, voucher):
    """The budget rule (``risk.claw_back``): money never paid out goes back to the budget, so
    it can be issued again; the figures show it clawed back, not spent, and left to issue."""
    programme = voucher.programme
    accepted_order(app, dbs, p)
    dbs.refresh(programme)
    assert programme.issued_fen == 20_000_00
    p.claw_back(first_flag(dbs), REASON)
    dbs.refresh(programme)
    assert programme.issued_fen == 0
    with services(app, dbs):
        shown = figures.of(programme)
    assert (shown.issued_fen, shown.redeemed_fen, shown.clawed_back_fen) == (
        20_000_00,
        20_000_00,
        20_000_00,
    )
    assert (shown.spent_fen, shown.settled_fen, shown.held_fen, shown.available_fen) == (0,) * 4
    assert shown.left_to_issue_fen == programme.budget_fen == 1_000_000_00
    dbs.refresh(voucher)
    assert voucher.available_fen == 0  # the holder does not get it back to spend
    books_balance(app, dbs)
    english.login(p.official.email)
    page = english.get(f"/agency/programmes/{programme.id}").get_data(as_text=True)
    for name, fen in (
        ("issued", 20_000_00),
        ("left_to_issue", 1_000_000_00),
        ("redeemed", 20_000_00),
        ("clawed_back", 20_000_00),
        ("settled", 0),
        ("held", 0),
    ):
        assert f'data-figure="{name}" data-fen="{fen}"' in page, name
    # and the budget is there to issue again: the budget's worth of vouchers, this one included
    other = p.issue_to(programme, OrganisationFactory())
    assert other.face_value_fen == 20_000_00
    books_balance(app, dbs)


def logout(client):
    client.post("/logout", data={"csrf_token": client.csrf_token()})


def test_proposing_and_approving_through_the_pages(client, app, dbs, p, voucher):
    line = accepted_order(app, dbs, p)
    flag = first_flag(dbs)
    client.login(p.official.email)
    answer = client.form(f"/agency/risk-flags/{flag.id}/propose", {"reason": REASON})
    assert answer.status_code == 302
    dbs.refresh(flag)
    assert flag.status is FlagStatus.OPEN  # nothing moves before the approval
    assert flag.reservation.status is ReservationStatus.REDEEMED and flag.reservation.held
    proposal = dbs.scalars(select(ClawBack)).one()
    assert (proposal.status, proposal.proposed_by_id, proposal.reason) == (
        ClawBackStatus.PROPOSED,
        p.official.id,
        REASON,
    )
    page = client.text("/agency/risk-flags")
    assert "追回待批准" in page and "等待另一名工作人员批准" in page
    assert f"/agency/clawbacks/{proposal.id}/withdraw" in page
    assert f"/agency/clawbacks/{proposal.id}/approve" not in page  # not to the proposer
    logout(client)

    client.login(p.official2.email)
    page = client.text("/agency/risk-flags")
    assert f'name="amount_fen" value="{proposal.amount_fen}"' in page
    assert "批准追回" in page and p.official.name in page and REASON in page
    answer = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": "已复核交付记录", "amount_fen": str(proposal.amount_fen)},
    )
    assert answer.status_code == 302
    for row in (flag, flag.reservation, proposal):
        dbs.refresh(row)
    assert flag.status is FlagStatus.UPHELD
    assert flag.reservation.status is ReservationStatus.CLAWED_BACK
    assert (proposal.status, proposal.approved_by_id) == (ClawBackStatus.APPROVED, p.official2.id)
    assert [i.amount_fen for i in live_invoices(dbs, line)] == [60_000_00]
    again = client.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": "再批一次", "amount_fen": str(proposal.amount_fen)},
        follow_redirects=True,
    )
    assert "该追回已经批准" in again.get_data(as_text=True)  # refused, in the default language
    assert [i.amount_fen for i in live_invoices(dbs, line)] == [60_000_00]
    dbs.refresh(voucher)
    assert voucher.clawed_back_fen == 20_000_00
    record = client.text(f"/agency/order-lines/{line.id}")
    for shown in (p.official.name, p.official2.name, REASON, "已复核交付记录"):
        assert shown in record, shown


# --- settled and paid: a recovery claim against the provider ------------------------------


def settled_and_paid(app, dbs, p, voucher, monkeypatch):
    """A line accepted without a flag, settled and paid to the provider; a later review then
    finds it not genuine (a flag raised on the settled redemption)."""
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    reservation = dbs.scalars(select(Reservation)).one()
    with services(app, dbs):
        s = settlement.draw_up(voucher.programme, p.provider.id, p.official_actor)
        settlement.approve(s, s.total_fen, "已核对", p.official2_actor)
        settlement.mark_paid(s, "HX-PAID-1", p.official_actor)
    flag = RiskFlag(
        reservation_id=reservation.id,
        reason=RiskReason.SHARED_BANK_ACCOUNT,
        detail="事后审计",
        status=FlagStatus.OPEN,
    )
    dbs.add(flag)
    dbs.commit()
    return line, reservation, s, flag


def test_settled_and_paid_becomes_a_recovery_claim(app, dbs, p, voucher, monkeypatch):
    line, reservation, s, flag = settled_and_paid(app, dbs, p, voucher, monkeypatch)
    p.claw_back(flag, REASON)
    claim = dbs.scalars(select(RecoveryClaim)).one()
    assert (claim.provider_id, claim.programme_id, claim.settlement_id) == (
        p.provider.id,
        voucher.programme_id,
        s.id,
    )
    assert (claim.amount_fen, claim.reason, claim.status) == (
        20_000_00,
        REASON,
        RecoveryStatus.OPEN,
    )
    # no negative payout, no move on the voucher: it was settled, and the ledger says so
    dbs.refresh(s)
    dbs.refresh(voucher)
    dbs.refresh(reservation)
    assert s.status is SettlementStatus.PAID and s.total_fen == 20_000_00
    assert (voucher.redeemed_fen, voucher.settled_fen, voucher.clawed_back_fen) == (
        20_000_00,
        20_000_00,
        0,
    )
    assert reservation.status is ReservationStatus.REDEEMED
    # the enterprise is billed the voucher share all the same (its invoice was unpaid)
    (invoice,) = live_invoices(dbs, line)
    assert (invoice.voucher_fen, invoice.amount_fen) == (0, 60_000_00)
    kinds = {
        n.org_id: n.kind
        for n in dbs.scalars(select(Notification).where(Notification.kind.in_(CLAWED_BACK)))
    }
    assert kinds == {
        p.enterprise.id: "voucher_clawed_back",
        p.provider.id: "voucher_recovery_claimed",
    }
    programme = voucher.programme
    dbs.refresh(programme)
    assert programme.issued_fen == 20_000_00  # not back in the budget until repaid
    books_balance(app, dbs)
    with services(app, dbs), pytest.raises(DomainError):  # twice: refused, nothing stored
        settlement.claim_recovery(reservation, "再次", p.official_actor)
    assert dbs.scalar(select(func.count(RecoveryClaim.id))) == 1
    with services(app, dbs):
        settlement.mark_recovered(claim, "HX-BACK-1", p.official_actor)
    assert (claim.status, claim.reference) == (RecoveryStatus.RECOVERED, "HX-BACK-1")
    dbs.refresh(programme)
    assert programme.issued_fen == 0  # repaid: back in the budget
    with services(app, dbs):
        shown = figures.of(programme)
    assert (shown.settled_fen, shown.recovered_fen, shown.clawed_back_fen) == (
        20_000_00,
        20_000_00,
        0,
    )
    assert shown.left_to_issue_fen == programme.budget_fen
    with services(app, dbs), pytest.raises(DomainError):
        settlement.mark_recovered(claim, "HX-BACK-2", p.official_actor)
    books_balance(app, dbs)


def test_a_redemption_in_an_unpaid_settlement_is_refused(app, dbs, p, voucher, monkeypatch):
    monkeypatch.setitem(app.config, "RISK_FAST_DELIVERY_BP", 0)
    line = accepted_order(app, dbs, p)
    reservation = dbs.scalars(select(Reservation)).one()
    with services(app, dbs):
        settlement.draw_up(voucher.programme, p.provider.id, p.official_actor)
    flag = RiskFlag(
        reservation_id=reservation.id, reason=RiskReason.SHARED_ADDRESS, status=FlagStatus.OPEN
    )
    dbs.add(flag)
    dbs.commit()
    with services(app, dbs), pytest.raises(DomainError):
        risk.propose_clawback(flag, REASON, p.official_actor)
    dbs.refresh(flag)
    assert flag.status is FlagStatus.OPEN
    assert dbs.scalar(select(func.count(RecoveryClaim.id))) == 0
    assert dbs.scalar(select(func.count(ClawBack.id))) == 0
    assert [i.voucher_fen for i in live_invoices(dbs, line)] == [20_000_00]
    books_balance(app, dbs)


def test_the_agency_sees_and_closes_the_recovery_claim(english, app, dbs, p, voucher, monkeypatch):
    _line, _reservation, s, flag = settled_and_paid(app, dbs, p, voucher, monkeypatch)
    english.login(p.official.email)
    english.form(f"/agency/risk-flags/{flag.id}/propose", {"reason": REASON})
    assert dbs.scalar(select(func.count(RecoveryClaim.id))) == 0  # not before the approval
    logout(english)
    english.login(p.official2.email)
    proposal = dbs.scalars(select(ClawBack)).one()
    english.form(
        f"/agency/clawbacks/{proposal.id}/approve",
        {"note": "Checked the audit", "amount_fen": str(proposal.amount_fen)},
    )
    claim = dbs.scalars(select(RecoveryClaim)).one()
    page = english.text("/agency/risk-flags")
    for shown in (
        "Recovery claims",
        s.number,
        "¥20,000.00",
        REASON,
        "To be repaid by the provider",
    ):
        assert shown in page, shown
    answer = english.form(f"/agency/recovery-claims/{claim.id}/recovered", {"reference": "HX-9"})
    assert answer.status_code == 302
    dbs.refresh(claim)
    assert claim.status is RecoveryStatus.RECOVERED
    assert "Repaid" in english.text("/agency/risk-flags")
    books_balance(app, dbs)


def test_the_parties_read_the_claw_back_in_their_language(english, app, dbs, p, voucher):
    accepted_order(app, dbs, p)
    p.claw_back(first_flag(dbs), REASON)
    english.login(p.owner.email)
    page = english.text("/notifications")
    assert "¥20,000.00 of voucher money" in page and "clawed back" in page and REASON in page
