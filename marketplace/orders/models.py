"""The enterprise's side: bundles (组合方案), orders and their lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit, notifications
from marketplace.accounts.models import Organisation, OrgKind, User
from marketplace.catalog.models import Category, Package, PackageVersion, PlanKind, PricePlan
from marketplace.db import Base, created_at, intpk, str_enum
from marketplace.statemachine import StateMachine, Transition


def whole_days(start: datetime, end: datetime) -> int:
    """Whole days from ``start`` to ``end``, rounded down: a line's days to go-live and to
    acceptance (验收), as the statistics count them."""
    return (end - start) // timedelta(days=1)


def _days_to(moment: str) -> Callable[[Any], int | None]:
    """The insert default of a line's day count: a line written with its moment already set
    (a test's or the benchmark's order book) gets its days from it; the line's transitions
    set both together (``orders.services.transition``)."""

    def default(context: Any) -> int | None:
        given = context.get_current_parameters()
        start, end = given.get("created_at"), given.get(moment)
        return None if start is None or end is None else whole_days(start, end)

    return default


class Bundle(Base):
    """An enterprise's own working selection (组合方案) before ordering."""

    __tablename__ = "bundles"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    curated_bundle_id: Mapped[int | None] = mapped_column(ForeignKey("curated_bundles.id"))
    # The hybrid programme under which modules of the curated bundle were swapped for
    # specialists' packages (``bundles.swap``); none while the curated set is kept as it came.
    hybrid_programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("voucher_programmes.id", ondelete="SET NULL")
    )
    created_at: Mapped[created_at]

    items: Mapped[list[BundleItem]] = relationship(
        back_populates="bundle", order_by="BundleItem.position", cascade="all, delete-orphan"
    )


class BundleItem(Base):
    """One package in a bundle with the plan chosen for it (a plan of its published version)."""

    __tablename__ = "bundle_items"
    __table_args__ = (UniqueConstraint("bundle_id", "package_id"),)

    id: Mapped[intpk]
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("price_plans.id"))
    position: Mapped[int] = mapped_column(default=0)
    # A specialist's package swapped in (hybrid mode): the curated module it replaces.
    replaces_package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"))
    # The accepted quote the item came from: its price binds while the bundle still holds the
    # quote's packages with the plans quoted (``bundles.lines``), otherwise the list price.
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("quotes.id", ondelete="SET NULL"), index=True
    )

    bundle: Mapped[Bundle] = relationship(back_populates="items")
    package: Mapped[Package] = relationship(foreign_keys=[package_id])
    plan: Mapped[PricePlan] = relationship()


class LineStatus(StrEnum):
    PLACED = "placed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_DELIVERY = "in_delivery"
    DELIVERED = "delivered"
    DISPUTED = "disputed"
    COMPLETED = "completed"  # accepted by the enterprise (验收)

    @property
    def label(self) -> str:
        return str(LINE_LABELS[self])


