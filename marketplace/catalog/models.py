"""Packages (转型包), their immutable published versions, price plans, data interfaces and
integrators' curated bundles (集成套餐)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace import audit
from marketplace.accounts.models import Industry, Organisation, OrgKind, SizeTier
from marketplace.db import Base, BilingualName, created_at, intpk, str_enum
from marketplace.statemachine import StateMachine, Transition

MAX_PRICE_FEN = 100_000_000 * 100  # ¥100,000,000: anything above is a typing mistake
MAX_GO_LIVE_DAYS = 730
MAX_TRIAL_DAYS = 90


class Labelled(StrEnum):
    @property
    def label(self) -> str:
        return str(LABELS[self])


class Deployment(Labelled):
    SAAS = "saas"
    ON_PREMISES = "on_premises"
    HYBRID = "hybrid"


class VersionStatus(Labelled):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"
    DELISTED = "delisted"


class VersionEvent(Labelled):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    PUBLISH = "publish"
    SUPERSEDE = "supersede"
    DELIST = "delist"


class PlanKind(Labelled):
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"
    OUTCOME = "outcome"
    USAGE = "usage"  # billed by the month for what the provider's platform reports


class UsageUnit(Labelled):
    """What a usage plan meters (the metric a usage record names)."""

    DEVICES = "devices"  # connected devices (设备联网)
    REPORT_CALLS = "report_calls"  # analysis report calls (分析报告调用)
    DATA_POINTS = "data_points"
    USERS = "users"


class Better(Labelled):
    """Which way a metric improves."""

    HIGHER = "higher"
    LOWER = "lower"


class TargetKind(Labelled):
    RELATIVE = "relative"  # per cent of the baseline
    ABSOLUTE = "absolute"  # units of the metric (e.g. OEE points)


class FeeRule(Labelled):
    FIXED = "fixed"
    PER_UNIT = "per_unit"


class Flow(Labelled):
    CONSUMES = "consumes"
    PRODUCES = "produces"


class BundleStatus(Labelled):
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


LABELS = {
    Deployment.SAAS: _l("SaaS"),
    Deployment.ON_PREMISES: _l("On-premises"),
    Deployment.HYBRID: _l("Hybrid"),
    VersionStatus.DRAFT: _l("Draft"),
    VersionStatus.SUBMITTED: _l("Submitted"),
    VersionStatus.PUBLISHED: _l("Published"),
    VersionStatus.SUPERSEDED: _l("Superseded"),
    VersionStatus.DELISTED: _l("Delisted"),
    VersionEvent.SUBMIT: _l("Submit"),
    VersionEvent.WITHDRAW: _l("Back to draft"),
    VersionEvent.PUBLISH: _l("Publish"),
    VersionEvent.SUPERSEDE: _l("Replaced by a newer version"),
    VersionEvent.DELIST: _l("Delist"),
    PlanKind.ONE_TIME: _l("One-time"),
    PlanKind.SUBSCRIPTION: _l("Subscription"),
    PlanKind.OUTCOME: _l("Pay for results"),
    PlanKind.USAGE: _l("Pay by use"),
    UsageUnit.DEVICES: _l("connected devices"),
    UsageUnit.REPORT_CALLS: _l("report calls"),
    UsageUnit.DATA_POINTS: _l("data points"),
    UsageUnit.USERS: _l("users"),
    Better.HIGHER: _l("higher is better"),
    Better.LOWER: _l("lower is better"),
    TargetKind.RELATIVE: _l("per cent of the baseline"),
    TargetKind.ABSOLUTE: _l("units of the metric"),
    FeeRule.FIXED: _l("Fixed success fee"),
    FeeRule.PER_UNIT: _l("Fee per unit of improvement, capped"),
    Flow.CONSUMES: _l("Consumes"),
    Flow.PRODUCES: _l("Produces"),
    BundleStatus.PUBLISHED: _l("Published"),
    BundleStatus.WITHDRAWN: _l("Withdrawn"),
}

# The units of the metric catalogue (reference data, stored as written in English) and the
# protocols whose names are words, in the reader's language.
UNIT_LABELS = {"days": _l("days"), "times/yr": _l("times a year")}
PROTOCOL_LABELS = {"database_view": _l("Database view (SQL)")}

PROVIDER, AGENCY = OrgKind.PROVIDER.value, OrgKind.AGENCY.value
VERSION_MACHINE: StateMachine[VersionStatus, VersionEvent] = StateMachine(
    [
        Transition(VersionStatus.DRAFT, VersionEvent.SUBMIT, VersionStatus.SUBMITTED, PROVIDER),
        Transition(VersionStatus.SUBMITTED, VersionEvent.WITHDRAW, VersionStatus.DRAFT, PROVIDER),
        Transition(
            VersionStatus.SUBMITTED, VersionEvent.PUBLISH, VersionStatus.PUBLISHED, PROVIDER
        ),
        Transition(
            VersionStatus.PUBLISHED, VersionEvent.SUPERSEDE, VersionStatus.SUPERSEDED, PROVIDER
        ),
        Transition(VersionStatus.PUBLISHED, VersionEvent.DELIST, VersionStatus.DELISTED, AGENCY),
    ]
)


class Category(BilingualName, Base):
    """Scenario categories; the platform admin can add more."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)


