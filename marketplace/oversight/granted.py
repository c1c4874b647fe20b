"""What a provider or assessor sees of an enterprise under its data grant: the enterprise's
profile and diagnoses, its outcome measurements, KPI reports and support tickets. Every page
checks the grant (404 without one) and writes a line to the enterprise's access log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from marketplace.accounts import grants
from marketplace.accounts.models import DataGrant, GrantScope, Organisation
from marketplace.db import db
from marketplace.diagnosis.models import Diagnosis
from marketplace.orders import services as orders
from marketplace.orders.models import Ticket
from marketplace.outcomes import services as outcomes
from marketplace.outcomes.models import Measurement, OutcomeContract
from marketplace.oversight import evaluation
from marketplace.oversight.models import KpiReport
from marketplace.security import Actor
from marketplace.vouchers import programmes


def related_to(enterprise_id: int) -> set[int]:
    """Who has a reason to see the enterprise's data: the providers it ordered from, the
    agencies whose vouchers or programmes it holds, the assessors of those agencies'
    evaluations and the assessors who verified its outcome measurements."""
    agencies = programmes.agencies_of(enterprise_id)
    return (
        orders.providers_of(enterprise_id)
        | agencies
        | evaluation.assessors_of_agencies(agencies)
        | outcomes.verifying_assessors(enterprise_id)
    )


def connect() -> None:
    """Tell the data grants (accounts, below) whom an enterprise may grant access."""
    grants.relate_with(related_to)


def open_scope(
    viewer: Organisation, enterprise_id: int, scope: GrantScope, actor: Actor
) -> tuple[DataGrant, object]:
    """Check the grant, log the view, return the data of the scope."""
    g = grants.require(viewer, enterprise_id, scope)
    grants.log_view(g, scope, scope.value, enterprise_id, actor)
    return g, LOADERS[scope](enterprise_id)


def _profile(enterprise_id: int) -> dict[str, object]:
    diagnoses = db.session.scalars(
        select(Diagnosis)
        .where(Diagnosis.enterprise_id == enterprise_id)
        .order_by(Diagnosis.created_at.desc())
    )
    return {"org": db.session.get(Organisation, enterprise_id), "diagnoses": list(diagnoses)}


def _measurements(enterprise_id: int) -> list[Measurement]:
    stmt = (
        select(Measurement)
        .join(OutcomeContract)
        .where(OutcomeContract.enterprise_id == enterprise_id)
        .options(joinedload(Measurement.contract))
        .order_by(OutcomeContract.id, Measurement.period_start)
    )
    return list(db.session.scalars(stmt))


def _kpi_reports(enterprise_id: int) -> list[KpiReport]:
    stmt = (
        select(KpiReport)
        .where(KpiReport.enterprise_id == enterprise_id)
        .options(joinedload(KpiReport.line))
        .order_by(KpiReport.month.desc(), KpiReport.id)
    )
    return list(db.session.scalars(stmt))


def _tickets(enterprise_id: int) -> list[Ticket]:
    stmt = (
        select(Ticket)
        .where(Ticket.enterprise_id == enterprise_id)
        .options(joinedload(Ticket.line))
        .order_by(Ticket.opened_at.desc())
    )
    return list(db.session.scalars(stmt))


LOADERS = {
    GrantScope.PROFILE: _profile,
    GrantScope.MEASUREMENTS: _measurements,
    GrantScope.KPI_REPORTS: _kpi_reports,
    GrantScope.TICKETS: _tickets,
}