class LineEvent(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    START = "start"
    DELIVER = "deliver"
    ACCEPT_DELIVERY = "accept_delivery"
    DISPUTE = "dispute"
    REDELIVER = "redeliver"
    SETTLE = "settle"
    AUTO_ACCEPT = "auto_accept"
    # The decider's rulings on an escalated dispute (the agency, or the platform).
    RULE_REDELIVER = "rule_redeliver"
    RULE_REDUCED = "rule_reduced"
    RULE_CANCEL = "rule_cancel"
    # Cancelled by the enterprise within the cooling-off period of the programme whose
    # vouchers pay the line (issue 23): the voucher money returns whole.
    WITHDRAW = "withdraw"

    @property
    def label(self) -> str:
        return str(LINE_LABELS[self])


LINE_LABELS = {
    LineStatus.PLACED: _l("Placed, waiting for the provider"),
    LineStatus.ACCEPTED: _l("Accepted by the provider"),
    LineStatus.REJECTED: _l("Rejected by the provider"),
    LineStatus.CANCELLED: _l("Cancelled"),
    LineStatus.IN_DELIVERY: _l("In delivery"),
    LineStatus.DELIVERED: _l("Delivered, waiting for acceptance"),
    LineStatus.DISPUTED: _l("Disputed"),
    LineStatus.COMPLETED: _l("Accepted (验收)"),
    LineEvent.ACCEPT: _l("Accept the order"),
    LineEvent.REJECT: _l("Reject the order"),
    LineEvent.CANCEL: _l("Cancel"),
    LineEvent.START: _l("Start delivery"),
    LineEvent.DELIVER: _l("Mark as delivered"),
    LineEvent.ACCEPT_DELIVERY: _l("Accept the delivery (验收)"),
    LineEvent.DISPUTE: _l("Dispute the delivery"),
    LineEvent.REDELIVER: _l("Deliver again"),
    LineEvent.SETTLE: _l("Settle the dispute and accept"),
    LineEvent.AUTO_ACCEPT: _l("Accepted automatically after the waiting period"),
    LineEvent.RULE_REDELIVER: _l("Decided: deliver again"),
    LineEvent.RULE_REDUCED: _l("Decided: accepted at a reduced amount"),
    LineEvent.RULE_CANCEL: _l("Decided: cancelled"),
    LineEvent.WITHDRAW: _l("Cancel within the cooling-off period"),
}

E, P, SYSTEM = OrgKind.ENTERPRISE.value, OrgKind.PROVIDER.value, "system"
# Whoever decides an escalated dispute: the agency whose vouchers pay part of the line, else
# the platform (``disputes.decider_of``); the service checks which organisation that is.
DECIDER = "decider"
LINE_MACHINE: StateMachine[LineStatus, LineEvent] = StateMachine(
    [
        Transition(LineStatus.PLACED, LineEvent.ACCEPT, LineStatus.ACCEPTED, P),
        Transition(LineStatus.PLACED, LineEvent.REJECT, LineStatus.REJECTED, P),
        Transition(LineStatus.PLACED, LineEvent.CANCEL, LineStatus.CANCELLED, E),
        # Before delivery starts the enterprise may still withdraw: what it paid is refunded.
        Transition(LineStatus.ACCEPTED, LineEvent.CANCEL, LineStatus.CANCELLED, E),
        Transition(LineStatus.ACCEPTED, LineEvent.START, LineStatus.IN_DELIVERY, P),
        Transition(LineStatus.IN_DELIVERY, LineEvent.DELIVER, LineStatus.DELIVERED, P),
        Transition(LineStatus.DELIVERED, LineEvent.ACCEPT_DELIVERY, LineStatus.COMPLETED, E),
        Transition(LineStatus.DELIVERED, LineEvent.DISPUTE, LineStatus.DISPUTED, E),
        Transition(LineStatus.DELIVERED, LineEvent.AUTO_ACCEPT, LineStatus.COMPLETED, SYSTEM),
        Transition(LineStatus.DISPUTED, LineEvent.REDELIVER, LineStatus.DELIVERED, P),
        Transition(LineStatus.DISPUTED, LineEvent.SETTLE, LineStatus.COMPLETED, E),
        Transition(LineStatus.DISPUTED, LineEvent.RULE_REDELIVER, LineStatus.IN_DELIVERY, DECIDER),
        Transition(LineStatus.DISPUTED, LineEvent.RULE_REDUCED, LineStatus.COMPLETED, DECIDER),
        Transition(LineStatus.DISPUTED, LineEvent.RULE_CANCEL, LineStatus.CANCELLED, DECIDER),
        # Cooling-off (issue 23): until the period ends the enterprise may still withdraw
        # from a line in delivery; the service refuses it once the period is over.
        Transition(LineStatus.IN_DELIVERY, LineEvent.WITHDRAW, LineStatus.CANCELLED, E),
        Transition(LineStatus.DELIVERED, LineEvent.WITHDRAW, LineStatus.CANCELLED, E),
    ]
)
RULINGS = (LineEvent.RULE_REDELIVER, LineEvent.RULE_REDUCED, LineEvent.RULE_CANCEL)
REASON_REQUIRED = {
    LineEvent.REJECT,
    LineEvent.DISPUTE,
    LineEvent.CANCEL,
    LineEvent.WITHDRAW,
    *RULINGS,
}


class Order(Base):
    """One checkout. Its lines copy what was bought at that moment."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "(contact_name IS NULL) = (contact_phone IS NULL)"
            " AND (contact_name IS NULL) = (site_address IS NULL)",
            name="contact_given_whole",
        ),
        CheckConstraint(
            "contact_name IS NULL OR (length(contact_name) > 0 AND length(contact_phone) > 0"
            " AND length(site_address) > 0)",
            name="contact_not_empty",
        ),
        # what its lines' copy of the enterprise refers to (``OrderLine.enterprise_id``)
        UniqueConstraint("id", "enterprise_id"),
    )

    id: Mapped[intpk]
    number: Mapped[str] = mapped_column(String(24), unique=True)
    # A checkout form carries a one-time key: a repeated or double-clicked submission finds
    # the order it already made instead of ordering twice.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    # Given at checkout (prefilled from the enterprise's profile) for the providers: whom they
    # call and where they deliver. Orders placed before they were asked hold none.
    contact_name: Mapped[str | None] = mapped_column(String(60))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    site_address: Mapped[str | None] = mapped_column(String(200))

    enterprise: Mapped[Organisation] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", foreign_keys="OrderLine.order_id"
    )

    @property
    def committed_fen(self) -> int:
        """What the live lines commit to (rejected and cancelled lines commit nothing)."""
        dead = (LineStatus.REJECTED, LineStatus.CANCELLED)
        return sum(line.committed_fen for line in self.lines if line.status not in dead)


class OrderLine(Base):
    """One package version bought from one provider, with the plan and price at that moment."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("committed_fen >= 0", name="committed_not_negative"),
        CheckConstraint("amount_fen IS NULL OR amount_fen >= 0", name="amount_not_negative"),
        CheckConstraint("monthly_fen IS NULL OR monthly_fen >= 0", name="monthly_not_negative"),
        CheckConstraint("term_months IS NULL OR term_months BETWEEN 1 AND 60", name="term_range"),
        # a trial line: a paid trial (orders.trials) billed as a one-time line at the trial
        # price; it points at the package and version tried, at no plan
        CheckConstraint("kind IN ('package', 'integration', 'trial')", name="kind_known"),
        CheckConstraint(
            "(kind = 'package') = (package_id IS NOT NULL AND version_id IS NOT NULL"
            " AND plan_id IS NOT NULL)",
            name="package_lines_point_at_a_version",
        ),
        # a moment and its day count are written together
        CheckConstraint(
            "(delivered_at IS NULL) = (days_to_go_live IS NULL)", name="go_live_days_stored"
        ),
        CheckConstraint(
            "(accepted_at IS NULL) = (days_to_acceptance IS NULL)",
            name="acceptance_days_stored",
        ),
        Index("ix_order_lines_provider_id_status", "provider_id", "status"),
        # The line's copy of its order's enterprise is the order's, whatever writes it.
        ForeignKeyConstraint(
            ["order_id", "enterprise_id"],
            ["orders.id", "orders.enterprise_id"],
            name="fk_order_lines_order_id_enterprise_id_orders",
        ),
        # The statistics' enterprises served: the enterprises that bought from the pool's
        # providers in a period, read in enterprise order from this index alone, no order or
        # line read (PostgreSQL, 200,000 lines: see bench/RESULTS.md).
        Index(
            "ix_order_lines_enterprise_id_provider_id_created_at",
            "enterprise_id",
            "provider_id",
            "created_at",
        ),
        # An order's lines; and from which providers and when an order bought, without
        # reading its lines (the statistics' enterprises served, at 200,000 lines on SQLite:
        # 86 → 54 ms, and 166 → 124 ms for a period).
        Index(
            "ix_order_lines_order_id_provider_id_created_at",
            "order_id",
            "provider_id",
            "created_at",
        ),
        # The statistics' lines by category and lead times: read in the order of their GROUP
        # BY, covering every column the statement needs, so no line is read or sorted (SQLite
        # has no hash aggregation: sorting 200,000 lines was most of the page).
        Index(
            "ix_order_lines_statistics",
            "category_code",
            "days_to_go_live",
            "days_to_acceptance",
            "provider_id",
            "created_at",
            "status",
            "committed_fen",
            "enterprise_id",
        ),
        # The statistics' tickets and outcome contracts on PostgreSQL: each one's line, and
        # whether it is in scope (provider, time, enterprise for a jurisdiction), in id order
        # without reading the lines, merged with the tickets' index of their lines instead
        # of scanning every line (200,000 lines: tickets 52–67 → 22–37 ms, contracts 8 → 4
        # ms). SQLite looks each line up by its rowid: it needs no such index.
        Index(
            "ix_order_lines_id_scope",
            "id",
            postgresql_include=["provider_id", "created_at", "enterprise_id"],
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[intpk]
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    # The order's enterprise, copied (it never changes; a composite key keeps them equal) for
    # the statistics, which count the enterprises of 200,000 lines without their orders.
    # Written when the line is inserted (``_enterprise_of_order``): callers need not give it.
    enterprise_id: Mapped[int] = mapped_column()
    # A package line points at the version and plan bought; an integration line (the fee of a
    # curated bundle ordered whole) is owed to the integrator and points at no package.
    kind: Mapped[str] = mapped_column(String(20), default="package")
    # indexed: a package's track record reads its lines (issue 21)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("package_versions.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("price_plans.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # The integrator whose curated bundle routed the line (its modules, the specialists'
    # packages swapped into it, its fee): concentration counts it as well as the provider.
    integrator_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    title: Mapped[str] = mapped_column(String(120))
    plan_kind: Mapped[PlanKind] = mapped_column(str_enum(PlanKind))
    plan_name: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)  # one-time price or base fee
    monthly_fen: Mapped[int | None] = mapped_column(BigInteger)
    term_months: Mapped[int | None]
    committed_fen: Mapped[int] = mapped_column(BigInteger)
    billed_monthly: Mapped[bool] = mapped_column(default=False, server_default="false")
    status: Mapped[LineStatus] = mapped_column(str_enum(LineStatus, length=20))
    # Copied for the statistics, which group and filter hundreds of thousands of lines:
    # the version's category (none for an integration line) and the moment of acceptance.
    category_code: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    auto_accept_reminded_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
    # Whole days from the order to ``delivered_at`` (go-live) and to ``accepted_at``, stored
    # with them (after ``created_at``, whose default an insert's day count reads).
    days_to_go_live: Mapped[int | None] = mapped_column(default=_days_to("delivered_at"))
    days_to_acceptance: Mapped[int | None] = mapped_column(default=_days_to("accepted_at"))

    order: Mapped[Order] = relationship(back_populates="lines", foreign_keys=[order_id])
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    version: Mapped[PackageVersion | None] = relationship()

    @property
    def is_integration(self) -> bool:
        return self.kind == "integration"

    @property
    def is_trial(self) -> bool:
        return self.kind == "trial"

    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="line", order_by="Milestone.position", cascade="all, delete-orphan"
    )
    history: Mapped[list[LineStatusChange]] = relationship(order_by="LineStatusChange.id")


