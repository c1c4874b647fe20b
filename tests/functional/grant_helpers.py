"""Giving an organisation a reason to see an enterprise's data, which a data grant asks for
(``accounts.grants``): a provider the enterprise ordered from, an assessor of its agency's
evaluation round."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy.orm import Session

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import PlanKind
from marketplace.db import local_today
from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.outcomes.models import OutcomeContract
from marketplace.oversight import evaluation
from tests.functional.catalog_helpers import services


def ordered_from(dbs: Session, enterprise: Organisation, provider: Organisation) -> OrderLine:
    """An order line of the enterprise with the provider (an integration fee: no package)."""
    order = Order(number=f"ZX-T-{enterprise.id}-{provider.id}", enterprise_id=enterprise.id)
    line = OrderLine(
        order=order,
        kind="integration",
        provider_id=provider.id,
        title="集成服务",
        plan_kind=PlanKind.ONE_TIME,
        plan_name="集成费",
        amount_fen=1_000_00,
        committed_fen=1_000_00,
        status=LineStatus.PLACED,
    )
    dbs.add_all([order, line])
    dbs.commit()
    return line


def evaluating(app: Flask, dbs: Session, p: object, assessor: Organisation) -> None:
    """The assessor scores the providers of the pilot's agency (whose voucher the enterprise
    holds: ``p.issue_to(p.programme())`` first)."""
    today = local_today()
    with services(app, dbs):
        evaluation.open_round(
            p.agency,  # type: ignore[attr-defined]
            evaluation.Terms("年度考核", today - timedelta(days=90), today, 60),
            assessor.id,
            p.official_actor,  # type: ignore[attr-defined]
        )


def outcome_contract(dbs: Session, line: OrderLine) -> OutcomeContract:
    """An outcome contract measuring on the line (OEE up 5 points, a fixed fee)."""
    contract = OutcomeContract(
        order_line_id=line.id,
        enterprise_id=line.order.enterprise_id,
        provider_id=line.provider_id,
        title="设备综合效率提升",
        status="measuring",
        metric_code="oee",
        better="higher",
        target_kind="absolute",
        target_value=Decimal(5),
        fee_rule="fixed",
        window_days=90,
    )
    dbs.add(contract)
    dbs.flush()
    return contract
