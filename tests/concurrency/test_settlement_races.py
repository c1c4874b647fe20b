"""Officials approving the same settlement at the same moment: exactly one approval.

One official draws the settlement up; the agency's other officials all press "approve" at
once, through the Flask test client in real threads (SQLite by default, PostgreSQL under
``TEST_DATABASE_URL``). The conditional UPDATE from 'draft' lets one through; the others
are told it changed meanwhile and store nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import db, writing
from marketplace.vouchers import ledger, settlement
from marketplace.vouchers.models import Settlement, SettlementStatus
from tests.concurrency.conftest import colleagues, in_parallel, signed_in
from tests.concurrency.test_voucher_races import accepted_on_voucher, setup

APPROVERS = 6


@pytest.fixture
def plausible_deliveries(race_app: Flask) -> Iterator[None]:
    before = race_app.config.get("RISK_FAST_DELIVERY_BP")
    race_app.config["RISK_FAST_DELIVERY_BP"] = 0  # nothing held for review
    yield
    race_app.config["RISK_FAST_DELIVERY_BP"] = before


def drawn_up(app: Flask, tag: str) -> tuple[int, list[str]]:
    """A ¥20,000 settlement drawn up by the first official, and the e-mails of the agency's
    other officials; committed for real."""
    data = setup(app, tag)
    with app.app_context(), writing():
        programme, order = accepted_on_voucher(data, tag, "并发结算方案")
        s = settlement.draw_up(programme, order.lines[0].provider_id, data["official_actor"])
        emails = colleagues(programme.agency, [f"approver{i}@{tag}.cn" for i in range(APPROVERS)])
        db.session.commit()
        return s.id, emails


def test_officials_approving_at_once_approve_once(
    race_app: Flask, plausible_deliveries: None
) -> None:
    settlement_id, emails = drawn_up(race_app, "stl")
    with race_app.app_context():
        total = db.session.get(Settlement, settlement_id).total_fen  # type: ignore[union-attr]
    clients, tokens = signed_in(race_app, emails)

    def approve(i: int) -> int:
        response = clients[i].post(
            f"/settlements/{settlement_id}/approve",
            data={
                "csrf_token": tokens[i],
                "note": f"核对人{i}",
                "total_fen": str(total),
                "confirmed": "y",
            },
        )
        return response.status_code

    statuses = in_parallel(approve, APPROVERS)
    assert all(s == 302 for s in statuses), statuses  # approved or refused, never an error
    with race_app.app_context():
        s = db.session.get(Settlement, settlement_id)
        assert s is not None and s.status is SettlementStatus.APPROVED
        approvals = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "settlement.approved",
                AuditEntry.object_id == str(settlement_id),
            )
        ).all()
        assert len(approvals) == 1, approvals
        assert approvals[0].actor_user_id == s.approved_by_id != s.created_by_id
        assert s.approval_note == approvals[0].details["note"]
        assert db.session.scalar(select(func.count(Settlement.id))) == 1
    with race_app.app_context():
        assert ledger.check() == []