@event.listens_for(OrderLine, "before_insert")
def _enterprise_of_order(_mapper: Any, connection: Any, line: OrderLine) -> None:
    """A new line's enterprise: its order's (an order made in the same flush has its
    enterprise by now; a line given only its order's id looks the order up)."""
    if line.enterprise_id is not None:
        return
    order = line.order
    if order is not None and order.enterprise_id is not None:
        line.enterprise_id = order.enterprise_id
    else:
        line.enterprise_id = connection.scalar(
            select(Order.enterprise_id).where(Order.id == line.order_id)
        )


class LineStatusChange(Base):
    """Append-only history of an order line: every transition with its actor and reason."""

    __tablename__ = "line_status_changes"

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    from_status: Mapped[LineStatus | None] = mapped_column(str_enum(LineStatus, name="from_status"))
    to_status: Mapped[LineStatus] = mapped_column(str_enum(LineStatus, name="to_status"))
    event: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[created_at]


class DisputeStatus(StrEnum):
    OPEN = "open"  # between the two parties
    ESCALATED = "escalated"  # waiting for the decider (the agency, or the platform)
    DECIDED = "decided"
    ENDED = "ended"  # the parties ended it themselves: settled, or delivered again

    @property
    def label(self) -> str:
        return str(DISPUTE_LABELS[self])


