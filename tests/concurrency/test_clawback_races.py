"""Officials deciding the same claw-back at the same moment (issue 16, four eyes).

A redemption delivered implausibly fast is held by a risk flag; its agency's officials all
press "propose a claw-back" at once, then all the others press "approve" at once, through the
Flask test client in real threads (SQLite by default, PostgreSQL under ``TEST_DATABASE_URL``).
The partial UNIQUE index lets one proposal in; the conditional UPDATE from 'proposed' lets one
approval through, so the money is clawed back exactly once and the books still balance.
"""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.audit import AuditEntry
from marketplace.db import db, writing
from marketplace.payments.models import Invoice, InvoiceStatus
from marketplace.vouchers import ledger
from marketplace.vouchers.models import (
    ClawBack,
    ClawBackStatus,
    EntryKind,
    FlagStatus,
    Reservation,
    ReservationStatus,
    RiskFlag,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
)
from tests.concurrency.conftest import colleagues, in_parallel, signed_in
from tests.concurrency.test_voucher_races import accepted_on_voucher, setup

OFFICIALS = 6
REASON = "虚假交付：现场核查无部署记录"


def flagged(app: Flask, tag: str) -> tuple[int, list[str]]:
    """A ¥20,000 redemption held by a fast-delivery flag, and the e-mails of the agency's
    other officials; committed for real."""
    data = setup(app, tag)
    with app.app_context(), writing():
        # delivered at once: implausibly fast, so held
        programme, _order = accepted_on_voucher(data, tag, "并发追回方案")
        flag = db.session.scalars(select(RiskFlag)).first()
        assert flag is not None
        emails = [f"official{i}@{tag}.cn" for i in range(2, OFFICIALS + 2)]
        colleagues(programme.agency, emails)
        db.session.commit()
        return flag.id, emails


def test_officials_proposing_and_approving_at_once_claw_back_once(race_app: Flask) -> None:
    flag_id, emails = flagged(race_app, "cbr")
    clients, tokens = signed_in(race_app, emails)

    def propose(i: int) -> int:
        response = clients[i].post(
            f"/agency/risk-flags/{flag_id}/propose",
            data={"csrf_token": tokens[i], "reason": f"{REASON}（{i}）"},
        )
        return response.status_code

    statuses = in_parallel(propose, OFFICIALS)
    assert all(s == 302 for s in statuses), statuses  # proposed or refused, never an error
    with race_app.app_context():
        (proposal,) = db.session.scalars(select(ClawBack)).all()
        assert proposal.status is ClawBackStatus.PROPOSED
        proposal_id, amount_fen = proposal.id, proposal.amount_fen
        proposer = db.session.get(User, proposal.proposed_by_id)
        assert proposer is not None
        proposer_email = proposer.email
    # everyone approves at once, the proposer too: exactly one other official gets through
    page = clients[emails.index(proposer_email)].get("/agency/risk-flags").get_data(as_text=True)
    assert not re.search(rf"/agency/clawbacks/{proposal_id}/approve", page)

    def approve(i: int) -> int:
        response = clients[i].post(
            f"/agency/clawbacks/{proposal_id}/approve",
            data={"csrf_token": tokens[i], "note": f"核对人{i}", "amount_fen": str(amount_fen)},
        )
        return response.status_code

    statuses = in_parallel(approve, OFFICIALS)
    assert all(s == 302 for s in statuses), statuses
    with race_app.app_context():
        proposal = db.session.get(ClawBack, proposal_id)
        assert proposal is not None and proposal.status is ClawBackStatus.APPROVED
        assert proposal.approved_by_id not in (None, proposal.proposed_by_id)
        approvals = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "clawback.approved",
                AuditEntry.object_id == str(proposal_id),
            )
        ).all()
        assert len(approvals) == 1, approvals
        assert approvals[0].actor_user_id == proposal.approved_by_id
        assert approvals[0].details["proposed_by"] == proposal.proposed_by_id
        assert proposal.approval_note == approvals[0].details["note"]
        clawbacks = db.session.scalars(
            select(VoucherEntry).where(VoucherEntry.kind == EntryKind.CLAWBACK)
        ).all()
        assert [e.amount_fen for e in clawbacks] == [20_000_00]
        reservation = db.session.scalars(select(Reservation)).one()
        assert reservation.status is ReservationStatus.CLAWED_BACK
        voucher = db.session.scalars(select(Voucher)).one()
        assert (voucher.redeemed_fen, voucher.clawed_back_fen) == (0, 20_000_00)
        assert db.session.scalars(select(VoucherProgramme)).one().issued_fen == 0
        live = db.session.scalars(select(Invoice).where(Invoice.status != InvoiceStatus.VOID)).all()
        assert [(i.voucher_fen, i.amount_fen) for i in live] == [(0, 60_000_00)]
        assert {f.status for f in db.session.scalars(select(RiskFlag))} == {FlagStatus.UPHELD}
        assert db.session.scalar(select(func.count(ClawBack.id))) == 1
    with race_app.app_context():
        assert ledger.check() == []
