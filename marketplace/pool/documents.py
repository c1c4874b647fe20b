"""Documents of a pool application: the provider attaches its business licence,
qualification certificates and case material while the application waits for the agency's
decision; the agency's officials who review it open them. Files go through
``marketplace.files`` (type told by the content, a size limit, a safe name). Every attachment,
removal and opening is audited."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from marketplace import audit, files
from marketplace.accounts.models import Organisation
from marketplace.db import db
from marketplace.errors import DomainError, NotFound
from marketplace.pool.models import DocumentKind, PoolDocument, PoolMembership, PoolStatus
from marketplace.security import Actor

DOCUMENT_TYPES = ("pdf", "png", "jpg", "jpeg")  # checked by content: files.TYPES
MAX_DOCUMENTS = 10  # per application


def attach(
    membership: PoolMembership, kind: str, upload: files.Upload | None, actor: Actor
) -> PoolDocument:
    """The provider attaches a document to its application while the agency has not decided."""
    if actor.org_id != membership.provider_id:
        raise NotFound(_l("Not found."))
    if membership.status is not PoolStatus.APPLIED:
        raise DomainError(
            _l("Documents can be attached only while the application waits for a decision.")
        )
    try:
        document_kind = DocumentKind(kind)
    except ValueError as exc:
        raise DomainError(_l("Choose what the document is."), field="kind") from exc
    if upload is None:
        raise DomainError(_l("Choose a file to attach."), field="document")
    name, content_type = files.checked(
        upload,
        DOCUMENT_TYPES,
        current_app.config["POOL_DOCUMENT_MAX_BYTES"],
        field="document",
        kinds=_l("Attach a PDF or an image (PNG, JPG)."),
    )
    count = db.session.scalar(
        select(func.count(PoolDocument.id)).where(PoolDocument.membership_id == membership.id)
    )
    if (count or 0) >= MAX_DOCUMENTS:
        raise DomainError(
            _l("An application carries at most %(n)d documents.", n=MAX_DOCUMENTS),
            field="document",
        )
    document = PoolDocument(
        membership_id=membership.id,
        kind=document_kind,
        name=name,
        content_type=content_type,
        size=len(upload.data),
        data=upload.data,
        uploaded_by_id=actor.user_id,
    )
    db.session.add(document)
    db.session.flush()
    _audit(actor, "pool.document_added", document)
    return document


def remove(membership: PoolMembership, document_id: int, actor: Actor) -> None:
    """The provider takes a document back while the agency has not decided."""
    if actor.org_id != membership.provider_id:
        raise NotFound(_l("Not found."))
    document = _document(membership, document_id)
    if membership.status is not PoolStatus.APPLIED:
        raise DomainError(
            _l("Documents can be removed only while the application waits for a decision.")
        )
    _audit(actor, "pool.document_removed", document)
    db.session.delete(document)


def documents_of(membership: PoolMembership) -> list[PoolDocument]:
    """The application's documents, without their bytes."""
    stmt = (
        select(PoolDocument)
        .where(PoolDocument.membership_id == membership.id)
        .order_by(PoolDocument.id)
    )
    return list(db.session.scalars(stmt))


def open_document(
    org: Organisation, membership: PoolMembership, document_id: int, actor: Actor
) -> PoolDocument:
    """A document for the applying provider or the officials of the agency running the pool
    (the caller has found the membership through their organisation); anyone else: not found.
    Every opening is audited."""
    if org.id not in (membership.provider_id, membership.agency_id):
        raise NotFound(_l("Not found."))
    document = _document(membership, document_id)
    _audit(actor, "pool.document_opened", document)
    return document


def _document(membership: PoolMembership, document_id: int) -> PoolDocument:
    document = db.session.get(PoolDocument, document_id)
    if document is None or document.membership_id != membership.id:
        raise NotFound(_l("Not found."))
    return document


def _audit(actor: Actor, action: str, document: PoolDocument) -> None:
    audit.record(
        actor,
        action,
        "pool_membership",
        document.membership_id,
        document_id=document.id,
        kind=document.kind.value,
        name=document.name,
        size=document.size,
    )