class DeciderKind(StrEnum):
    AGENCY = "agency"  # the agency whose voucher programme pays part of the line
    PLATFORM = "platform"  # lines without vouchers

    @property
    def label(self) -> str:
        return str(DISPUTE_LABELS[self])


DISPUTE_LABELS = {
    DisputeStatus.OPEN: _l("Between the parties"),
    DisputeStatus.ESCALATED: _l("Escalated, waiting for a decision"),
    DisputeStatus.DECIDED: _l("Decided"),
    DisputeStatus.ENDED: _l("Ended by the parties"),
    DeciderKind.AGENCY: _l("the overseeing agency"),
    DeciderKind.PLATFORM: _l("the platform"),
}


class Dispute(Base):
    """One dispute of a delivered line: opened by the enterprise, ended by the parties (settled
    or delivered again) or, not settled within ``DISPUTE_ESCALATION_DAYS`` (or sooner at
    either party's request), escalated to a decider who rules with a note. The line's moves
    stay in its state machine and history; this row holds the case and its decision."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("line_amount_fen >= 0", name="line_amount_not_negative"),
        CheckConstraint(
            "decided_amount_fen IS NULL OR"
            " (decided_amount_fen > 0 AND decided_amount_fen < line_amount_fen)",
            name="reduced_within_line",
        ),
        CheckConstraint(
            "(decision = 'rule_reduced') = (decided_amount_fen IS NOT NULL)",
            name="amount_only_when_reduced",
        ),
        CheckConstraint(
            "status IN ('open', 'ended') OR (escalated_at IS NOT NULL AND decider_kind IS NOT NULL)",
            name="escalated_has_decider",
        ),
        CheckConstraint(
            "(status = 'decided') = (decision IS NOT NULL AND decided_at IS NOT NULL"
            " AND length(decision_note) > 0)",
            name="decided_has_decision",
        ),
        CheckConstraint(
            "decider_kind <> 'agency' OR decider_org_id IS NOT NULL", name="agency_named"
        ),
        # one live dispute per line: two escalations or a second dispute cannot both stand
        Index(
            "uq_disputes_line_id_live",
            "line_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'escalated')"),
            postgresql_where=text("status IN ('open', 'escalated')"),
        ),
        Index("ix_disputes_status_opened_at", "status", "opened_at"),
    )

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[DisputeStatus] = mapped_column(str_enum(DisputeStatus))
    reason: Mapped[str] = mapped_column(Text)  # the enterprise's, when it disputed
    enterprise_statement: Mapped[str] = mapped_column(Text, default="", server_default="")
    provider_statement: Mapped[str] = mapped_column(Text, default="", server_default="")
    line_amount_fen: Mapped[int] = mapped_column(BigInteger)  # the line's amount when disputed
    opened_at: Mapped[created_at]
    escalated_at: Mapped[datetime | None]
    escalated_by: Mapped[str | None] = mapped_column(String(20))  # enterprise, provider, system
    decider_kind: Mapped[DeciderKind | None] = mapped_column(str_enum(DeciderKind))
    decider_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    decision: Mapped[str | None] = mapped_column(String(20))  # a LineEvent of RULINGS
    decision_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    decided_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    line: Mapped[OrderLine] = relationship()
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    decider_org: Mapped[Organisation | None] = relationship(foreign_keys=[decider_org_id])
    decided_by: Mapped[User | None] = relationship()

    @property
    def ruling(self) -> LineEvent | None:
        return LineEvent(self.decision) if self.decision else None

    @property
    def decider_label(self) -> str:
        """Who decides: the agency's name, or "the platform"."""
        if self.decider_kind is DeciderKind.AGENCY and self.decider_org is not None:
            return self.decider_org.name
        return self.decider_kind.label if self.decider_kind else ""


class Milestone(Base):
    __tablename__ = "milestones"

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    due_on: Mapped[date]
    done_at: Mapped[datetime | None]
    position: Mapped[int] = mapped_column(default=0)

    line: Mapped[OrderLine] = relationship(back_populates="milestones")


class DeliveryEvidence(Base):
    """What the provider shows for its delivery of a line (or of one milestone): a note, a
    file, or both, stored like ticket attachments (marketplace/files.py). The enterprise reads
    it before accepting (验收); only the two parties, the overseeing agency and assessors the
    enterprise granted may open the file."""

    __tablename__ = "delivery_evidence"
    __table_args__ = (
        CheckConstraint("length(note) > 0 OR data IS NOT NULL", name="note_or_file"),
        CheckConstraint(
            "(data IS NULL) = (name IS NULL) AND (data IS NULL) = (size IS NULL)"
            " AND (data IS NULL) = (content_type IS NULL)",
            name="file_whole",
        ),
        CheckConstraint("size IS NULL OR size > 0", name="size_positive"),
    )

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(
        ForeignKey("milestones.id", ondelete="SET NULL")
    )
    # the status the line was in when the evidence came (in delivery, disputed, ...)
    line_status: Mapped[LineStatus] = mapped_column(str_enum(LineStatus, length=20))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    name: Mapped[str | None] = mapped_column(String(120))
    content_type: Mapped[str | None] = mapped_column(String(80))
    size: Mapped[int | None]
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]

    milestone: Mapped[Milestone | None] = relationship()

    @property
    def has_file(self) -> bool:
        return self.name is not None


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def label(self) -> str:
        return str(SEVERITY_LABELS[self])


