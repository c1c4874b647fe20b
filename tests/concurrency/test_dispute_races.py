"""Officials deciding the same escalated dispute at the same moment: one decision stands, the
others change nothing (no second history row, no second invoice, the vouchers' ledger whole)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marketplace.accounts.models import Organisation
from marketplace.db import db, writing
from marketplace.orders import disputes
from marketplace.orders import services as orders
from marketplace.orders.models import Dispute, DisputeStatus, LineEvent, LineStatusChange
from marketplace.payments.models import Invoice
from marketplace.security import Actor
from marketplace.vouchers import admission, issuing, ledger, programmes
from tests import factories
from tests.concurrency.conftest import (
    DELIVERED,
    advance,
    committed,
    in_parallel,
    ordered,
    pooled_provider,
    published,
)
from tests.functional.voucher_helpers import ONE_TIME, key, rules


def escalated_dispute(app: Flask) -> dict[str, Any]:
    """A ¥60,000 line, ¥20,000 of it on an agency's voucher, disputed and escalated to that
    agency, whose officials are returned. Committed for real."""
    with app.app_context(), writing():
        factories.bind(db.session)
        agency = factories.OrganisationFactory(agency=True)
        officials = [factories.UserFactory(org=agency) for _ in range(4)]
        provider, seller = pooled_provider(agency)
        enterprise = factories.OrganisationFactory()
        owner = factories.UserFactory(org=enterprise)
        package = published(provider, seller, ONE_TIME)
        official = Actor(officials[0].id, agency.id, None)
        programme = programmes.create_programme(agency, rules(), official)
        programmes.open_programme(programme, official)
        # vouchers pay only for admitted versions (issue 22): the agency admits the package
        admission.set_rules(programme, "并发测试的准入标准", None, official)
        admission.decide(programme, package.latest, True, "符合准入标准", agency, official)
        issuing.issue_one(programme, enterprise.credit_code or "", key(), official)
        buyer = Actor(owner.id, enterprise.id, None)
        line = ordered(enterprise, package.id, "方案", buyer).lines[0]
        advance(line, DELIVERED)
        orders.transition(line, LineEvent.DISPUTE, "数据不全", buyer, "enterprise")
        case = db.session.scalars(select(Dispute).where(Dispute.line_id == line.id)).one()
        disputes.escalate(case, "enterprise", buyer)
        db.session.commit()
        return {
            "dispute_id": case.id,
            "line_id": line.id,
            "agency_id": agency.id,
            "officials": [u.id for u in officials],
        }


def test_officials_deciding_at_once_leave_one_decision(race_app: Flask) -> None:
    data = escalated_dispute(race_app)
    rulings = [
        (LineEvent.RULE_CANCEL, None),
        (LineEvent.RULE_REDUCED, 30_000_00),
        (LineEvent.RULE_REDELIVER, None),
        (LineEvent.RULE_REDUCED, 45_000_00),
    ]

    def decide(i: int) -> str:
        ruling, amount = rulings[i]

        def once() -> str:
            agency = db.session.get(Organisation, data["agency_id"])
            case = disputes.dispute_for(agency, data["dispute_id"])
            disputes.decide(
                case,
                agency,
                ruling,
                f"第 {i + 1} 位官员的裁决",
                Actor(data["officials"][i], agency.id, None),
                amount_fen=amount,
            )
            return ruling.value

        return committed(race_app, once, request=True)

    results = in_parallel(decide, len(rulings))
    winners = [r for r in results if r != "refused"]
    assert len(winners) == 1, results
    with race_app.app_context():
        case = db.session.get(Dispute, data["dispute_id"])
        assert (case.status, case.decision) == (DisputeStatus.DECIDED, winners[0])
        rows = db.session.scalars(
            select(LineStatusChange.event).where(
                LineStatusChange.line_id == data["line_id"],
                LineStatusChange.event.like("rule_%"),
            )
        ).all()
        assert rows == [winners[0]]
        invoices = db.session.scalar(
            select(func.count(Invoice.id)).where(Invoice.order_line_id == data["line_id"])
        )
        assert invoices == (1 if winners[0] == "rule_reduced" else 0)
        assert ledger.check() == []