class CatalogueStamp(Base):
    """A token per scope of the public catalogue (``packages``, ``categories``,
    ``providers``, ``pool:<agency id>``) that changes, in the same transaction, with anything
    of that scope the catalogue shows; rendered results are reused until a scope they depend
    on changes (see ``catalog.freshness``). One row per scope: one city's pool decision
    neither waits for another's nor empties the results that do not depend on its pool.
    A random token, not a counter: a rolled-back change cannot hand the same value to
    different data."""

    __tablename__ = "catalogue_stamps"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


class Metric(BilingualName, Base):
    """The metric catalogue for pay-for-results plans."""

    __tablename__ = "metrics"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit: Mapped[str] = mapped_column(String(20))
    better: Mapped[Better] = mapped_column(str_enum(Better))
    position: Mapped[int] = mapped_column(default=0)

    @property
    def unit_label(self) -> str:
        """The unit as the reader writes it ("%" and "kWh" are the same in both languages)."""
        return str(UNIT_LABELS.get(self.unit, self.unit))


class Protocol(Base):
    """A protocol or file format a package speaks (OPC UA, Modbus TCP, MQTT, REST/JSON…)."""

    __tablename__ = "protocols"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(default=0)

    @property
    def label(self) -> str:
        """The name in the reader's language: most are standards' own names (OPC UA, MQTT),
        written alike in both; the few that are words are translated."""
        return str(PROTOCOL_LABELS.get(self.code, self.name))