SEVERITY_LABELS = {
    Severity.LOW: _l("Low"),
    Severity.NORMAL: _l("Normal"),
    Severity.HIGH: _l("High"),
    Severity.CRITICAL: _l("Critical: production stopped"),
}


class TicketStatus(StrEnum):
    OPEN = "open"  # waiting for the provider's first answer
    ANSWERED = "answered"  # the provider replied last
    WAITING = "waiting"  # the enterprise replied last: the provider's turn
    RESOLVED = "resolved"  # the provider says it is solved; the enterprise confirms (closes)
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return str(TICKET_STATUS_LABELS[self])


class TicketEvent(StrEnum):
    OPEN = "open"
    ANSWER = "answer"  # a provider's message
    REPLY = "reply"  # an enterprise's message
    RESOLVE = "resolve"  # the provider marks it solved, with a resolution note
    CLOSE = "close"
    REOPEN = "reopen"

    @property
    def label(self) -> str:
        return str(TICKET_EVENT_LABELS[self])


# Two tables: a status and an event may share a value ("open").
TICKET_STATUS_LABELS = {
    TicketStatus.OPEN: _l("Waiting for an answer"),
    TicketStatus.ANSWERED: _l("Answered"),
    TicketStatus.WAITING: _l("Waiting for the provider"),
    TicketStatus.RESOLVED: _l("Resolved, waiting for confirmation"),
    TicketStatus.CLOSED: _l("Closed"),
}
TICKET_EVENT_LABELS = {
    TicketEvent.OPEN: _l("Support ticket opened"),
    TicketEvent.ANSWER: _l("Support ticket answered"),
    TicketEvent.REPLY: _l("Reply on a support ticket"),
    TicketEvent.RESOLVE: _l("Support ticket marked resolved"),
    TicketEvent.CLOSE: _l("Support ticket closed"),
    TicketEvent.REOPEN: _l("Support ticket reopened"),
}

_LIVE = (TicketStatus.OPEN, TicketStatus.ANSWERED, TicketStatus.WAITING)
TICKET_MACHINE: StateMachine[TicketStatus, TicketEvent] = StateMachine(
    [
        Transition(None, TicketEvent.OPEN, TicketStatus.OPEN, E),
        # the enterprise adds to its question before the first answer: still the provider's turn
        Transition(TicketStatus.OPEN, TicketEvent.REPLY, TicketStatus.OPEN, E),
        Transition(TicketStatus.OPEN, TicketEvent.ANSWER, TicketStatus.ANSWERED, P),
        Transition(TicketStatus.ANSWERED, TicketEvent.ANSWER, TicketStatus.ANSWERED, P),
        Transition(TicketStatus.ANSWERED, TicketEvent.REPLY, TicketStatus.WAITING, E),
        Transition(TicketStatus.WAITING, TicketEvent.REPLY, TicketStatus.WAITING, E),
        Transition(TicketStatus.WAITING, TicketEvent.ANSWER, TicketStatus.ANSWERED, P),
        *(Transition(s, TicketEvent.RESOLVE, TicketStatus.RESOLVED, P) for s in _LIVE),
        Transition(TicketStatus.RESOLVED, TicketEvent.ANSWER, TicketStatus.RESOLVED, P),
        # "not solved": the enterprise's reply puts it back in the provider's hands
        Transition(TicketStatus.RESOLVED, TicketEvent.REPLY, TicketStatus.WAITING, E),
        *(
            Transition(s, TicketEvent.CLOSE, TicketStatus.CLOSED, E)
            for s in (*_LIVE, TicketStatus.RESOLVED)
        ),
        # within TICKET_REOPEN_DAYS of closing (the service checks the window)
        Transition(TicketStatus.CLOSED, TicketEvent.REOPEN, TicketStatus.WAITING, E),
    ]
)


class Ticket(Base):
    """A support conversation on an accepted line, with two SLA clocks: the first answer
    (the package's fault-response hours) and the resolution (by severity)."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_provider_id_responded_at", "provider_id", "responded_at"),
        Index("ix_tickets_provider_id_status", "provider_id", "status"),
        CheckConstraint("resolve_by >= opened_at", name="resolve_after_opening"),
    )

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus))
    description: Mapped[str] = mapped_column(Text)  # the problem as first stated (1st message)
    opened_at: Mapped[created_at]
    respond_by: Mapped[datetime]  # opened_at + the package's SLA fault-response hours
    responded_at: Mapped[datetime | None]  # the provider's first message
    breached: Mapped[bool] = mapped_column(
        default=False
    )  # first answer late, or still silent past the deadline
    # The resolution clock runs while the ticket is open, answered or waiting; it stands still
    # while the provider's resolution awaits the enterprise and while the ticket is closed
    # (``resolved_at`` set), and resolve_by moves later by that time when it runs again.
    resolve_by: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution_breached: Mapped[bool] = mapped_column(default=False, server_default="false")
    closed_at: Mapped[datetime | None]

    line: Mapped[OrderLine] = relationship()
    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    provider: Mapped[Organisation] = relationship(foreign_keys=[provider_id])
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id"
    )
    history: Mapped[list[TicketStatusChange]] = relationship(order_by="TicketStatusChange.id")


class TicketMessage(Base):
    """One message of a ticket's conversation: who wrote it (person and organisation), when."""

    __tablename__ = "ticket_messages"
    __table_args__ = (CheckConstraint("length(body) > 0", name="body_not_empty"),)

    id: Mapped[intpk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author_org: Mapped[Organisation] = relationship()
    author: Mapped[User | None] = relationship()
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="message", order_by="TicketAttachment.id"
    )


