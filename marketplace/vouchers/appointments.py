"""Integrator appointments in the open (集成服务商遴选公开): an official appoints an integrator
to a programme and records how it was chosen — the call, its criteria, the applicants with
their scores and the reason — with its term and the cap on its integration fee; or ends an
appointment, with a reason. Both are audited and shown on /transparency and in the API.

An appointment counts while it is not ended and its term runs (``Appointment.current``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation
from marketplace.db import atomic, db, utcnow
from marketplace.errors import DomainError, NotFound
from marketplace.money import BASIS_POINTS
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers.models import (
    Applicant,
    Appointment,
    ProgrammeMode,
    ProgrammeStatus,
    VoucherProgramme,
)

MAX_APPLICANTS = 20


@dataclass(frozen=True)
class Selection:
    """What an official records of an appointment (plain values, as a form gave them)."""

    integrator_id: int
    reason: str
    term_start: date | None
    term_end: date | None
    integration_fee_cap_bp: int
    call_reference: str = ""
    call_title: str = ""
    criteria: str = ""
    # (provider id, score 0–100); the appointed integrator is one of them when given
    applicants: Sequence[tuple[int, int]] = field(default_factory=tuple)


def candidates(agency: Organisation) -> list[Organisation]:
    """Providers admitted to the agency's pool (those an appointment's call may score)."""
    stmt = (
        select(Organisation)
        .join(PoolMembership, PoolMembership.provider_id == Organisation.id)
        .where(PoolMembership.agency_id == agency.id, PoolMembership.status == PoolStatus.ADMITTED)
        .order_by(Organisation.name)
    )
    return list(db.session.scalars(stmt))


def _validate(programme: VoucherProgramme, s: Selection) -> None:
    if programme.status is ProgrammeStatus.CLOSED:
        raise DomainError(_l("The programme is closed: it appoints no one any more."))
    if programme.mode is ProgrammeMode.OPEN:
        raise DomainError(
            _l("An open-mode programme appoints no integrators."), field="integrator_id"
        )
    if not s.reason.strip():
        raise DomainError(_l("Give the reason for the appointment."), field="reason")
    if s.term_start is None or s.term_end is None:
        raise DomainError(_l("Enter the term's first and last day."), field="term_end")
    if s.term_end < s.term_start:
        raise DomainError(_l("The term cannot end before it starts."), field="term_end")
    if not 0 <= s.integration_fee_cap_bp <= BASIS_POINTS:
        raise DomainError(_l("Enter a percentage from 0 to 100."), field="integration_fee_cap")
    if len(s.applicants) > MAX_APPLICANTS:
        raise DomainError(
            _l("Record at most %(n)d applicants.", n=MAX_APPLICANTS), field="applicants"
        )
    ids = [provider_id for provider_id, _score in s.applicants]
    if len(set(ids)) != len(ids):
        raise DomainError(_l("Each applicant once."), field="applicants")
    if any(not 0 <= score <= 100 for _id, score in s.applicants):
        raise DomainError(_l("Scores are from 0 to 100."), field="applicants")
    admitted = {o.id: o for o in candidates(programme.agency)}
    integrator = admitted.get(s.integrator_id)
    if integrator is None or integrator.provider_type != "integrator":
        raise DomainError(_l("Appoint integrators admitted to your pool."), field="integrator_id")
    if any(provider_id not in admitted for provider_id in ids):
        raise DomainError(_l("Applicants are providers of your pool."), field="applicants")
    if ids and s.integrator_id not in ids:
        raise DomainError(
            _l("The appointed integrator is one of the applicants scored."), field="applicants"
        )
    overlapping = [
        a
        for a in programme.appointments
        if a.integrator_id == s.integrator_id
        and a.ended_at is None
        and a.term_start <= s.term_end
        and s.term_start <= a.term_end
    ]
    if overlapping:
        raise DomainError(
            _l("This integrator is already appointed for part of this term."),
            field="integrator_id",
        )


@atomic
def appoint(programme: VoucherProgramme, s: Selection, actor: Actor) -> Appointment:
    _validate(programme, s)
    appointment = Appointment(
        programme_id=programme.id,
        integrator_id=s.integrator_id,
        call_reference=s.call_reference.strip()[:60],
        call_title=s.call_title.strip()[:200],
        criteria=s.criteria.strip(),
        reason=s.reason.strip(),
        term_start=s.term_start,
        term_end=s.term_end,
        integration_fee_cap_bp=s.integration_fee_cap_bp,
        appointed_by_id=actor.user_id,
        applicants=[Applicant(provider_id=pid, score=score) for pid, score in s.applicants],
    )
    db.session.add(appointment)
    db.session.flush()
    db.session.expire(programme, ["appointments"])
    audit.record(
        actor,
        "programme.integrator_appointed",
        "programme",
        programme.id,
        appointment_id=appointment.id,
        integrator_id=s.integrator_id,
        term_end=appointment.term_end.isoformat(),
        integration_fee_cap_bp=s.integration_fee_cap_bp,
    )
    notifications.notify(
        s.integrator_id,
        "integrator_appointed",
        "/transparency",
        programme=programme.name,
        term_end=appointment.term_end.isoformat(),
    )
    return appointment


@atomic
def end(appointment: Appointment, reason: str, actor: Actor) -> None:
    if not reason.strip():
        raise DomainError(_l("Give the reason for ending the appointment."), field="end_reason")
    if appointment.ended_at is not None:
        raise DomainError(_l("This appointment has already ended."))
    appointment.ended_at = utcnow()
    appointment.end_reason = reason.strip()
    db.session.flush()
    audit.record(
        actor,
        "programme.appointment_ended",
        "programme",
        appointment.programme_id,
        appointment_id=appointment.id,
        integrator_id=appointment.integrator_id,
    )
    notifications.notify(
        appointment.integrator_id,
        "appointment_ended",
        "/transparency",
        programme=appointment.programme.name,
    )


def appointment_for(programme: VoucherProgramme, appointment_id: int) -> Appointment:
    found = next((a for a in programme.appointments if a.id == appointment_id), None)
    if found is None:
        raise NotFound(_l("Not found."))
    return found


def of_programmes(programme_ids: Sequence[int]) -> dict[int, list[Appointment]]:
    """Every appointment of these programmes, ended ones too, with their applicants (two
    queries whatever the number)."""
    result: dict[int, list[Appointment]] = {pid: [] for pid in programme_ids}
    if not programme_ids:
        return result
    stmt = (
        select(Appointment)
        .where(Appointment.programme_id.in_(list(programme_ids)))
        .options(selectinload(Appointment.applicants))
        .order_by(Appointment.programme_id, Appointment.term_start, Appointment.id)
    )
    for a in db.session.scalars(stmt):
        result[a.programme_id].append(a)
    return result
