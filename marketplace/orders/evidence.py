"""Delivery evidence (交付证明): what a provider shows for its delivery of a line, or of one
milestone: a note, a file, or both. It comes with marking the delivery (deliver, deliver
again) or a milestone done (``services.transition``, ``services.complete_milestone``), the
enterprise reads it on the line before accepting (验收), and the file opens only for the two
parties, the overseeing agency (whose vouchers pay part of the line, or which decides its
dispute) and assessors the enterprise granted its KPI reports. Adding and opening are
audited; an assessor's opening is also in the enterprise's access log."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload, undefer

from marketplace import audit, files
from marketplace.accounts import grants
from marketplace.accounts.models import GrantScope, Organisation, OrgKind
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.orders.models import DeliveryEvidence, Dispute, Milestone, OrderLine
from marketplace.security import Actor
from marketplace.vouchers import spending

FILE_TYPES = ("pdf", "png", "jpg", "jpeg", "xlsx", "csv", "txt")
KINDS = _l("Attach a PDF, an image (PNG, JPG), a spreadsheet (XLSX, CSV) or a text file.")
MAX_NOTE = 2000
MAX_PER_LINE = 50


@dataclass(frozen=True)
class Evidence:
    """Evidence as the provider gives it: a note, an uploaded file, or both (or neither: no
    evidence, which is allowed)."""

    note: str = ""
    upload: files.Upload | None = None

    @property
    def given(self) -> bool:
        return bool(self.note.strip()) or self.upload is not None


@dataclass(frozen=True)
class Checked:
    note: str
    name: str | None
    content_type: str | None
    data: bytes | None


def max_bytes() -> int:
    return int(current_app.config["DELIVERY_EVIDENCE_MAX_BYTES"])


def check(line: OrderLine, evidence: Evidence) -> Checked:
    """The evidence as it will be kept, or a refusal naming the field; writes nothing."""
    note = evidence.note.strip()
    if len(note) > MAX_NOTE:
        raise DomainError(
            _l("The note has at most %(n)d characters.", n=MAX_NOTE), field="evidence_note"
        )
    if len(evidences_on([line.id]).get(line.id, [])) >= MAX_PER_LINE:
        raise DomainError(
            _l("A line holds at most %(n)d pieces of evidence.", n=MAX_PER_LINE),
            field="evidence_file",
        )
    if evidence.upload is None:
        return Checked(note, None, None, None)
    name, content_type = files.checked(
        evidence.upload, FILE_TYPES, max_bytes(), field="evidence_file", kinds=KINDS
    )
    return Checked(note, name, content_type, evidence.upload.data)


def store(
    line: OrderLine, checked: Checked, actor: Actor, milestone: Milestone | None = None
) -> DeliveryEvidence:
    """Keep checked evidence on the line (the caller moved the line or the milestone)."""
    row = DeliveryEvidence(
        line_id=line.id,
        milestone_id=milestone.id if milestone is not None else None,
        line_status=line.status,
        note=checked.note,
        name=checked.name,
        content_type=checked.content_type,
        size=len(checked.data) if checked.data is not None else None,
        data=checked.data,
        created_by_id=actor.user_id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        "delivery_evidence.added",
        "order_line",
        line.id,
        evidence_id=row.id,
        milestone_id=row.milestone_id,
        file=row.name,
        size=row.size,
    )
    return row


def evidences_on(line_ids: list[int]) -> dict[int, list[DeliveryEvidence]]:
    """Each line's evidence, oldest first (without the files' bytes)."""
    if not line_ids:
        return {}
    rows = db.session.scalars(
        select(DeliveryEvidence)
        .where(DeliveryEvidence.line_id.in_(line_ids))
        .options(selectinload(DeliveryEvidence.milestone))
        .order_by(DeliveryEvidence.id)
    )
    found: dict[int, list[DeliveryEvidence]] = defaultdict(list)
    for row in rows:
        found[row.line_id].append(row)
    return dict(found)


def _overseer_ids(line: OrderLine) -> set[int]:
    """The agency whose vouchers pay part of the line, and whoever decides its disputes."""
    ids = {
        org_id
        for org_id in db.session.scalars(
            select(Dispute.decider_org_id).where(
                Dispute.line_id == line.id, Dispute.decider_org_id.is_not(None)
            )
        )
        if org_id is not None
    }
    paying = spending.paying_agency(line.id)
    if paying is not None:
        ids.add(paying)
    return ids


def file_for(org: Organisation, line_id: int, evidence_id: int, actor: Actor) -> DeliveryEvidence:
    """An evidence file, for those who may open it; anyone else: not found. Each opening is
    audited (and, for an assessor, logged for the enterprise under its grant)."""
    row = db.session.scalar(
        select(DeliveryEvidence)
        .where(DeliveryEvidence.id == evidence_id, DeliveryEvidence.line_id == line_id)
        .options(undefer(DeliveryEvidence.data))
    )
    line = db.session.get(OrderLine, line_id)
    if row is None or line is None or row.data is None:
        raise NotFound(_l("Not found."))
    enterprise_id = line.order.enterprise_id
    if org.kind is OrgKind.ASSESSOR:
        g = grants.require(org, enterprise_id, GrantScope.KPI_REPORTS)  # none: not found
        grants.log_view(g, GrantScope.KPI_REPORTS, "delivery_evidence", row.id, actor)
    elif not (
        (org.kind is OrgKind.ENTERPRISE and org.id == enterprise_id)
        or (org.kind is OrgKind.PROVIDER and org.id == line.provider_id)
        or (org.kind in (OrgKind.AGENCY, OrgKind.PLATFORM) and org.id in _overseer_ids(line))
    ):
        raise NotFound(_l("Not found."))
    audit.record(actor, "delivery_evidence.downloaded", "order_line", line.id, evidence_id=row.id)
    return row
