"""Platform administrators approving the same payout at the same moment: exactly one
approval; and proposals made at once never commit more than the platform owes.

One administrator proposes the payout; the platform's other administrators all press
"approve" at once, through the Flask test client in real threads (SQLite by default,
PostgreSQL under ``TEST_DATABASE_URL``). The conditional UPDATE from 'proposed' lets one
through; the others are told it changed meanwhile and store nothing.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace.audit import AuditEntry
from marketplace.db import db, writing
from marketplace.payments import payouts
from marketplace.payments.models import Payout, PayoutStatus, ProviderBalance
from marketplace.security import Actor
from tests import factories
from tests.concurrency.conftest import in_parallel, signed_in

APPROVERS = 6
OWED = 100_000_00


def platform_with_admins(app: Flask, tag: str) -> dict[str, object]:
    """The platform with a proposing administrator and ``APPROVERS`` others, and a provider
    it collected ¥100,000 for; committed for real."""
    with app.app_context(), writing():
        factories.bind(db.session)
        platform = factories.OrganisationFactory(platform=True)
        proposer = factories.UserFactory(org=platform, email=f"proposer@{tag}.cn")
        emails = [f"admin{i}@{tag}.cn" for i in range(APPROVERS)]
        for email in emails:
            factories.UserFactory(org=platform, email=email)
        provider = factories.OrganisationFactory(provider=True)
        db.session.add(ProviderBalance(provider_id=provider.id, collected_fen=OWED, paid_out_fen=0))
        db.session.commit()
        return {
            "provider_id": provider.id,
            "proposer": Actor(proposer.id, platform.id, None),
            "emails": emails,
        }


def test_administrators_approving_at_once_approve_once(race_app: Flask) -> None:
    data = platform_with_admins(race_app, "pyo")
    with race_app.app_context(), writing():
        payout = payouts.propose(
            data["provider_id"],  # type: ignore[arg-type]
            30_000_00,
            "三月在线支付款",
            data["proposer"],  # type: ignore[arg-type]
        )
        db.session.commit()
        payout_id = payout.id
    clients, tokens = signed_in(race_app, data["emails"])  # type: ignore[arg-type]

    def approve(i: int) -> int:
        response = clients[i].post(
            f"/platform/payouts/{payout_id}/approve",
            data={"csrf_token": tokens[i], "note": f"核对人{i}", "amount_fen": str(30_000_00)},
        )
        return int(response.status_code)

    statuses = in_parallel(approve, APPROVERS)
    assert all(s == 302 for s in statuses), statuses  # approved or refused, never an error
    with race_app.app_context():
        p = db.session.get(Payout, payout_id)
        assert p is not None and p.status is PayoutStatus.APPROVED
        approvals = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "payout.approved",
                AuditEntry.object_id == str(data["provider_id"]),
            )
        ).all()
        assert len(approvals) == 1, approvals
        assert approvals[0].actor_user_id == p.approved_by_id != p.proposed_by_id
        assert p.approval_note == approvals[0].details["note"]
        balance = db.session.get(ProviderBalance, data["provider_id"])
        assert balance is not None and balance.pending_fen == 30_000_00


def test_proposals_at_once_never_commit_more_than_is_owed(race_app: Flask) -> None:
    data = platform_with_admins(race_app, "pyp")
    clients, tokens = signed_in(race_app, data["emails"])  # type: ignore[arg-type]

    def propose(i: int) -> int:
        response = clients[i].post(
            "/platform/payouts",
            data={
                "csrf_token": tokens[i],
                "provider_id": str(data["provider_id"]),
                "amount": "40000",
                "note": f"提议{i}",
            },
        )
        return int(response.status_code)

    statuses = in_parallel(propose, APPROVERS)
    assert sorted(statuses) == [302, 302] + [422] * (APPROVERS - 2), statuses
    with race_app.app_context():
        balance = db.session.get(ProviderBalance, data["provider_id"])
        assert balance is not None and balance.pending_fen == 80_000_00
        proposed = db.session.scalar(
            select(func.count(Payout.id)).where(Payout.provider_id == data["provider_id"])
        )
        assert proposed == 2