class DataObject(BilingualName, Base):
    """A kind of data a package consumes or produces (device telemetry, production orders…)."""

    __tablename__ = "data_objects"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (
        CheckConstraint("rating_count >= 0 AND rating_sum >= rating_count", name="ratings_sane"),
        CheckConstraint("rating_sum <= 5 * rating_count", name="ratings_at_most_five"),
        CheckConstraint("results_met >= 0 AND results_missed >= 0", name="results_counted"),
        # Only a provider lists packages (an advisor never does): the package carries its
        # lister's kind, which must be 'provider' and must be the organisation's kind.
        CheckConstraint("provider_kind = 'provider'", name="listed_by_a_provider"),
        ForeignKeyConstraint(
            ["provider_id", "provider_kind"],
            ["organisations.id", "organisations.kind"],
            name="fk_packages_provider_id_kind_organisations",
        ),
    )

    id: Mapped[intpk]
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider_kind: Mapped[str] = mapped_column(
        String(20), default=OrgKind.PROVIDER.value, server_default=OrgKind.PROVIDER.value
    )
    # The newest published version: what the catalogue shows and new orders buy.
    published_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("package_versions.id", use_alter=True), index=True
    )
    created_at: Mapped[created_at]
    # Verified buyers' ratings (1–5), kept as a sum and a count by the orders domain's reviews.
    rating_sum: Mapped[int] = mapped_column(default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Pay-for-results contracts on this package settled by verified measurements, kept by
    # the outcomes domain when it settles one (``reviews.record_result``).
    results_met: Mapped[int] = mapped_column(default=0, server_default="0")
    results_missed: Mapped[int] = mapped_column(default=0, server_default="0")

    provider: Mapped[Organisation] = relationship(lazy="joined", foreign_keys=[provider_id])
    versions: Mapped[list[PackageVersion]] = relationship(
        back_populates="package",
        order_by="PackageVersion.number",
        foreign_keys="PackageVersion.package_id",
    )
    published_version: Mapped[PackageVersion | None] = relationship(
        foreign_keys=[published_version_id], post_update=True
    )

    @property
    def rating(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 1) if self.rating_count else None

    @property
    def latest(self) -> PackageVersion:
        return self.versions[-1]

    @property
    def draft(self) -> PackageVersion | None:
        latest = self.latest
        return latest if latest.status in (VersionStatus.DRAFT, VersionStatus.SUBMITTED) else None


version_industries = Table(
    "version_industries",
    Base.metadata,
    Column("version_id", ForeignKey("package_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("industry_code", ForeignKey("industries.code"), primary_key=True),
)


class VersionSizeTier(Base):
    __tablename__ = "version_size_tiers"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("package_versions.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[SizeTier] = mapped_column(str_enum(SizeTier), primary_key=True)


class PackageVersion(Base):
    """One version of a package. Once published it never changes; orders point at it."""

    __tablename__ = "package_versions"
    __table_args__ = (
        UniqueConstraint("package_id", "number"),
        CheckConstraint(
            f"go_live_days >= 1 AND go_live_days <= {MAX_GO_LIVE_DAYS}", name="go_live_range"
        ),
        CheckConstraint("sla_response_hours >= 1 AND sla_response_hours <= 720", name="sla_range"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("entry_price_fen >= 0", name="entry_price_not_negative"),
        # the trial offer (试用): days, a price of nothing (free) or a discount below the
        # entry price (held from publication on, when the entry price is set)
        CheckConstraint(
            f"trial_days IS NULL OR (trial_days >= 1 AND trial_days <= {MAX_TRIAL_DAYS})",
            name="trial_days_range",
        ),
        CheckConstraint("trial_price_fen >= 0", name="trial_price_not_negative"),
        CheckConstraint(
            "trial_price_fen = 0 OR published_at IS NULL OR trial_price_fen < entry_price_fen",
            name="trial_price_below_entry",
        ),
        Index("ix_package_versions_status_category", "status", "category_code"),
        # the catalogue's default order walks this index and stops at the page's end
        Index("ix_package_versions_status_published", "status", "published_at", "id"),
    )

    id: Mapped[intpk]
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    number: Mapped[int]
    status: Mapped[VersionStatus] = mapped_column(str_enum(VersionStatus))
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    deployment: Mapped[Deployment] = mapped_column(str_enum(Deployment))
    go_live_days: Mapped[int]
    sla_response_hours: Mapped[int]
    enterprise_provides: Mapped[str] = mapped_column(Text, default="")
    # The provider's own search words (标签), separated by commas or spaces.
    tags: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The lowest commitment among the plans (one-time price, subscription over its term or an
    # outcome plan's base fee), set when the version is published; the catalogue filters and
    # sorts by it. Published versions never change, so it never goes stale.
    entry_price_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The trial offer: none while ``trial_days`` is NULL; 0 fen is a free trial; the limits
    # say what the trial leaves out ("最多接入 5 台设备，不含二次开发").
    trial_days: Mapped[int | None]
    trial_price_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    trial_limits: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[created_at]
    submitted_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    delisted_at: Mapped[datetime | None]
    delist_reason: Mapped[str | None] = mapped_column(Text)

    package: Mapped[Package] = relationship(back_populates="versions", foreign_keys=[package_id])
    category: Mapped[Category] = relationship(lazy="joined")
    industries: Mapped[list[Industry]] = relationship(
        secondary=version_industries, order_by=Industry.position
    )
    size_tier_rows: Mapped[list[VersionSizeTier]] = relationship(cascade="all, delete-orphan")
    plans: Mapped[list[PricePlan]] = relationship(
        back_populates="version", order_by="PricePlan.position", cascade="all, delete-orphan"
    )
    interfaces: Mapped[list[VersionInterface]] = relationship(
        back_populates="version", order_by="VersionInterface.id", cascade="all, delete-orphan"
    )
    history: Mapped[list[VersionStatusChange]] = relationship(
        order_by="VersionStatusChange.id.desc()"
    )

    @property
    def size_tiers(self) -> list[SizeTier]:
        order = list(SizeTier)
        return sorted((row.tier for row in self.size_tier_rows), key=order.index)

    @property
    def editable(self) -> bool:
        return self.status is VersionStatus.DRAFT

    @property
    def offers_trial(self) -> bool:
        return self.trial_days is not None

    @property
    def default_plan(self) -> PricePlan | None:
        """The plan with the lowest commitment (the first of equals): the catalogue's "from"
        price (``entry_price_fen``), the plan preselected on the package page and the one a
        package is added to a bundle with when no plan is chosen."""
        return min(self.plans, key=lambda plan: plan.commitment_fen, default=None)


MONEY = BigInteger


def _money_checks(*columns: str) -> list[CheckConstraint]:
    return [
        CheckConstraint(f"{c} IS NULL OR ({c} >= 0 AND {c} <= {MAX_PRICE_FEN})", name=f"{c}_range")
        for c in columns
    ]


class PricePlan(Base):
    __tablename__ = "price_plans"
    __table_args__ = (
        *_money_checks(
            "amount_fen",
            "monthly_fen",
            "success_fee_fen",
            "fee_per_unit_fen",
            "fee_cap_fen",
            "base_fee_fen",
            "unit_price_fen",
            "minimum_fen",
            "cap_fen",
        ),
        CheckConstraint("kind <> 'one_time' OR amount_fen IS NOT NULL", name="one_time_amount"),
        CheckConstraint(
            "kind <> 'usage' OR (usage_unit IS NOT NULL AND unit_price_fen IS NOT NULL"
            " AND included_quantity IS NOT NULL)",
            name="usage_terms",
        ),
        CheckConstraint(
            "included_quantity IS NULL OR included_quantity >= 0", name="included_not_negative"
        ),
        CheckConstraint(
            "minimum_fen IS NULL OR cap_fen IS NULL OR cap_fen >= minimum_fen",
            name="cap_not_below_minimum",
        ),
        CheckConstraint(
            "kind <> 'subscription' OR (monthly_fen IS NOT NULL AND term_months BETWEEN 1 AND 60)",
            name="subscription_terms",
        ),
        CheckConstraint(
            "kind <> 'outcome' OR (metric_code IS NOT NULL AND target_value > 0"
            " AND target_kind IS NOT NULL AND fee_rule IS NOT NULL"
            " AND window_days BETWEEN 1 AND 730)",
            name="outcome_terms",
        ),
        CheckConstraint(
            "fee_rule IS NULL OR fee_rule <> 'fixed' OR success_fee_fen IS NOT NULL",
            name="fixed_fee_amount",
        ),
        CheckConstraint(
            "fee_rule IS NULL OR fee_rule <> 'per_unit'"
            " OR (fee_per_unit_fen IS NOT NULL AND fee_cap_fen IS NOT NULL)",
            name="per_unit_fee_terms",
        ),
        CheckConstraint(
            "fee_cap_fen IS NULL OR base_fee_fen IS NULL OR fee_cap_fen >= base_fee_fen",
            name="cap_not_below_base",
        ),
    )

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("package_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[PlanKind] = mapped_column(str_enum(PlanKind))
    name: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int | None] = mapped_column(MONEY)
    monthly_fen: Mapped[int | None] = mapped_column(MONEY)
    term_months: Mapped[int | None]
    metric_code: Mapped[str | None] = mapped_column(ForeignKey("metrics.code"))
    target_kind: Mapped[TargetKind | None] = mapped_column(str_enum(TargetKind))
    target_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    fee_rule: Mapped[FeeRule | None] = mapped_column(str_enum(FeeRule))
    success_fee_fen: Mapped[int | None] = mapped_column(MONEY)
    fee_per_unit_fen: Mapped[int | None] = mapped_column(MONEY)
    fee_cap_fen: Mapped[int | None] = mapped_column(MONEY)
    base_fee_fen: Mapped[int | None] = mapped_column(MONEY)
    window_days: Mapped[int | None]
    # A subscription is billed for its whole term when the enterprise accepts the delivery
    # (验收), or month by month from then on.
    billed_monthly: Mapped[bool] = mapped_column(default=False, server_default="false")
    # A usage plan: what it meters, the price of a unit (from the first one; tiers change it
    # from higher quantities on), the units each month includes free, and the month's least
    # and most charge.
    usage_unit: Mapped[UsageUnit | None] = mapped_column(str_enum(UsageUnit))
    unit_price_fen: Mapped[int | None] = mapped_column(MONEY)
    included_quantity: Mapped[int | None] = mapped_column(BigInteger)
    minimum_fen: Mapped[int | None] = mapped_column(MONEY)
    cap_fen: Mapped[int | None] = mapped_column(MONEY)

    version: Mapped[PackageVersion] = relationship(back_populates="plans")
    metric: Mapped[Metric | None] = relationship(lazy="joined")
    tiers: Mapped[list[PlanTier]] = relationship(
        order_by="PlanTier.from_quantity",
        cascade="all, delete-orphan",
        lazy="selectin",
        back_populates="plan",
    )

    @property
    def subscription_total_fen(self) -> int:
        return (self.monthly_fen or 0) * (self.term_months or 0)

    @property
    def commitment_fen(self) -> int:
        """What choosing this plan commits the buyer to before any success fee."""
        if self.kind is PlanKind.ONE_TIME:
            return self.amount_fen or 0
        if self.kind is PlanKind.SUBSCRIPTION:
            return self.subscription_total_fen
        if self.kind is PlanKind.USAGE:
            return 0  # billed month by month for what is used; nothing is committed up front
        return self.base_fee_fen or 0


class PlanTier(Base):
    """A graduated tier of a usage plan: units numbered ``from_quantity`` and up (in the
    month, counting the included ones) cost ``unit_price_fen`` each, until the next tier."""

    __tablename__ = "price_plan_tiers"
    __table_args__ = (
        UniqueConstraint("plan_id", "from_quantity"),
        CheckConstraint("from_quantity > 1", name="from_above_first_unit"),
        CheckConstraint("unit_price_fen >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[intpk]
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("price_plans.id", ondelete="CASCADE"), index=True
    )
    from_quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price_fen: Mapped[int] = mapped_column(MONEY)

    plan: Mapped[PricePlan] = relationship(back_populates="tiers")


class VersionInterface(Base):
    """What a package version consumes or produces: a protocol carrying a data object."""

    __tablename__ = "version_interfaces"
    __table_args__ = (UniqueConstraint("version_id", "flow", "protocol_code", "data_object_code"),)

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(
        ForeignKey("package_versions.id", ondelete="CASCADE"), index=True
    )
    flow: Mapped[Flow] = mapped_column(str_enum(Flow))
    protocol_code: Mapped[str] = mapped_column(ForeignKey("protocols.code"))
    data_object_code: Mapped[str] = mapped_column(ForeignKey("data_objects.code"))

    version: Mapped[PackageVersion] = relationship(back_populates="interfaces")
    protocol: Mapped[Protocol] = relationship(lazy="joined")
    data_object: Mapped[DataObject] = relationship(lazy="joined")


class VersionStatusChange(Base):
    """Append-only history of a version's lifecycle, with reasons (e.g. why it was delisted)."""

    __tablename__ = "version_status_changes"

    id: Mapped[intpk]
    version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"), index=True)
    from_status: Mapped[VersionStatus | None] = mapped_column(
        str_enum(VersionStatus, name="from_status")
    )
    to_status: Mapped[VersionStatus] = mapped_column(str_enum(VersionStatus, name="to_status"))
    event: Mapped[VersionEvent] = mapped_column(str_enum(VersionEvent))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[created_at]


class CuratedBundle(Base):
    """An integrator's ready-made combination of packages, with its integration fee shown apart."""

    __tablename__ = "curated_bundles"
    __table_args__ = (
        *_money_checks("integration_fee_fen"),
        UniqueConstraint("integrator_id", "name"),
    )

    id: Mapped[intpk]
    integrator_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    industry_code: Mapped[str] = mapped_column(ForeignKey("industries.code"))
    size_tier: Mapped[SizeTier] = mapped_column(str_enum(SizeTier))
    integration_fee_fen: Mapped[int] = mapped_column(MONEY)
    status: Mapped[BundleStatus] = mapped_column(str_enum(BundleStatus))
    created_at: Mapped[created_at]

    integrator: Mapped[Organisation] = relationship(lazy="joined")
    industry: Mapped[Industry] = relationship(lazy="joined")
    items: Mapped[list[CuratedBundleItem]] = relationship(
        order_by="CuratedBundleItem.position", cascade="all, delete-orphan"
    )


class CuratedBundleItem(Base):
    __tablename__ = "curated_bundle_items"

    bundle_id: Mapped[int] = mapped_column(
        ForeignKey("curated_bundles.id", ondelete="CASCADE"), primary_key=True
    )
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    package: Mapped[Package] = relationship(lazy="joined")


class Review(Base):
    """A verified buyer's rating of a package, left on an accepted order line: once per line."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)

    id: Mapped[intpk]
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created_at]

    enterprise: Mapped[Organisation] = relationship()


class SearchSynonym(Base):
    """One entry of the search thesaurus (检索词表): a query containing ``term`` also finds
    what ``means`` finds (预测维护 → 预测性维护). Kept by officials and the platform admin."""

    __tablename__ = "search_synonyms"
    __table_args__ = (
        UniqueConstraint("term", "means"),
        CheckConstraint("term <> means", name="not_itself"),
        CheckConstraint("length(term) > 0 AND length(means) > 0", name="not_empty"),
    )

    id: Mapped[intpk]
    term: Mapped[str] = mapped_column(String(30), index=True)
    means: Mapped[str] = mapped_column(String(30))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]


audit.register_labels(
    {
        **{f"package.{e.value}": _l("Package: %(event)s", event=LABELS[e]) for e in VersionEvent},
        "package.created": _l("Package created"),
        "package.edited": _l("Package draft edited"),
        "package.plan_added": _l("Price plan added"),
        "package.plan_removed": _l("Price plan removed"),
        "package.interface_added": _l("Data interface added"),
        "package.interface_removed": _l("Data interface removed"),
        "package.new_version": _l("New package version started"),
        "catalog.category_added": _l("Category added"),
        "bundle.created": _l("Bundle created"),
        "bundle.withdrawn": _l("Curated bundle withdrawn"),
        "review.created": _l("Review posted"),
        "search.synonym_added": _l("Search synonym added"),
        "search.synonym_removed": _l("Search synonym removed"),
    }
)
