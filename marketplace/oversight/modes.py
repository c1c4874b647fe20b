"""Integrator mode vs open mode, side by side: the evidence a city needs to choose.

Each mode's figures come from the order lines its programmes' vouchers paid for (at least in
part), in one agency: price per module with integration fees, the integration fees' share,
days from order to delivery, satisfaction, outcome success rate, ticket SLA adherence and the
number of distinct providers reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select

from marketplace.accounts.models import Organisation
from marketplace.catalog.models import Review
from marketplace.db import db
from marketplace.money import ratio_bp
from marketplace.orders.models import OrderLine, Ticket
from marketplace.outcomes.models import ContractStatus, OutcomeContract
from marketplace.oversight.stats import median
from marketplace.vouchers.models import ProgrammeMode, Reservation, VoucherProgramme


@dataclass(frozen=True)
class ModeFigures:
    mode: ProgrammeMode
    programmes: int
    lines: int
    modules: int
    price_per_module_fen: int | None  # package lines plus integration fees, per package line
    integration_share_bp: int | None
    median_days_to_delivery: float | None
    satisfaction: float | None  # mean rating, 1–5
    reviews: int
    outcome_success_bp: int | None
    contracts_settled: int
    sla_adherence_bp: int | None
    tickets: int
    providers: int


def _scope(agency: Organisation | None, mode: ProgrammeMode) -> list[ColumnElement[bool]]:
    conditions = [VoucherProgramme.mode == mode]
    if agency is not None:
        conditions.append(VoucherProgramme.agency_id == agency.id)
    return conditions


def figures(mode: ProgrammeMode, agency: Organisation | None = None) -> ModeFigures:
    """One mode's figures, in one agency or (``None``) across every agency's programmes."""
    lines = (
        select(Reservation.order_line_id)
        .join(VoucherProgramme, VoucherProgramme.id == Reservation.programme_id)
        .where(*_scope(agency, mode))
        .distinct()
    )
    is_package = OrderLine.kind == "package"
    row = db.session.execute(
        select(
            func.count(OrderLine.id),
            func.coalesce(func.sum(case((is_package, 1), else_=0)), 0),
            func.coalesce(func.sum(OrderLine.committed_fen), 0),
            func.coalesce(func.sum(case((~is_package, OrderLine.committed_fen), else_=0)), 0),
            func.count(func.distinct(OrderLine.provider_id)),
        ).where(OrderLine.id.in_(lines))
    ).one()
    count, modules, committed, integration, providers = (int(x) for x in row)
    days_to_delivery = OrderLine.days_to_go_live  # stored when the line went live
    histogram = db.session.execute(
        select(days_to_delivery, func.count())
        .where(OrderLine.id.in_(lines), days_to_delivery.is_not(None))
        .group_by(days_to_delivery)
        .order_by(days_to_delivery)
    ).all()
    days = median([(d, int(n)) for d, n in histogram if d is not None])
    rating, reviews = db.session.execute(
        select(func.avg(Review.rating), func.count(Review.id)).where(Review.line_id.in_(lines))
    ).one()
    met, settled = db.session.execute(
        select(
            func.coalesce(
                func.sum(case((OutcomeContract.status == ContractStatus.MET, 1), else_=0)), 0
            ),
            func.count(OutcomeContract.id),
        ).where(
            OutcomeContract.order_line_id.in_(lines),
            OutcomeContract.status.in_([ContractStatus.MET, ContractStatus.MISSED]),
        )
    ).one()
    kept, tickets = db.session.execute(
        select(
            func.coalesce(func.sum(case((Ticket.breached.is_(False), 1), else_=0)), 0),
            func.count(Ticket.id),
        ).where(Ticket.line_id.in_(lines))
    ).one()
    programmes = db.session.scalar(
        select(func.count(VoucherProgramme.id)).where(*_scope(agency, mode))
    )
    return ModeFigures(
        mode=mode,
        programmes=int(programmes or 0),
        lines=count,
        modules=modules,
        price_per_module_fen=committed // modules if modules else None,
        integration_share_bp=ratio_bp(integration, committed) if committed else None,
        median_days_to_delivery=days,
        satisfaction=round(float(rating), 2) if rating is not None else None,
        reviews=int(reviews or 0),
        outcome_success_bp=ratio_bp(int(met), int(settled)) if settled else None,
        contracts_settled=int(settled or 0),
        sla_adherence_bp=ratio_bp(int(kept), int(tickets)) if tickets else None,
        tickets=int(tickets or 0),
        providers=providers,
    )


def compare(agency: Organisation | None = None) -> list[ModeFigures]:
    return [figures(ProgrammeMode.INTEGRATOR, agency), figures(ProgrammeMode.OPEN, agency)]
