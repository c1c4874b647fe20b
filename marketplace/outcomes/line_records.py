"""An order line as an agency that paid towards it reads it: the order, the line's delivery
record (placed, accepted by the provider, delivered, accepted by the enterprise), its
milestones, what the agency's vouchers paid and the flags raised on that, and the outcome
contract with its evidence. It is the record behind an official's risk decision.

It lives here because this is the lowest domain that sees both order lines and outcome
contracts; vouchers, below orders, asks for it through ``risk.describe_lines_with``, which
``services.connect`` wires up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.accounts.models import Organisation
from marketplace.db import db
from marketplace.errors import NotFound
from marketplace.orders.models import LineEvent, LineStatus, Order, OrderLine
from marketplace.outcomes.models import OutcomeContract
from marketplace.vouchers import risk
from marketplace.vouchers.models import ClawBack, Reservation


@dataclass(frozen=True)
class Delivery:
    placed_at: datetime
    provider_accepted_at: datetime | None
    delivered_at: datetime | None
    enterprise_accepted_at: datetime | None
    accepted_automatically: bool


def delivery_of(line: OrderLine) -> Delivery:
    """The four steps' dates from the line's history (its last delivery, when it was delivered
    again after a dispute)."""
    accepted = next((h for h in line.history if h.to_status is LineStatus.ACCEPTED), None)
    completed = next(
        (h for h in reversed(line.history) if h.to_status is LineStatus.COMPLETED), None
    )
    return Delivery(
        placed_at=line.created_at,
        provider_accepted_at=accepted.at if accepted else None,
        delivered_at=line.delivered_at,
        enterprise_accepted_at=line.accepted_at,
        accepted_automatically=completed is not None
        and completed.event == LineEvent.AUTO_ACCEPT.value,
    )


def _lines(agency: Organisation, line_ids: Sequence[int]) -> list[OrderLine]:
    stmt = (
        select(OrderLine)
        .where(OrderLine.id.in_(list(line_ids)))
        .where(OrderLine.id.in_(risk.lines_paid_by(agency.id)))
        .options(
            joinedload(OrderLine.order).joinedload(Order.enterprise),
            joinedload(OrderLine.provider),
            selectinload(OrderLine.history),
        )
    )
    return list(db.session.scalars(stmt))


def _contracts(line_ids: Sequence[int]) -> dict[int, OutcomeContract]:
    stmt = select(OutcomeContract).where(OutcomeContract.order_line_id.in_(list(line_ids)))
    return {c.order_line_id: c for c in db.session.scalars(stmt)}


def line_records(agency: Organisation, line_ids: Sequence[int]) -> dict[int, risk.LineRecord]:
    """For the risk-flag page: the lines the agency paid towards, in three queries."""
    lines = _lines(agency, line_ids)
    contracts = _contracts([line.id for line in lines])
    records = {}
    for line in lines:
        delivery = delivery_of(line)
        contract = contracts.get(line.id)
        records[line.id] = risk.LineRecord(
            order_number=line.order.number,
            title=line.title,
            status_label=line.status.label,
            placed_at=delivery.placed_at,
            provider_accepted_at=delivery.provider_accepted_at,
            delivered_at=delivery.delivered_at,
            enterprise_accepted_at=delivery.enterprise_accepted_at,
            accepted_automatically=delivery.accepted_automatically,
            contract_id=contract.id if contract else None,
            evidence_file=contract.baseline_file_name if contract else None,
        )
    return records


@dataclass(frozen=True)
class AgencyLine:
    line: OrderLine
    delivery: Delivery
    payments: list[Reservation]  # what this agency's programmes paid, with their flags
    contract: OutcomeContract | None
    clawbacks: list[ClawBack]  # proposed, approved, rejected or withdrawn, newest first


def agency_line(agency: Organisation, line_id: int) -> AgencyLine:
    """The line's record for an agency whose programme paid towards it; anyone else: not
    found."""
    payments = risk.payments_towards(agency, line_id)
    found = _lines(agency, [line_id]) if payments else []
    if not found:
        raise NotFound(_l("Not found."))
    line = found[0]
    return AgencyLine(
        line=line,
        delivery=delivery_of(line),
        payments=payments,
        contract=_contracts([line.id]).get(line.id),
        clawbacks=risk.clawbacks_of(agency, [r.id for r in payments]),
    )
