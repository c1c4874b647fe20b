"""Who may see an outcome contract, and who may open its evidence files.

A contract is seen by its two parties (the enterprise and the line's provider), by the
agencies that oversee it and by assessors who verify its measurements:

- an agency oversees a contract when its pool admitted the provider (admitted, suspended or
  exited since), or when one of its voucher programmes paid towards the contract's order line:
  public money it has to be able to audit, even after the provider left its pool;
- an assessor is not assigned to a contract by name: any assessor may verify a disputed
  measurement, so assessors see a contract while one of its measurements is disputed, and
  afterwards when they decided one.

The evidence files open for all of these, and for the providers and assessors the enterprise
granted its outcome measurements (数据授权): each of their openings is written to the
enterprise's data access log. Anyone else finds nothing (404), so as not to learn the file
exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, literal, or_, select

from marketplace.accounts import grants
from marketplace.accounts.models import DataGrant, GrantScope, Organisation, OrgKind, User
from marketplace.db import db
from marketplace.errors import NotFound
from marketplace.outcomes.models import Measurement, MeasurementStatus, OutcomeContract
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import risk

# Agencies oversee the contracts of providers they admitted (and later suspended or exited).
OVERSEEN = (PoolStatus.ADMITTED, PoolStatus.SUSPENDED, PoolStatus.EXITED)


def contracts_for(org: Organisation) -> list[OutcomeContract]:
    stmt = select(OutcomeContract).order_by(OutcomeContract.id.desc())
    if org.kind is OrgKind.ENTERPRISE:
        stmt = stmt.where(OutcomeContract.enterprise_id == org.id)
    elif org.kind is OrgKind.PROVIDER:
        stmt = stmt.where(OutcomeContract.provider_id == org.id)
    elif org.kind is OrgKind.AGENCY:
        pool = select(PoolMembership.provider_id).where(
            PoolMembership.agency_id == org.id, PoolMembership.status.in_(OVERSEEN)
        )
        stmt = stmt.where(
            or_(
                OutcomeContract.provider_id.in_(pool),
                OutcomeContract.order_line_id.in_(risk.lines_paid_by(org.id)),
            )
        )
    else:
        disputed = select(Measurement.contract_id).where(
            Measurement.status == MeasurementStatus.DISPUTED
        )
        stmt = stmt.where(OutcomeContract.id.in_(disputed))
    return list(db.session.scalars(stmt))


def contract_for(org: Organisation, contract_id: int) -> OutcomeContract:
    """Its enterprise and provider, the agencies overseeing it, assessors while a measurement
    of it is disputed or once they decided one (see above). Anyone else: not found."""
    contract = db.session.get(OutcomeContract, contract_id)
    if contract is None:
        raise NotFound(_l("Not found."))
    if org.id in (contract.enterprise_id, contract.provider_id):
        return contract
    if org.kind is OrgKind.AGENCY and _oversees(org, contract):
        return contract
    if org.kind is OrgKind.ASSESSOR and any(
        m.status is MeasurementStatus.DISPUTED or _decided_by(m, org) for m in contract.measurements
    ):
        return contract
    raise NotFound(_l("Not found."))


def _oversees(agency: Organisation, contract: OutcomeContract) -> bool:
    member = exists().where(
        PoolMembership.agency_id == agency.id,
        PoolMembership.provider_id == contract.provider_id,
        PoolMembership.status.in_(OVERSEEN),
    )
    paid = literal(contract.order_line_id).in_(risk.lines_paid_by(agency.id))
    return bool(db.session.scalar(select(or_(member, paid))))


def _decided_by(measurement: Measurement, org: Organisation) -> bool:
    if measurement.decided_by_id is None:
        return False
    user = db.session.get(User, measurement.decided_by_id)
    return user is not None and user.org_id == org.id


def _granted(org: Organisation, contract_id: int) -> tuple[OutcomeContract, DataGrant]:
    """The contract of an enterprise that granted this organisation its measurements, with
    that grant; otherwise not found."""
    contract = db.session.get(OutcomeContract, contract_id)
    if contract is None:
        raise NotFound(_l("Not found."))
    return contract, grants.require(org, contract.enterprise_id, GrantScope.MEASUREMENTS)


@dataclass(frozen=True)
class Evidence:
    name: str
    content_type: str
    data: bytes


def evidence_for(org: Organisation, contract_id: int, actor: Actor) -> Evidence:
    """The contract's baseline evidence file, for whoever may open it (see above); a grantee's
    opening is logged for the enterprise. Anyone else, or no file: not found.

    Measurements carry no files of their own (their evidence is the note and, when disputed,
    the assessor's verification); when they do, they open through here too."""
    grant = None
    try:
        contract = contract_for(org, contract_id)
    except NotFound:
        contract, grant = _granted(org, contract_id)
    if contract.baseline_file_name is None or contract.baseline_file is None:
        raise NotFound(_l("Not found."))
    if grant is not None:
        grants.log_view(grant, GrantScope.MEASUREMENTS, "baseline_evidence", contract.id, actor)
    return Evidence(
        name=contract.baseline_file_name,
        content_type=contract.baseline_file_type or "application/octet-stream",
        data=contract.baseline_file,
    )
