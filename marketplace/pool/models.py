"""The providers' resource pools (服务商资源池) of the agencies."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.db import Base, created_at, intpk, str_enum
from marketplace.statemachine import StateMachine, Transition


class PoolStatus(StrEnum):
    APPLIED = "applied"
    ADMITTED = "admitted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    EXITED = "exited"

    @property
    def label(self) -> str:
        return str(POOL_STATUS_LABELS[self])


POOL_STATUS_LABELS = {
    PoolStatus.APPLIED: _l("Applied"),
    PoolStatus.ADMITTED: _l("Admitted"),
    PoolStatus.REJECTED: _l("Rejected"),
    PoolStatus.SUSPENDED: _l("Suspended"),
    PoolStatus.EXITED: _l("Exited"),
}


class PoolEvent(StrEnum):
    APPLY = "apply"
    ADMIT = "admit"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    EXIT = "exit"
    REAPPLY = "reapply"

    @property
    def label(self) -> str:
        return str(POOL_EVENT_LABELS[self])


POOL_EVENT_LABELS = {
    PoolEvent.APPLY: _l("Apply"),
    PoolEvent.ADMIT: _l("Admit"),
    PoolEvent.REJECT: _l("Refuse admission"),
    PoolEvent.SUSPEND: _l("Suspend"),
    PoolEvent.REINSTATE: _l("Reinstate"),
    PoolEvent.EXIT: _l("Remove from the pool (exit)"),
    PoolEvent.REAPPLY: _l("Apply again"),
}

P, A = OrgKind.PROVIDER.value, OrgKind.AGENCY.value
POOL_MACHINE: StateMachine[PoolStatus, PoolEvent] = StateMachine(
    [
        Transition(None, PoolEvent.APPLY, PoolStatus.APPLIED, P),
        Transition(PoolStatus.APPLIED, PoolEvent.ADMIT, PoolStatus.ADMITTED, A),
        Transition(PoolStatus.APPLIED, PoolEvent.REJECT, PoolStatus.REJECTED, A),
        Transition(PoolStatus.REJECTED, PoolEvent.REAPPLY, PoolStatus.APPLIED, P),
        Transition(PoolStatus.ADMITTED, PoolEvent.SUSPEND, PoolStatus.SUSPENDED, A),
        Transition(PoolStatus.SUSPENDED, PoolEvent.REINSTATE, PoolStatus.ADMITTED, A),
        Transition(PoolStatus.SUSPENDED, PoolEvent.EXIT, PoolStatus.EXITED, A),
        # After the exit rule's waiting period (see PoolMembership.reapply_after).
        Transition(PoolStatus.SUSPENDED, PoolEvent.REAPPLY, PoolStatus.APPLIED, P),
    ]
)


class PoolMembership(Base):
    """A provider's application to one agency's pool and its standing there."""

    __tablename__ = "pool_memberships"
    __table_args__ = (
        UniqueConstraint("provider_id", "agency_id"),
        CheckConstraint("years_in_business >= 0 AND years_in_business <= 200", name="years_sane"),
        CheckConstraint("reference_customer_count >= 0", name="references_not_negative"),
        CheckConstraint("provider_id <> agency_id", name="distinct_orgs"),
        Index("ix_pool_memberships_agency_id_status", "agency_id", "status"),
    )

    id: Mapped[intpk]
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[PoolStatus] = mapped_column(str_enum(PoolStatus))
    years_in_business: Mapped[int]
    reference_customer_count: Mapped[int]
    reference_customers: Mapped[str] = mapped_column(Text)
    certifications: Mapped[str] = mapped_column(Text, default="")
    capability_statement: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(60))
    contact_phone: Mapped[str] = mapped_column(String(30))
    contact_email: Mapped[str] = mapped_column(String(254))
    applied_at: Mapped[created_at]
    # Set when the exit rule suspended the provider (two failed evaluations): no
    # reinstatement by hand; the provider applies again from this day.
    reapply_after: Mapped[date | None]
    updated_at: Mapped[created_at]

    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id], lazy="joined")
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_id], lazy="joined")
    history: Mapped[list[PoolStatusChange]] = relationship(
        back_populates="membership", order_by="PoolStatusChange.id.desc()"
    )
    documents: Mapped[list[PoolDocument]] = relationship(
        back_populates="membership", order_by="PoolDocument.id", cascade="all, delete-orphan"
    )

    @property
    def last_change(self) -> PoolStatusChange | None:
        return self.history[0] if self.history else None


class PoolStatusChange(Base):
    """Append-only history of a membership: every transition with its reason."""

    __tablename__ = "pool_status_changes"

    id: Mapped[intpk]
    membership_id: Mapped[int] = mapped_column(ForeignKey("pool_memberships.id"), index=True)
    from_status: Mapped[PoolStatus | None] = mapped_column(str_enum(PoolStatus, name="from_status"))
    to_status: Mapped[PoolStatus] = mapped_column(str_enum(PoolStatus, name="to_status"))
    event: Mapped[PoolEvent] = mapped_column(str_enum(PoolEvent))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]

    membership: Mapped[PoolMembership] = relationship(back_populates="history")


# Advisors (数字化顾问) apply to the same pools as providers, with the same decisions and
# reasons, but in tables of their own: evaluations, market shares, settlements and the
# catalogue read the providers' memberships and must never count an advisor.
ADV = OrgKind.ADVISOR.value
ADVISOR_POOL_MACHINE: StateMachine[PoolStatus, PoolEvent] = StateMachine(
    [
        Transition(None, PoolEvent.APPLY, PoolStatus.APPLIED, ADV),
        Transition(PoolStatus.APPLIED, PoolEvent.ADMIT, PoolStatus.ADMITTED, A),
        Transition(PoolStatus.APPLIED, PoolEvent.REJECT, PoolStatus.REJECTED, A),
        Transition(PoolStatus.REJECTED, PoolEvent.REAPPLY, PoolStatus.APPLIED, ADV),
        Transition(PoolStatus.ADMITTED, PoolEvent.SUSPEND, PoolStatus.SUSPENDED, A),
        Transition(PoolStatus.SUSPENDED, PoolEvent.REINSTATE, PoolStatus.ADMITTED, A),
        Transition(PoolStatus.ADMITTED, PoolEvent.EXIT, PoolStatus.EXITED, A),
        Transition(PoolStatus.SUSPENDED, PoolEvent.EXIT, PoolStatus.EXITED, A),
    ]
)


class AdvisorMembership(Base):
    """An advisor's application to one agency's pool and its standing there; only an
    admitted advisor takes new on-site diagnosis requests from the pool's enterprises."""

    __tablename__ = "advisor_memberships"
    __table_args__ = (
        UniqueConstraint("advisor_id", "agency_id"),
        CheckConstraint("years_of_experience BETWEEN 0 AND 80", name="years_sane"),
        CheckConstraint("advisor_id <> agency_id", name="distinct_orgs"),
        Index("ix_advisor_memberships_agency_id_status", "agency_id", "status"),
    )

    id: Mapped[intpk]
    advisor_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[PoolStatus] = mapped_column(str_enum(PoolStatus))
    years_of_experience: Mapped[int]
    expertise: Mapped[str] = mapped_column(Text)
    certifications: Mapped[str] = mapped_column(Text, default="")
    contact_name: Mapped[str] = mapped_column(String(60))
    contact_phone: Mapped[str] = mapped_column(String(30))
    contact_email: Mapped[str] = mapped_column(String(254))
    applied_at: Mapped[created_at]
    updated_at: Mapped[created_at]

    advisor: Mapped[Organisation] = relationship(foreign_keys=[advisor_id], lazy="joined")
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_id], lazy="joined")
    history: Mapped[list[AdvisorStatusChange]] = relationship(
        back_populates="membership", order_by="AdvisorStatusChange.id.desc()"
    )