class TicketAttachment(Base):
    """A file sent with a message, stored like outcome evidence (marketplace/files.py)."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    id: Mapped[intpk]
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(80))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[created_at]

    message: Mapped[TicketMessage] = relationship(back_populates="attachments")


class TicketStatusChange(Base):
    """Append-only history of a ticket: every transition with its actor."""

    __tablename__ = "ticket_status_changes"

    id: Mapped[intpk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    from_status: Mapped[TicketStatus | None] = mapped_column(
        str_enum(TicketStatus, name="from_status")
    )
    to_status: Mapped[TicketStatus] = mapped_column(str_enum(TicketStatus, name="to_status"))
    event: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[created_at]


# Notifications name a line's status and a ticket's severity by their codes.
notifications.register_param_labels("status", {s.value: LINE_LABELS[s] for s in LineStatus})
notifications.register_param_labels("decider", {k.value: DISPUTE_LABELS[k] for k in DeciderKind})
notifications.register_param_labels("severity", {s.value: SEVERITY_LABELS[s] for s in Severity})
# What the other party is told when a line moves; ``line_changed`` (the new status) for the
# moves that ask nothing of them (accepted, delivery started).
notifications.register_kinds(
    {
        "order_placed": _l("New order %(number)s: %(title)s. Accept or reject it."),
        "order_rejected": _l(
            "The provider rejected order %(number)s, %(title)s. Its vouchers are free again; "
            "you may choose another package. Reason: %(reason)s"
        ),
        "order_cancelled": _l("The enterprise cancelled order %(number)s, %(title)s: %(reason)s"),
        "order_delivered": _l(
            "Order %(number)s, %(title)s is delivered: check it and accept (验收) or dispute it"
            " by %(by)s; after that it is accepted automatically."
        ),
        "order_disputed": _l(
            "The enterprise disputed the delivery of order %(number)s, %(title)s: put it "
            "right and deliver again. Reason: %(reason)s"
        ),
        "delivery_accepted": _l(
            "The enterprise accepted the delivery of order %(number)s, %(title)s (验收)."
        ),
        "dispute_settled": _l(
            "The enterprise settled its dispute on order %(number)s, %(title)s and accepted the"
            " delivery."
        ),
        "order_auto_accepted": _l(
            "Order %(number)s, %(title)s was accepted automatically: the enterprise neither"
            " accepted nor disputed the delivery in time."
        ),
    },
    deadline=["order_delivered"],
    group="orders",
)
notifications.register_kinds(
    {
        "dispute_escalated": _l(
            "The dispute on order %(number)s, %(title)s goes to %(decider)s for a decision."
        ),
        "dispute_to_decide": _l(
            "A dispute on order %(number)s, %(title)s waits for your decision: redeliver,"
            " accept at a reduced amount, or cancel."
        ),
        "dispute_ruled_redeliver": _l(
            "Decision on the dispute about order %(number)s, %(title)s: the provider delivers"
            " again. Note: %(note)s"
        ),
        "dispute_ruled_reduced": _l(
            "Decision on the dispute about order %(number)s, %(title)s: accepted at a reduced"
            " amount of %(amount)s. Note: %(note)s"
        ),
        "dispute_ruled_cancel": _l(
            "Decision on the dispute about order %(number)s, %(title)s: the order line is"
            " cancelled and its vouchers released. Note: %(note)s"
        ),
    },
    group="orders",
)

audit.register_labels(
    {
        **{
            f"order_line.{e.value}": _l("Order line: %(event)s", event=LINE_LABELS[e])
            for e in LineEvent
        },
        "order.placed": _l("Order placed"),
        "dispute.escalated": _l("Dispute escalated for a decision"),
        "dispute.decided": _l("Dispute decided"),
        "dispute.statement": _l("Statement on a dispute"),
        "bundle.item_added": _l("Package added to a bundle"),
        "bundle.module_swapped": _l(
            "Module of a curated bundle swapped for a specialist's package"
        ),
        "bundle.item_removed": _l("Package removed from a bundle"),
        "bundle.plan_chosen": _l("Plan chosen in a bundle"),
        "milestone.added": _l("Milestone planned"),
        "milestone.done": _l("Milestone done"),
        "delivery_evidence.added": _l("Delivery evidence added"),
        "delivery_evidence.downloaded": _l("Delivery evidence opened"),
        "ticket.opened": _l("Support ticket opened"),
        "ticket.answered": _l("Support ticket answered"),
        "ticket.closed": _l("Support ticket closed"),
        "ticket.replied": _l("Reply on a support ticket"),
        "ticket.resolved": _l("Support ticket marked resolved"),
        "ticket.reopened": _l("Support ticket reopened"),
        "ticket.sla_missed": _l("Support ticket SLA missed"),
    }
)


# The needs board (需求): an enterprise posts a need, admitted providers answer with quotes,
# and the enterprise turns the quotes it chooses into its working bundle.


class NeedStatus(StrEnum):
    OPEN = "open"
    AWARDED = "awarded"  # quotes accepted: their packages are in the enterprise's bundle
    CLOSED = "closed"  # closed by the enterprise without a choice
    EXPIRED = "expired"  # the deadline passed while it was open (the scheduled job)

    @property
    def label(self) -> str:
        return str(NEED_LABELS[self])


class NeedEvent(StrEnum):
    POST = "post"
    AWARD = "award"
    CLOSE = "close"
    EXPIRE = "expire"

    @property
    def label(self) -> str:
        return str(NEED_LABELS[self])


NEED_LABELS = {
    NeedStatus.OPEN: _l("Open for quotes"),
    NeedStatus.AWARDED: _l("Quotes accepted"),
    NeedStatus.CLOSED: _l("Closed"),
    NeedStatus.EXPIRED: _l("Expired"),
    NeedEvent.POST: _l("Need posted"),
    NeedEvent.AWARD: _l("Quotes accepted into a bundle"),
    NeedEvent.CLOSE: _l("Closed by the enterprise"),
    NeedEvent.EXPIRE: _l("Expired: the deadline passed"),
}

NEED_MACHINE: StateMachine[NeedStatus, NeedEvent] = StateMachine(
    [
        Transition(None, NeedEvent.POST, NeedStatus.OPEN, E),
        Transition(NeedStatus.OPEN, NeedEvent.AWARD, NeedStatus.AWARDED, E),
        Transition(NeedStatus.OPEN, NeedEvent.CLOSE, NeedStatus.CLOSED, E),
        Transition(NeedStatus.OPEN, NeedEvent.EXPIRE, NeedStatus.EXPIRED, SYSTEM),
    ]
)


class Need(Base):
    """What an enterprise wants done, in one category, within a budget, answered by a date."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("budget_fen > 0", name="budget_positive"),
        CheckConstraint("length(description) > 0", name="description_given"),
        Index("ix_needs_status_category_code", "status", "category_code"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    description: Mapped[str] = mapped_column(Text)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[date]
    # The industry the need is for, when it is not the enterprise's own; where it is done.
    industry_code: Mapped[str | None] = mapped_column(ForeignKey("industries.code"))
    site: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[NeedStatus] = mapped_column(str_enum(NeedStatus))
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("bundles.id", ondelete="SET NULL"))
    created_at: Mapped[created_at]
    ended_at: Mapped[datetime | None]

    enterprise: Mapped[Organisation] = relationship()
    category: Mapped[Category] = relationship(lazy="joined")
    history: Mapped[list[NeedStatusChange]] = relationship(
        order_by="NeedStatusChange.id", cascade="all, delete-orphan"
    )


