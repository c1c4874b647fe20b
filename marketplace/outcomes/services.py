"""Outcome contracts: baseline, measurements, settlement into a success-fee invoice.

The orders domain sits below this one and knows nothing of it; ``connect()`` (called by the
app factory) asks orders to tell us when an order is placed and when a line moves, and tells
the vouchers' risk review where to read a flagged order line (``line_records``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, select, update

from marketplace import audit, files, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.audit import AuditEntry
from marketplace.catalog import reviews
from marketplace.catalog.models import FeeRule, PlanKind, PricePlan
from marketplace.db import LOCAL_ZONE, add_unique, atomic, db, local_today, utcnow
from marketplace.errors import DomainError
from marketplace.money import format_fen
from marketplace.orders import services as orders
from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.outcomes import access, cases, fees, line_records
from marketplace.outcomes.models import (
    COUNTED,
    ContractStatus,
    Measurement,
    MeasurementStatus,
    OutcomeContract,
)
from marketplace.payments import services as payments
from marketplace.payments.models import InvoiceKind
from marketplace.security import Actor
from marketplace.vouchers import risk, spending

MAX_VALUE = Decimal("1000000000")


def connect() -> None:
    """Open contracts when outcome lines are ordered; open windows when they are accepted;
    show officials deciding a risk flag the line and its evidence."""
    orders.on_placed(open_contracts)
    orders.on_moved(line_moved)
    risk.describe_lines_with(line_records.line_records)
    cases.connect()


def open_contracts(order: Order, actor: Actor) -> None:
    for line in order.lines:
        if line.plan_kind is not PlanKind.OUTCOME or line.plan_id is None:
            continue
        plan = db.session.get(PricePlan, line.plan_id)
        assert plan is not None and plan.metric is not None
        assert plan.target_kind and plan.target_value and plan.fee_rule and plan.window_days
        contract = OutcomeContract(
            order_line_id=line.id,
            enterprise_id=order.enterprise_id,
            provider_id=line.provider_id,
            title=line.title,
            status=ContractStatus.AWAITING_BASELINE,
            metric_code=plan.metric.code,
            better=plan.metric.better,
            target_kind=plan.target_kind,
            target_value=plan.target_value,
            fee_rule=plan.fee_rule,
            success_fee_fen=plan.success_fee_fen,
            fee_per_unit_fen=plan.fee_per_unit_fen,
            fee_cap_fen=plan.fee_cap_fen,
            base_fee_fen=plan.base_fee_fen,
            window_days=plan.window_days,
        )
        db.session.add(contract)
        db.session.flush()
        audit.record(actor, "contract.created", "contract", contract.id, line_id=line.id)


def line_moved(line: OrderLine, actor: Actor) -> None:
    contract = db.session.scalar(
        select(OutcomeContract).where(OutcomeContract.order_line_id == line.id)
    )
    if contract is None:
        return
    if line.status in (LineStatus.REJECTED, LineStatus.CANCELLED):
        _move(contract, OPEN_BEFORE_WINDOW, status=ContractStatus.CANCELLED)
        audit.record(actor, "contract.cancelled", "contract", contract.id)
    elif line.status is LineStatus.COMPLETED and contract.status is ContractStatus.AWAITING_GO_LIVE:
        _open_window(contract, ContractStatus.AWAITING_GO_LIVE, actor)


OPEN_BEFORE_WINDOW = (
    ContractStatus.AWAITING_BASELINE,
    ContractStatus.BASELINE_PROPOSED,
    ContractStatus.BASELINE_DISPUTED,
    ContractStatus.AWAITING_GO_LIVE,
)


def _move(contract: OutcomeContract, before: tuple[ContractStatus, ...], **values: object) -> None:
    moved = db.session.execute(
        update(OutcomeContract)
        .where(OutcomeContract.id == contract.id, OutcomeContract.status.in_(before))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This contract changed meanwhile. Reload the page and try again."))
    db.session.refresh(contract)


def _open_window(contract: OutcomeContract, before: ContractStatus, actor: Actor) -> None:
    start = local_today()
    _move(
        contract,
        (before,),
        status=ContractStatus.MEASURING,
        window_start=start,
        window_end=start + timedelta(days=contract.window_days),
    )
    audit.record(actor, "contract.window_opened", "contract", contract.id)


# --- values --------------------------------------------------------------------------------


def metric_range(contract: OutcomeContract) -> tuple[Decimal, Decimal]:
    """Percentages lie between 0 and 100; other metrics (days, kWh, turns) are not negative."""
    if contract.metric.unit == "%":
        return Decimal(0), Decimal(100)
    return Decimal(0), MAX_VALUE


def parse_value(contract: OutcomeContract, raw: str | Decimal | float | int, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_l("Enter a number."), field=field) from None
    if not value.is_finite():
        raise DomainError(_l("Enter a number."), field=field)
    low, high = metric_range(contract)
    if not low <= value <= high:
        raise DomainError(
            _l(
                "Enter a value from %(low)s to %(high)s %(unit)s.",
                low=f"{low:g}",
                high=f"{high:g}",
                unit=contract.metric.unit_label,
            ),
            field=field,
        )
    if value != value.quantize(Decimal("0.0001")):
        raise DomainError(_l("At most four decimals."), field=field)
    return value


MAX_EVIDENCE_BYTES = 1024 * 1024
EVIDENCE_TYPES = ("pdf", "png", "jpg", "jpeg", "xlsx", "csv")  # checked by content: files.TYPES
EvidenceFile = files.Upload


def _checked_file(file: EvidenceFile) -> tuple[str, str]:
    """A safe name and the content type, or a clear refusal."""
    return files.checked(
        file,
        EVIDENCE_TYPES,
        MAX_EVIDENCE_BYTES,
        field="evidence_file",
        kinds=_l("Attach a PDF, an image (PNG, JPG) or a spreadsheet (XLSX, CSV)."),
    )


# --- baseline -----------------------------------------------------------------------------


@atomic
def propose_baseline(
    contract: OutcomeContract,
    value: str,
    period_start: date,
    period_end: date,
    evidence: str,
    actor: Actor,
    file: EvidenceFile | None = None,
) -> None:
    if contract.status not in (ContractStatus.AWAITING_BASELINE, ContractStatus.BASELINE_DISPUTED):
        raise DomainError(_l("The baseline can no longer change: it has been agreed."))
    baseline = parse_value(contract, value, "value")
    if period_start > period_end:
        raise DomainError(_l("The period must end after it starts."), field="period_end")
    if period_end > local_today():
        raise DomainError(_l("A baseline is measured in the past."), field="period_end")
    if not evidence.strip():
        raise DomainError(_l("Describe how the baseline was measured."), field="evidence")
    stored: dict[str, object] = {}
    if file is not None:
        name, content_type = _checked_file(file)
        stored = {
            "baseline_file_name": name,
            "baseline_file_type": content_type,
            "baseline_file": file.data,
        }
    _move(
        contract,
        (ContractStatus.AWAITING_BASELINE, ContractStatus.BASELINE_DISPUTED),
        status=ContractStatus.BASELINE_PROPOSED,
        baseline_value=baseline,
        baseline_period_start=period_start,
        baseline_period_end=period_end,
        baseline_evidence=evidence.strip()[:4000],
        baseline_dispute=None,
        **stored,
    )
    _tell(contract.enterprise_id, "baseline_proposed", contract, value=_text(baseline))
    audit.record(actor, "contract.baseline_proposed", "contract", contract.id, value=str(baseline))


@atomic
def agree_baseline(contract: OutcomeContract, line: OrderLine, actor: Actor) -> None:
    if contract.status is not ContractStatus.BASELINE_PROPOSED:
        raise DomainError(_l("There is no proposed baseline to agree to."))
    _move(
        contract,
        (ContractStatus.BASELINE_PROPOSED,),
        status=ContractStatus.AWAITING_GO_LIVE,
        baseline_agreed_at=utcnow(),
    )
    _tell(contract.provider_id, "baseline_agreed", contract)
    audit.record(actor, "contract.baseline_agreed", "contract", contract.id)
    if line.status is LineStatus.COMPLETED:
        _open_window(contract, ContractStatus.AWAITING_GO_LIVE, actor)


@atomic
def dispute_baseline(contract: OutcomeContract, reason: str, actor: Actor) -> None:
    if not reason.strip():
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    if contract.status is not ContractStatus.BASELINE_PROPOSED:
        raise DomainError(_l("There is no proposed baseline to dispute."))
    _move(
        contract,
        (ContractStatus.BASELINE_PROPOSED,),
        status=ContractStatus.BASELINE_DISPUTED,
        baseline_dispute=reason.strip()[:2000],
    )
    _tell(contract.provider_id, "baseline_disputed", contract, reason=reason.strip())
    audit.record(actor, "contract.baseline_disputed", "contract", contract.id)


def _tell(org_id: int, kind: str, contract: OutcomeContract, **params: object) -> None:
    notifications.notify(org_id, kind, f"/contracts/{contract.id}", title=contract.title, **params)


def _tell_measurement(org_id: int, kind: str, measurement: Measurement, **params: object) -> None:
    _tell(
        org_id,
        kind,
        measurement.contract,
        start=measurement.period_start.isoformat(),
        end=measurement.period_end.isoformat(),
        **params,
    )


# --- measurements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    external_id: str
    period_start: date
    period_end: date
    value: str
    note: str = ""


def _same(m: Measurement, reading: Reading, value: Decimal) -> bool:
    return (
        m.period_start == reading.period_start
        and m.period_end == reading.period_end
        and Decimal(m.value) == value
        and m.note == reading.note.strip()
    )


class Conflict(DomainError):
    """The same external id was sent before with other figures."""


@atomic
def submit(
    contract: OutcomeContract, reading: Reading, actor: Actor, source: str = "web"
) -> tuple[Measurement, bool]:
    """Store a measurement; ``(measurement, False)`` when this exact one was stored before."""
    external_id = reading.external_id.strip()
    if not external_id or len(external_id) > 100:
        raise DomainError(
            _l("Give the measurement an id of at most 100 characters."), "external_id"
        )
    value = parse_value(contract, reading.value, "value")
    existing = db.session.scalar(
        select(Measurement).where(
            Measurement.contract_id == contract.id, Measurement.external_id == external_id
        )
    )
    if existing is not None:
        if _same(existing, reading, value):
            return existing, False
        raise Conflict(_l("A measurement with this id was stored with other figures."))
    if contract.status is not ContractStatus.MEASURING:
        raise DomainError(_l("Measurements are taken while the window is open."))
    assert contract.window_start is not None and contract.window_end is not None
    if reading.period_start > reading.period_end:
        raise DomainError(_l("The period must end after it starts."), field="period_end")
    if reading.period_start < contract.window_start or reading.period_end > contract.window_end:
        raise DomainError(
            _l(
                "The period must lie inside the window (%(start)s to %(end)s).",
                start=contract.window_start.isoformat(),
                end=contract.window_end.isoformat(),
            ),
            field="period_start",
        )
    if reading.period_end > local_today():
        raise DomainError(_l("A period cannot end in the future."), field="period_end")
    _one_per_period(contract, reading, external_id)
    measurement = Measurement(
        contract_id=contract.id,
        external_id=external_id,
        period_start=reading.period_start,
        period_end=reading.period_end,
        value=value,
        note=reading.note.strip()[:2000],
        source=source,
        status=MeasurementStatus.SUBMITTED,
        submitted_by_id=actor.user_id,
    )
    if not add_unique(measurement):  # sent twice at once: the first one stands
        existing = db.session.scalar(
            select(Measurement).where(
                Measurement.contract_id == contract.id, Measurement.external_id == external_id
            )
        )
        if existing is not None and _same(existing, reading, value):
            return existing, False
        if existing is None:  # another id for the same period won the race
            _one_per_period(contract, reading, external_id)
        raise Conflict(_l("A measurement with this id was stored with other figures."))
    silent_until = measurement.created_at + timedelta(days=confirm_days())
    _tell_measurement(
        contract.enterprise_id,
        "measurement_submitted",
        measurement,
        value=_text(value),
        by=silent_until.astimezone(LOCAL_ZONE).date().isoformat(),
    )
    audit.record(actor, "measurement.submitted", "contract", contract.id, id=measurement.id)
    return measurement, True


def _one_per_period(contract: OutcomeContract, reading: Reading, external_id: str) -> None:
    """A contract takes one measurement per period (UNIQUE in the database too). The same
    id sent again is not a second measurement: the caller answers it as a repeat."""
    taken = db.session.scalar(
        select(Measurement.external_id).where(
            Measurement.contract_id == contract.id,
            Measurement.period_start == reading.period_start,
            Measurement.period_end == reading.period_end,
            Measurement.external_id != external_id,
        )
    )
    if taken is not None:
        raise Conflict(
            _l(
                "A measurement for this period (%(start)s to %(end)s) is already stored"
                " (id %(id)s): a period is measured once.",
                start=reading.period_start.isoformat(),
                end=reading.period_end.isoformat(),
                id=taken,
            ),
            field="period_start",
        )


def confirm_days() -> int:
    """Days after which a measurement the enterprise left unanswered counts as confirmed."""
    return int(current_app.config.get("MEASUREMENT_CONFIRM_DAYS", 7))


def _decide(
    measurement: Measurement,
    before: MeasurementStatus,
    after: MeasurementStatus,
    actor: Actor,
    **values: object,
) -> None:
    moved = db.session.execute(
        update(Measurement)
        .where(Measurement.id == measurement.id, Measurement.status == before)
        .values(status=after, decided_by_id=actor.user_id, decided_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(_l("This measurement has already been decided."))
    db.session.refresh(measurement)
    audit.record(
        actor, f"measurement.{after.value}", "contract", measurement.contract_id, id=measurement.id
    )


def confirm(measurement: Measurement, actor: Actor) -> None:
    _decide(measurement, MeasurementStatus.SUBMITTED, MeasurementStatus.CONFIRMED, actor)


def dispute(measurement: Measurement, reason: str, actor: Actor) -> None:
    if not reason.strip():
        raise DomainError(_l("Give a reason; the other party will see it."), field="reason")
    _decide(
        measurement,
        MeasurementStatus.SUBMITTED,
        MeasurementStatus.DISPUTED,
        actor,
        dispute_reason=reason.strip()[:2000],
    )
    contract = measurement.contract
    _tell_measurement(
        contract.provider_id, "measurement_disputed", measurement, reason=reason.strip()
    )
    # any assessor may verify it (see ``access``): each assessor organisation is asked
    for assessor_id in db.session.scalars(
        select(Organisation.id).where(Organisation.kind == OrgKind.ASSESSOR)
    ):
        _tell_measurement(assessor_id, "measurement_to_verify", measurement)


def verifying_assessors(enterprise_id: int) -> set[int]:
    """The assessors who verified (or rejected) a measurement of the enterprise's contracts,
    as the audit trail records it (a data grant's reason to see its data)."""
    contracts = select(cast(OutcomeContract.id, String)).where(
        OutcomeContract.enterprise_id == enterprise_id
    )
    stmt = (
        select(AuditEntry.actor_org_id)
        .where(
            AuditEntry.action.in_(("measurement.verified", "measurement.rejected")),
            AuditEntry.object_type == "contract",
            AuditEntry.object_id.in_(contracts),
            AuditEntry.actor_org_id.is_not(None),
        )
        .distinct()
    )
    return {org_id for org_id in db.session.scalars(stmt) if org_id is not None}


def verify(measurement: Measurement, upheld: bool, note: str, actor: Actor) -> None:
    """The assessor's word on a disputed measurement is final."""
    if not note.strip():
        raise DomainError(_l("Say what you checked."), field="note")
    after = MeasurementStatus.VERIFIED if upheld else MeasurementStatus.REJECTED
    _decide(
        measurement, MeasurementStatus.DISPUTED, after, actor, verification_note=note.strip()[:2000]
    )
    contract = measurement.contract
    for org_id in (contract.enterprise_id, contract.provider_id):
        _tell_measurement(org_id, f"measurement_{after.value}", measurement, note=note.strip())


def _unanswered(silent_days: int) -> list[Any]:
    cutoff = utcnow() - timedelta(days=silent_days)
    return [Measurement.status == MeasurementStatus.SUBMITTED, Measurement.created_at <= cutoff]


def due_for_confirmation(silent_days: int) -> list[int]:
    """Measurements the enterprise left unanswered for ``silent_days`` (job items)."""
    stmt = select(Measurement.id).where(*_unanswered(silent_days)).order_by(Measurement.id)
    return list(db.session.scalars(stmt))


def auto_confirm_one(measurement_id: int, silent_days: int, actor: Actor) -> bool:
    """Confirm one such measurement, if it is still unanswered (one conditional UPDATE)."""
    moved = db.session.execute(
        update(Measurement)
        .where(Measurement.id == measurement_id, *_unanswered(silent_days))
        .values(status=MeasurementStatus.CONFIRMED, decided_at=utcnow())
        .returning(Measurement.contract_id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return False
    audit.record(
        actor,
        "measurement.confirmed",
        "contract",
        moved[0],
        measurement_id=measurement_id,
        automatic=1,
    )
    return True


def auto_confirm(silent_days: int, actor: Actor) -> int:
    """Confirm every measurement the enterprise left unanswered for ``silent_days``."""
    return sum(auto_confirm_one(m, silent_days, actor) for m in due_for_confirmation(silent_days))


# --- settlement ---------------------------------------------------------------------------


def achieved(measurements: list[Measurement]) -> Decimal | None:
    """The window's value: the mean of counted measurements, weighted by their days."""
    counted = [m for m in measurements if m.status in COUNTED]
    if not counted:
        return None
    days = [(m.period_end - m.period_start).days + 1 for m in counted]
    total = sum((Decimal(m.value) * d for m, d in zip(counted, days, strict=True)), Decimal(0))
    return total / sum(days)  # exact: fees.settle rounds, always against the provider


def terms(contract: OutcomeContract) -> fees.Terms:
    return fees.Terms(
        better=contract.better,
        target_kind=contract.target_kind,
        target_value=Decimal(contract.target_value),
        fee_rule=contract.fee_rule,
        success_fee_fen=contract.success_fee_fen,
        fee_per_unit_fen=contract.fee_per_unit_fen,
        fee_cap_fen=contract.fee_cap_fen,
        base_fee_fen=contract.base_fee_fen,
    )


@atomic
def settle(contract: OutcomeContract, actor: Actor, today: date | None = None) -> None:
    """After the window: met → a success-fee invoice; missed → no charge, with the figures."""
    today = today or local_today()
    if contract.status is not ContractStatus.MEASURING:
        raise DomainError(_l("Only a contract in its measurement window can be settled."))
    assert contract.window_end is not None and contract.baseline_value is not None
    if today <= contract.window_end:
        raise DomainError(_l("The window ends on %(date)s.", date=contract.window_end.isoformat()))
    waiting = [
        m
        for m in contract.measurements
        if m.status in (MeasurementStatus.SUBMITTED, MeasurementStatus.DISPUTED)
    ]
    if waiting:
        raise DomainError(
            _l(
                "%(n)d measurements still wait for the enterprise or the assessor; the contract"
                " is settled once they are decided.",
                n=len(waiting),
            )
        )
    value = achieved(contract.measurements)
    baseline = Decimal(contract.baseline_value)
    if value is None:
        outcome = None
        met, fee = False, 0
    else:
        outcome = fees.settle(terms(contract), baseline, value)
        met, fee = outcome.met, outcome.fee_fen
    computation = {
        "baseline": _text(baseline),
        "achieved": None if value is None else _text(value.quantize(Decimal("0.0001"))),
        "counted": sum(1 for m in contract.measurements if m.status in COUNTED),
        "change": None if outcome is None else _text(outcome.change),
        "improvement": None if outcome is None else _text(outcome.improvement),
        "target": _text(Decimal(contract.target_value)),
        "met": met,
        "units_paid": None if outcome is None else _text(outcome.units_paid),
        "uncapped_fen": None if outcome is None else outcome.uncapped_fen,
        "cap_fen": None if outcome is None else outcome.cap_fen,
        "fee_fen": fee,
    }
    _move(
        contract,
        (ContractStatus.MEASURING,),
        status=ContractStatus.MET if met else ContractStatus.MISSED,
        achieved_value=None if value is None else value.quantize(Decimal("0.0001")),
        fee_fen=fee,
        computation=computation,
        settled_at=utcnow(),
    )
    audit.record(actor, "contract.settled", "contract", contract.id, met=met, fee_fen=fee)
    settled_line = db.session.get(OrderLine, contract.order_line_id)
    if settled_line is not None and settled_line.package_id is not None:
        reviews.record_result(settled_line.package_id, met)
    if met:
        cases.ask_consent(contract)
    if met and fee > 0:
        line = db.session.get(OrderLine, contract.order_line_id)
        assert line is not None
        claim = spending.LineClaim(
            key=0,
            provider_id=contract.provider_id,
            amount_fen=fee,
            plan_kind=PlanKind.OUTCOME.value,
            category_code=line.version.category_code if line.version else None,
            success_fee=True,
            version_id=line.version_id,
        )
        share = spending.pay_success_fee(claim, line.id, contract.enterprise_id, actor)
        payments.bill(
            InvoiceKind.SUCCESS_FEE,
            contract.order_line_id,
            contract.provider_id,
            contract.enterprise_id,
            fee,
            share,
            str(_l("Success fee: %(title)s", title=contract.title)),
            actor,
        )


def _text(value: Decimal) -> str:
    """``18.0000`` → ``18``; ``0.1250`` → ``0.125``: figures as people write them."""
    return f"{value.normalize():f}"


def due_for_settlement(today: date | None = None) -> list[int]:
    """Contracts whose measurement window has ended (the settlement job's items)."""
    stmt = select(OutcomeContract.id).where(
        OutcomeContract.status == ContractStatus.MEASURING,
        OutcomeContract.window_end < (today or local_today()),
    )
    return list(db.session.scalars(stmt.order_by(OutcomeContract.id)))


def settle_one(contract_id: int, actor: Actor, today: date | None = None) -> bool:
    """Settle one due contract; False when it cannot be yet (measurements still waiting) or
    was settled meanwhile: the next run looks again."""
    contract = db.session.get(OutcomeContract, contract_id)
    if contract is None:
        return False
    try:
        settle(contract, actor, today)  # its own savepoint
    except DomainError:
        return False
    return True


def settle_due(actor: Actor, today: date | None = None) -> list[OutcomeContract]:
    done = []
    for contract_id in due_for_settlement(today):
        if settle_one(contract_id, actor, today):
            contract = db.session.get(OutcomeContract, contract_id)
            assert contract is not None
            done.append(contract)
    return done


# --- reading ------------------------------------------------------------------------------

# Who may see a contract is decided in ``access``; its rules are reachable from here too.
contract_for = access.contract_for
contracts_for = access.contracts_for


def fee_text(contract: OutcomeContract) -> str:
    if contract.fee_rule is FeeRule.FIXED:
        return str(
            _l("%(fee)s when the target is met", fee=format_fen(contract.success_fee_fen or 0))
        )
    return str(
        _l(
            "%(per)s per unit of improvement, up to %(cap)s with the base fee",
            per=format_fen(contract.fee_per_unit_fen or 0),
            cap=format_fen(contract.fee_cap_fen or 0),
        )
    )
