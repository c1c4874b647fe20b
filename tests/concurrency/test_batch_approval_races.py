"""Officials approving the same proposed voucher batch at the same moment: issued once.

One official proposes a batch above the programme's threshold; the agency's other officials
all press "approve" at once (and, in the second test, some press "cancel"), through the Flask
test client in real threads (SQLite by default, PostgreSQL under ``TEST_DATABASE_URL``). The
conditional UPDATE from 'proposed' lets exactly one decision through; the others are told
the batch changed meanwhile and store nothing: no second voucher, no second budget draw.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import db, writing
from marketplace.vouchers import issuing, ledger
from marketplace.vouchers.models import (
    IssueRun,
    RunStatus,
    Voucher,
    VoucherEntry,
    VoucherProgramme,
)
from tests.concurrency.conftest import colleagues, in_parallel, signed_in
from tests.concurrency.test_voucher_races import setup

APPROVERS = 6
ENTERPRISES = 3
FACE = 20_000_00


def proposed(app: Flask, tag: str) -> tuple[int, int, list[str]]:
    """A batch of three ¥20,000 vouchers proposed by the first official (the threshold is
    ¥40,000), and the e-mails of the agency's other officials; committed for real."""
    data = setup(app, tag, enterprises=ENTERPRISES, batch_approval_threshold_fen=2 * FACE)
    with app.app_context(), writing():
        programme = db.session.get(VoucherProgramme, data["programme_id"])
        assert programme is not None
        run = issuing.issue_batch(
            programme, f"race-propose-{tag}-0001", data["official_actor"], "首批名单"
        )
        assert run.status is RunStatus.PROPOSED
        emails = colleagues(programme.agency, [f"approver{i}@{tag}.cn" for i in range(APPROVERS)])
        db.session.commit()
        return programme.id, run.id, emails


def test_officials_approving_at_once_issue_the_batch_once(race_app: Flask) -> None:
    programme_id, run_id, emails = proposed(race_app, "bap")
    clients, tokens = signed_in(race_app, emails)

    def approve(i: int) -> int:
        response = clients[i].post(
            f"/agency/programmes/{programme_id}/runs/{run_id}/approve",
            data={
                "csrf_token": tokens[i],
                "note": f"核对人{i}",
                "total_fen": str(3 * FACE),
                "confirmed": "y",
            },
        )
        return response.status_code

    statuses = in_parallel(approve, APPROVERS)
    assert all(s == 302 for s in statuses), statuses  # approved or refused, never an error
    with race_app.app_context():
        run = db.session.get(IssueRun, run_id)
        programme = db.session.get(VoucherProgramme, programme_id)
        assert run is not None and programme is not None
        assert run.status is RunStatus.ISSUED
        approvals = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "vouchers.batch_approved")
        ).all()
        assert len(approvals) == 1, approvals
        assert approvals[0].actor_user_id == run.approved_by_id != run.proposed_by_id
        assert run.approval_note == approvals[0].details["note"]
        assert db.session.scalar(select(func.count(Voucher.id))) == ENTERPRISES
        assert db.session.scalar(select(func.count(VoucherEntry.id))) == ENTERPRISES
        assert programme.issued_fen == ENTERPRISES * FACE
    with race_app.app_context():
        assert ledger.check() == []


def test_approving_and_cancelling_at_once_decide_once(race_app: Flask) -> None:
    programme_id, run_id, emails = proposed(race_app, "bac")
    clients, tokens = signed_in(race_app, emails)

    def decide(i: int) -> int:
        if i % 2:
            data = {"csrf_token": tokens[i], "reason": f"驳回{i}"}
            url = f"/agency/programmes/{programme_id}/runs/{run_id}/cancel"
        else:
            data = {
                "csrf_token": tokens[i],
                "note": f"核对人{i}",
                "total_fen": str(3 * FACE),
                "confirmed": "y",
            }
            url = f"/agency/programmes/{programme_id}/runs/{run_id}/approve"
        return clients[i].post(url, data=data).status_code

    statuses = in_parallel(decide, APPROVERS)
    assert all(s == 302 for s in statuses), statuses
    with race_app.app_context():
        run = db.session.get(IssueRun, run_id)
        programme = db.session.get(VoucherProgramme, programme_id)
        assert run is not None and programme is not None
        decisions = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action.in_(["vouchers.batch_approved", "vouchers.batch_cancelled"]),
                AuditEntry.actor_org_id == programme.agency_id,
            )
        ).all()
        assert len(decisions) == 1, decisions
        vouchers = db.session.scalar(
            select(func.count(Voucher.id)).where(Voucher.programme_id == programme_id)
        )
        if run.status is RunStatus.ISSUED:
            assert decisions[0].action == "vouchers.batch_approved"
            assert vouchers == ENTERPRISES and programme.issued_fen == ENTERPRISES * FACE
        else:
            assert run.status is RunStatus.CANCELLED and run.approved_by_id is None
            assert decisions[0].action == "vouchers.batch_cancelled"
            assert vouchers == 0 and programme.issued_fen == 0
    with race_app.app_context():
        assert ledger.check() == []