class NeedStatusChange(Base):
    """Append-only: every transition of a need."""

    __tablename__ = "need_status_changes"

    id: Mapped[intpk]
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    from_status: Mapped[NeedStatus | None] = mapped_column(str_enum(NeedStatus, name="from_status"))
    to_status: Mapped[NeedStatus] = mapped_column(str_enum(NeedStatus, name="to_status"))
    event: Mapped[NeedEvent] = mapped_column(str_enum(NeedEvent))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]


class QuoteStatus(StrEnum):
    LIVE = "live"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"
    DECLINED = "declined"  # the enterprise chose other quotes, or closed the need

    @property
    def label(self) -> str:
        return str(QUOTE_LABELS[self])


QUOTE_LABELS = {
    QuoteStatus.LIVE: _l("Waiting for the enterprise"),
    QuoteStatus.WITHDRAWN: _l("Withdrawn"),
    QuoteStatus.ACCEPTED: _l("Accepted"),
    QuoteStatus.DECLINED: _l("Not chosen"),
}


class Quote(Base):
    """A provider's answer to a need: some of its published packages (a plan of each), a
    price for them all, the days to deliver and a message. The price is at most the list
    price of the plans chosen (their commitment, ``PricePlan.commitment_fen``)."""

    __tablename__ = "quotes"
    __table_args__ = (
        CheckConstraint("price_fen > 0", name="price_positive"),
        CheckConstraint("price_fen <= list_price_fen", name="price_within_list"),
        CheckConstraint("delivery_days > 0", name="delivery_days_positive"),
        # one live (or accepted) quote per provider per need
        Index(
            "uq_quotes_need_id_provider_id_live",
            "need_id",
            "provider_id",
            unique=True,
            sqlite_where=text("status IN ('live', 'accepted')"),
            postgresql_where=text("status IN ('live', 'accepted')"),
        ),
        Index("ix_quotes_provider_id_status", "provider_id", "status"),
    )

    id: Mapped[intpk]
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[QuoteStatus] = mapped_column(str_enum(QuoteStatus))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    list_price_fen: Mapped[int] = mapped_column(BigInteger)
    delivery_days: Mapped[int]
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    decided_at: Mapped[datetime | None]

    need: Mapped[Need] = relationship()
    provider: Mapped[Organisation] = relationship(lazy="joined")
    items: Mapped[list[QuoteItem]] = relationship(
        back_populates="quote", order_by="QuoteItem.id", cascade="all, delete-orphan"
    )


class QuoteItem(Base):
    """One package of a quote: the version quoted and the plan chosen of it."""

    __tablename__ = "quote_items"
    __table_args__ = (UniqueConstraint("quote_id", "package_id"),)

    id: Mapped[intpk]
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("price_plans.id"))

    quote: Mapped[Quote] = relationship(back_populates="items")
    package: Mapped[Package] = relationship()
    version: Mapped[PackageVersion] = relationship()
    plan: Mapped[PricePlan] = relationship()


class TrialStatus(StrEnum):
    LIVE = "live"
    ENDED = "ended"  # its days ran out (the scheduled job) without an order
    CONVERTED = "converted"  # the enterprise ordered the package (live or ended ≤ 30 days)
    CANCELLED = "cancelled"  # the enterprise ended it early

    @property
    def label(self) -> str:
        return str(TRIAL_LABELS[self])