class AdvisorStatusChange(Base):
    """Append-only history of an advisor's membership: every transition with its reason."""

    __tablename__ = "advisor_status_changes"

    id: Mapped[intpk]
    membership_id: Mapped[int] = mapped_column(ForeignKey("advisor_memberships.id"), index=True)
    from_status: Mapped[PoolStatus | None] = mapped_column(str_enum(PoolStatus, name="from_status"))
    to_status: Mapped[PoolStatus] = mapped_column(str_enum(PoolStatus, name="to_status"))
    event: Mapped[PoolEvent] = mapped_column(str_enum(PoolEvent))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]

    membership: Mapped[AdvisorMembership] = relationship(back_populates="history")


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"
    QUALIFICATION = "qualification"
    CASE_MATERIAL = "case_material"

    @property
    def label(self) -> str:
        return str(DOCUMENT_KIND_LABELS[self])


DOCUMENT_KIND_LABELS = {
    DocumentKind.BUSINESS_LICENCE: _l("Business licence"),
    DocumentKind.QUALIFICATION: _l("Qualification certificate"),
    DocumentKind.CASE_MATERIAL: _l("Case material"),
}


class PoolDocument(Base):
    """A file a provider attaches to its application (business licence, a qualification, case
    material), stored like outcome evidence (marketplace/files.py) and opened only by the
    provider and the officials of the agency that runs the pool."""

    __tablename__ = "pool_documents"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    id: Mapped[intpk]
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("pool_memberships.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, length=30))
    name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]

    membership: Mapped[PoolMembership] = relationship(back_populates="documents")


