"""The audit trail: append-only rows of who did what to which object, when and from where.

The database refuses UPDATE and DELETE on ``audit_entries`` (triggers in the migration).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, created_at, db, intpk
from marketplace.security import Actor


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_object", "object_type", "object_id"),
        Index("ix_audit_entries_actor_org_id_at", "actor_org_id", "at"),
    )

    id: Mapped[intpk]
    at: Mapped[created_at]
    actor_user_id: Mapped[int | None]
    actor_org_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = None,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=actor.ip,
        details=details,
    )
    db.session.add(entry)
    return entry


def entries_about(object_type: str, object_id: object, limit: int = 50) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def entries_for_org(org_id: int, limit: int = 20) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.actor_org_id == org_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


ACTION_LABELS = {
    "login.success": _l("Logged in"),
    "login.failure": _l("Failed login"),
    "logout": _l("Logged out"),
    "password.changed": _l("Password changed"),
    "password.reset": _l("Password set with a reset link"),
    "password.reset_link_created": _l("Password reset link created"),
    "organisation.registered": _l("Organisation registered"),
    "organisation.created": _l("Organisation created"),
    "organisation.profile_updated": _l("Profile updated"),
    "member.added": _l("Member added"),
    "member.removed": _l("Member removed"),
    "member.role_changed": _l("Member's role changed"),
    "invitation.created": _l("Invitation created"),
    "invitation.revoked": _l("Invitation revoked"),
    "user.deactivated": _l("Account deactivated"),
    "user.activated": _l("Account reactivated"),
}


def register_labels(labels: dict[str, Any]) -> None:
    """Each domain names its own actions (audit is the lowest layer and imports none)."""
    ACTION_LABELS.update(labels)


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else str(_l("Other change (%(action)s)", action=action))


def actions_named(text: str) -> set[str]:
    """The codes of the actions whose name, in any of the app's languages, contains ``text``
    (any case): "结算" and "settlement" both find the settlement actions, whichever
    language the page is in."""
    needle = text.strip().casefold()
    if not needle:
        return set()
    found = set()
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            found |= {
                code for code, label in ACTION_LABELS.items() if needle in str(label).casefold()
            }
    return found
