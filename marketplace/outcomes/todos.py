"""What waits in outcome contracts: baselines to propose (provider) or answer (enterprise),
measurements to confirm before they count as confirmed (enterprise) and disputed ones to
verify (assessors); and the reminder a day or two before a measurement counts as confirmed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import notifications, todos
from marketplace.accounts.models import Organisation
from marketplace.db import LOCAL_ZONE, db, utcnow
from marketplace.orders.models import OrderLine
from marketplace.outcomes import cases
from marketplace.outcomes.models import (
    ContractStatus,
    Measurement,
    MeasurementStatus,
    OutcomeContract,
    UsageRecord,
    UsageStatus,
)
from marketplace.todos import Todo

CONFIRM_SOON = "measurement_confirm_soon"
notifications.register_kinds(
    {
        CONFIRM_SOON: _l(
            "%(title)s: the measurement for %(period)s counts as confirmed on %(by)s unless"
            " you confirm or dispute it before then."
        ),
    },
    deadline=[CONFIRM_SOON],
    group="outcomes",
)


def confirmed_on(submitted_at: datetime, silent_days: int) -> date:
    """The day a measurement left unanswered counts as confirmed (local)."""
    return (submitted_at + timedelta(days=silent_days)).astimezone(LOCAL_ZONE).date()


def _period(m: Measurement) -> str:
    return f"{m.period_start.isoformat()} – {m.period_end.isoformat()}"


def for_enterprise(enterprise: Organisation, silent_days: int) -> list[Todo]:
    found = [
        Todo(
            "baseline_proposed",
            _l("Agree to or dispute the proposed baseline"),
            title,
            f"/contracts/{contract_id}",
            created,
        )
        for contract_id, title, created in db.session.execute(
            select(OutcomeContract.id, OutcomeContract.title, OutcomeContract.created_at).where(
                OutcomeContract.enterprise_id == enterprise.id,
                OutcomeContract.status == ContractStatus.BASELINE_PROPOSED,
            )
        )
    ]
    rows = db.session.execute(
        select(Measurement, OutcomeContract.title)
        .join(OutcomeContract, OutcomeContract.id == Measurement.contract_id)
        .where(
            OutcomeContract.enterprise_id == enterprise.id,
            Measurement.status == MeasurementStatus.SUBMITTED,
        )
    )
    found += [
        Todo(
            "measurement_submitted",
            _l("Confirm or dispute the measurement"),
            f"{title} · {_period(m)}",
            f"/contracts/{m.contract_id}",
            m.created_at,
            confirmed_on(m.created_at, silent_days),
        )
        for m, title in rows
    ]
    found += [
        Todo(
            "case_consent",
            _l("Decide whether the met result may appear as an anonymised case"),
            title,
            f"/contracts/{contract_id}#case",
            settled,
        )
        for contract_id, title, settled in cases.met_without_answer(enterprise.id)
    ]
    return found


def for_provider(provider: Organisation) -> list[Todo]:
    """Contracts waiting for the provider's baseline (first proposal, or after a dispute)."""
    waiting = (ContractStatus.AWAITING_BASELINE, ContractStatus.BASELINE_DISPUTED)
    rows = db.session.execute(
        select(OutcomeContract.id, OutcomeContract.title, OutcomeContract.created_at).where(
            OutcomeContract.provider_id == provider.id, OutcomeContract.status.in_(waiting)
        )
    )
    found = [
        Todo("baseline_awaited", _l("Propose the baseline"), title, f"/contracts/{cid}", created)
        for cid, title, created in rows
    ]
    disputed = db.session.execute(
        select(UsageRecord, OrderLine.title)
        .join(OrderLine, OrderLine.id == UsageRecord.order_line_id)
        .where(OrderLine.provider_id == provider.id, UsageRecord.status == UsageStatus.DISPUTED)
    )
    found += [
        Todo(
            "usage_disputed",
            _l("Accept or reject the disputed usage; its month waits"),
            f"{title} · {r.period_start.isoformat()} – {r.period_end.isoformat()}",
            f"/usage/lines/{r.order_line_id}#records",
            r.disputed_at or r.created_at,
        )
        for r, title in disputed
    ]
    return found


def for_assessor(_assessor: Organisation) -> list[Todo]:
    """Disputed measurements: any assessor may verify one (see ``access``)."""
    rows = db.session.execute(
        select(Measurement, OutcomeContract.title)
        .join(OutcomeContract, OutcomeContract.id == Measurement.contract_id)
        .where(Measurement.status == MeasurementStatus.DISPUTED)
    )
    return [
        Todo(
            "measurement_disputed",
            _l("Verify the disputed measurement"),
            f"{title} · {_period(m)}",
            f"/contracts/{m.contract_id}",
            m.decided_at or m.created_at,
        )
        for m, title in rows
    ]


# --- the reminder before a measurement counts as confirmed ----------------------------------


def due_for_confirm_reminder(silent_days: int, window_days: int) -> list[int]:
    """Measurements still unanswered that count as confirmed within ``window_days`` and
    whose enterprise was not reminded (job items)."""
    now = utcnow()
    stmt = select(Measurement.id).where(
        Measurement.status == MeasurementStatus.SUBMITTED,
        Measurement.created_at <= now - timedelta(days=silent_days - window_days),
        Measurement.created_at > now - timedelta(days=silent_days),
        todos.not_reminded(CONFIRM_SOON, Measurement.id),
    )
    return list(db.session.scalars(stmt.order_by(Measurement.id)))


def remind_confirm(measurement_id: int, silent_days: int) -> bool:
    m = db.session.get(Measurement, measurement_id)
    if m is None or m.status is not MeasurementStatus.SUBMITTED:
        return False
    contract = m.contract
    return todos.remind_once(
        CONFIRM_SOON,
        m.id,
        contract.enterprise_id,
        confirmed_on(m.created_at, silent_days),
        f"/contracts/{contract.id}",
        title=contract.title,
        period=_period(m),
    )