audit.register_labels(
    {
        **{
            f"pool.{event.value}": _l("Resource pool: %(event)s", event=POOL_EVENT_LABELS[event])
            for event in PoolEvent
        },
        "pool.document_added": _l("Resource pool: document attached to an application"),
        "pool.document_removed": _l("Resource pool: document removed from an application"),
        "pool.document_opened": _l("Resource pool: application document opened"),
        **{
            f"advisor_pool.{event.value}": _l(
                "Advisor pool: %(event)s", event=POOL_EVENT_LABELS[event]
            )
            for event in PoolEvent
        },
    }
)

# What a provider is told of the agency's decisions, and the agency of an application.
notifications.register_kinds(
    {
        "pool_applied": _l(
            "%(provider)s applied to your resource pool: admit or reject the application."
        ),
        "pool_admitted": _l(
            "You are admitted to the resource pool of %(agency)s: its enterprises may now buy"
            " your packages with its vouchers."
        ),
        "pool_rejected": _l(
            "Your application to the resource pool of %(agency)s was rejected; you may apply "
            "again. Reason: %(reason)s"
        ),
        "pool_suspended": _l(
            "You are suspended from the resource pool of %(agency)s: its vouchers do not pay "
            "for your packages until you are reinstated. Reason: %(reason)s"
        ),
        "pool_reinstated": _l("You are reinstated in the resource pool of %(agency)s: %(reason)s"),
        "pool_exited": _l("You were removed from the resource pool of %(agency)s: %(reason)s"),
    },
    group="money",
)

notifications.register_kinds(
    {
        "advisor_pool_applied": _l(
            "Advisor %(advisor)s applied to your resource pool: admit or reject the application."
        ),
        "advisor_pool_admitted": _l(
            "You are admitted to the resource pool of %(agency)s as an advisor: its enterprises"
            " may now ask you for an on-site diagnosis. %(reason)s"
        ),
        "advisor_pool_rejected": _l(
            "Your application to the resource pool of %(agency)s was rejected; you may apply"
            " again. Reason: %(reason)s"
        ),
        "advisor_pool_suspended": _l(
            "You are suspended from the resource pool of %(agency)s and take no new on-site"
            " diagnosis requests there. Reason: %(reason)s"
        ),
        "advisor_pool_reinstated": _l(
            "You are reinstated in the resource pool of %(agency)s: %(reason)s"
        ),
        "advisor_pool_exited": _l(
            "You were removed from the resource pool of %(agency)s: %(reason)s"
        ),
    },
    group="money",
)