class TrialEvent(StrEnum):
    START = "start"
    END = "end"
    CONVERT = "convert"
    CANCEL = "cancel"

    @property
    def label(self) -> str:
        return str(TRIAL_LABELS[self])


TRIAL_LABELS = {
    TrialStatus.LIVE: _l("In trial"),
    TrialStatus.ENDED: _l("Ended without an order"),
    TrialStatus.CONVERTED: _l("Ordered"),
    TrialStatus.CANCELLED: _l("Ended early"),
    TrialEvent.START: _l("Trial started"),
    TrialEvent.END: _l("Trial ended: its days ran out"),
    TrialEvent.CONVERT: _l("Package ordered after the trial"),
    TrialEvent.CANCEL: _l("Trial ended early by the enterprise"),
}

TRIAL_MACHINE: StateMachine[TrialStatus, TrialEvent] = StateMachine(
    [
        Transition(None, TrialEvent.START, TrialStatus.LIVE, E),
        Transition(TrialStatus.LIVE, TrialEvent.END, TrialStatus.ENDED, SYSTEM),
        Transition(TrialStatus.LIVE, TrialEvent.CANCEL, TrialStatus.CANCELLED, E),
        Transition(TrialStatus.LIVE, TrialEvent.CONVERT, TrialStatus.CONVERTED, E),
        Transition(TrialStatus.ENDED, TrialEvent.CONVERT, TrialStatus.CONVERTED, E),
    ]
)


class Trial(Base):
    """An enterprise trying a package on the terms of its published version (试用): one trial
    per enterprise and package ever (the provider's offer is one trial per customer). The
    price and limits are copied when it starts; a paid trial is billed through its trial line
    (``order_line_id``, a one-time line at the trial price), never by vouchers."""

    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "package_id", name="uq_trials_enterprise_package"),
        # the status's allowed values are checked by its column type (str_enum)
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        CheckConstraint("ends_at > started_at", name="ends_after_start"),
        CheckConstraint(
            "(status = 'converted') = (converted_line_id IS NOT NULL)",
            name="converted_with_line",
        ),
        CheckConstraint("(status = 'live') = (ended_at IS NULL)", name="ended_when_not_live"),
        Index("ix_trials_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[intpk]
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[TrialStatus] = mapped_column(str_enum(TrialStatus))
    days: Mapped[int]
    price_fen: Mapped[int] = mapped_column(BigInteger)
    limits: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # the line billing a paid trial; the line of the order that converted it
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    converted_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    enterprise: Mapped[Organisation] = relationship(foreign_keys=[enterprise_id])
    package: Mapped[Package] = relationship()
    version: Mapped[PackageVersion] = relationship()
    history: Mapped[list[TrialStatusChange]] = relationship(
        order_by="TrialStatusChange.id", cascade="all, delete-orphan"
    )


class TrialStatusChange(Base):
    """Append-only: every transition of a trial."""

    __tablename__ = "trial_status_changes"

    id: Mapped[intpk]
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    from_status: Mapped[TrialStatus | None] = mapped_column(
        str_enum(TrialStatus, name="from_status")
    )
    to_status: Mapped[TrialStatus] = mapped_column(str_enum(TrialStatus, name="to_status"))
    event: Mapped[TrialEvent] = mapped_column(str_enum(TrialEvent))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]


notifications.register_kinds(
    {
        "trial_started": _l(
            "%(enterprise)s started a %(days)s-day trial of %(title)s (until %(until)s)."
        ),
        "trial_ending": _l("Your trial of %(title)s ends on %(by)s: order it to keep using it."),
        "trial_ended": _l("Your trial of %(title)s has ended."),
        "trial_converted": _l("%(enterprise)s ordered %(title)s after its trial."),
    },
    group="orders",
    labels={
        "trial_started": _l("A trial of your package started"),
        "trial_ending": _l("Your trial ends soon"),
        "trial_ended": _l("Your trial ended"),
        "trial_converted": _l("A trial turned into an order"),
    },
)
audit.register_labels(
    {
        "trial.started": _l("Trial started"),
        "trial.ended": _l("Trial ended"),
        "trial.cancelled": _l("Trial ended early"),
        "trial.converted": _l("Trial converted into an order"),
    }
)


notifications.register_kinds(
    {
        "need_posted": _l(
            "A new need in %(category)s: budget %(budget)s, quotes by %(deadline)s. Send a quote"
            " if your packages fit."
        ),
        "quote_received": _l(
            "%(provider)s quoted %(price)s on your need #%(need)s: compare the quotes."
        ),
        "quote_accepted": _l(
            "%(enterprise)s accepted your quote on need #%(need)s: your packages are in its bundle."
        ),
        "quote_declined": _l("Need #%(need)s was decided: your quote was not chosen."),
        "need_expired": _l(
            "Your need #%(need)s passed its deadline and is closed; post it again if you still"
            " need it."
        ),
    },
    group="orders",
    labels={
        "need_posted": _l("A new need in your categories"),
        "quote_received": _l("A new quote on your need"),
        "quote_accepted": _l("Your quote is accepted"),
        "quote_declined": _l("Your quote is not chosen"),
        "need_expired": _l("Your need expired"),
    },
)
audit.register_labels(
    {
        "need.posted": _l("Need posted"),
        "need.closed": _l("Need closed"),
        "need.expired": _l("Need expired"),
        "need.awarded": _l("Quotes accepted into a bundle"),
        "quote.sent": _l("Quote sent"),
        "quote.withdrawn": _l("Quote withdrawn"),
    }
)
