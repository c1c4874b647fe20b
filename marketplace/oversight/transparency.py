"""The public transparency page (/transparency): how an agency chose its providers and spent
its vouchers. Aggregates and providers only; nothing about any enterprise."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, union_all
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Organisation
from marketplace.db import db
from marketplace.oversight import concentration
from marketplace.oversight.models import EvaluationEntry, EvaluationRound, RoundStatus
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.vouchers import admission, appointments, figures
from marketplace.vouchers.models import Appointment, ProgrammeStatus, VoucherProgramme

# Pool decisions shown publicly; applications still pending and rejections stay private.
PUBLIC_STATUSES = (PoolStatus.ADMITTED, PoolStatus.SUSPENDED, PoolStatus.EXITED)


@dataclass
class ProgrammeFigures:
    programme: VoucherProgramme
    figures: figures.Figures
    market: concentration.Market | None
    admissions: admission.Decisions
    # integrator appointments and how each was chosen (ended and past ones too)
    appointments: list[Appointment] = field(default_factory=list)


def most_active(agencies: list[Organisation]) -> Organisation | None:
    """The agency the page opens on: the one with the most to show (public pool decisions,
    voucher programmes and closed evaluation rounds; one grouped query), the first by name
    among equals."""
    if not agencies:
        return None
    shown = union_all(
        select(PoolMembership.agency_id.label("agency_id")).where(
            PoolMembership.status.in_(PUBLIC_STATUSES)
        ),
        select(VoucherProgramme.agency_id).where(VoucherProgramme.status != ProgrammeStatus.DRAFT),
        select(EvaluationRound.agency_id).where(EvaluationRound.status == RoundStatus.CLOSED),
    ).subquery()
    counted = select(shown.c.agency_id, func.count()).group_by(shown.c.agency_id)
    activity = {agency_id: n for agency_id, n in db.session.execute(counted)}
    return max(agencies, key=lambda a: activity.get(a.id, 0))


def members(agency: Organisation) -> list[PoolMembership]:
    stmt = (
        select(PoolMembership)
        .where(PoolMembership.agency_id == agency.id, PoolMembership.status.in_(PUBLIC_STATUSES))
        .options(selectinload(PoolMembership.history))
        .order_by(PoolMembership.status, PoolMembership.id)
    )
    return list(db.session.scalars(stmt))


def programmes(agency: Organisation) -> list[ProgrammeFigures]:
    stmt = (
        select(VoucherProgramme)
        .where(
            VoucherProgramme.agency_id == agency.id,
            VoucherProgramme.status != ProgrammeStatus.DRAFT,
        )
        .order_by(VoucherProgramme.id.desc())
    )
    found = list(db.session.scalars(stmt))
    money = figures.of_programmes(found)
    decided = admission.decision_figures([p.id for p in found])
    appointed = appointments.of_programmes([p.id for p in found])
    shown = []
    for programme in found:
        # the overall HHI only: no provider's row is listed
        overall = [
            m for m in concentration.markets(programme, shown=0) if m.category == concentration.ALL
        ]
        shown.append(
            ProgrammeFigures(
                programme,
                money[programme.id],
                overall[0] if overall else None,
                decided[programme.id],
                appointed[programme.id],
            )
        )
    return shown


def rounds(agency: Organisation) -> list[EvaluationRound]:
    """Closed evaluation rounds with each provider's verdict (scores stay with the provider)."""
    stmt = (
        select(EvaluationRound)
        .where(EvaluationRound.agency_id == agency.id, EvaluationRound.status == RoundStatus.CLOSED)
        .options(selectinload(EvaluationRound.entries).joinedload(EvaluationEntry.provider))
        .order_by(EvaluationRound.period_end.desc())
    )
    return list(db.session.scalars(stmt))
