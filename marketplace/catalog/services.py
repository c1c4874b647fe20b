"""Packages and their versions, price plans, interfaces, the public catalogue and curated
bundles. Visibility rule: a package is in the catalogue while it has a published version and
its provider is admitted to at least one agency's pool."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Industry, Organisation, OrgKind, SizeTier
from marketplace.catalog.models import (
    MAX_GO_LIVE_DAYS,
    MAX_PRICE_FEN,
    MAX_TRIAL_DAYS,
    VERSION_MACHINE,
    Category,
    DataObject,
    Deployment,
    FeeRule,
    Flow,
    Metric,
    Package,
    PackageVersion,
    PlanKind,
    PlanTier,
    PricePlan,
    Protocol,
    TargetKind,
    UsageUnit,
    VersionEvent,
    VersionInterface,
    VersionSizeTier,
    VersionStatus,
    VersionStatusChange,
)
from marketplace.db import db, utcnow
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.money import MoneyError, format_fen, parse_yuan
from marketplace.pool import services as pool
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor

MAX_PLANS = 6
MAX_TARGET = Decimal(10) ** 10  # numeric(12, 2)
MAX_INTERFACES = 30


@dataclass(frozen=True)
class VersionFields:
    title: str
    summary: str
    description: str
    category_code: str
    industry_codes: list[str]
    size_tiers: list[str]
    deployment: str
    go_live_days: int
    sla_response_hours: int
    enterprise_provides: str
    tags: str = ""
    trial_days: int | None = None  # no trial
    trial_price_fen: int = 0  # a free trial
    trial_limits: str = ""


MAX_TAGS = 10
MAX_TAG_LENGTH = 20


def clean_tags(value: str) -> str:
    """The provider's search tags, separated by commas, 、 or spaces, kept once each and
    joined by one space."""
    tags = list(dict.fromkeys(t for t in re.split(r"[\s,，、;；]+", value.strip()) if t))
    if len(tags) > MAX_TAGS:
        raise DomainError(_l("At most %(n)d tags.", n=MAX_TAGS), field="tags")
    if any(len(t) > MAX_TAG_LENGTH for t in tags):
        raise DomainError(_l("A tag has at most %(n)d characters.", n=MAX_TAG_LENGTH), field="tags")
    return " ".join(tags)


@dataclass(frozen=True)
class PlanFields:
    kind: str
    name: str
    amount_fen: int | None = None
    monthly_fen: int | None = None
    term_months: int | None = None
    metric_code: str | None = None
    target_kind: str | None = None
    target_value: Decimal | None = None
    fee_rule: str | None = None
    success_fee_fen: int | None = None
    fee_per_unit_fen: int | None = None
    fee_cap_fen: int | None = None
    base_fee_fen: int | None = None
    window_days: int | None = None
    billed_monthly: bool = False
    usage_unit: str | None = None
    unit_price_fen: int | None = None
    included_quantity: int | None = None
    minimum_fen: int | None = None
    cap_fen: int | None = None
    tiers: str | None = None  # one tier a line: "from quantity = unit price in yuan"


# The fields of PlanFields that belong to one kind of plan. A plan of one kind refuses a
# value in another kind's field rather than drop it unseen. The outcome plan's two lists
# (target_kind, fee_rule) always post a choice, so they are ignored, not refused.
KIND_FIELDS: dict[PlanKind, tuple[str, ...]] = {
    PlanKind.ONE_TIME: ("amount_fen",),
    PlanKind.SUBSCRIPTION: ("monthly_fen", "term_months", "billed_monthly"),
    PlanKind.OUTCOME: (
        "metric_code",
        "target_value",
        "success_fee_fen",
        "fee_per_unit_fen",
        "fee_cap_fen",
        "base_fee_fen",
        "window_days",
    ),
    # usage_unit always posts a choice (a list), so it is ignored, not refused
    PlanKind.USAGE: ("unit_price_fen", "included_quantity", "minimum_fen", "cap_fen", "tiers"),
}
MAX_TIERS = 10
MAX_QUANTITY = 10**12


def parse_tiers(text: str | None) -> list[tuple[int, int]]:
    """``1001 = 0.80`` a line → [(1001, 80)]: from which unit of the month each tier's price
    (in yuan, at most two decimals) applies. Sorted; every from-quantity above 1 and once."""
    tiers: list[tuple[int, int]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        left, sep, right = line.replace("＝", "=").partition("=")
        try:
            start = int(left.strip().replace(",", ""))
            price = parse_yuan(right.strip())
        except (ValueError, MoneyError):
            start, price = 0, -1
        if not sep or not 1 < start <= MAX_QUANTITY or not 0 <= price <= MAX_PRICE_FEN:
            raise DomainError(
                _l(
                    "Tier line %(n)d: write “from quantity = unit price in yuan”, e.g."
                    " “1001 = 0.80”, with a quantity above 1.",
                    n=number,
                ),
                field="tiers",
            )
        tiers.append((start, price))
    starts = [start for start, _price in tiers]
    if len(set(starts)) != len(starts):
        raise DomainError(_l("Each tier starts at a different quantity."), field="tiers")
    if len(tiers) > MAX_TIERS:
        raise DomainError(_l("A plan has at most %(n)d tiers.", n=MAX_TIERS), field="tiers")
    return sorted(tiers)


def _refuse_other_kinds(kind: PlanKind, p: PlanFields) -> None:
    for other, names in KIND_FIELDS.items():
        if other is kind:
            continue
        for name in names:
            value = getattr(p, name)
            if isinstance(value, str):
                value = value.strip()
            if value is not None and value is not False and value != "":
                raise DomainError(
                    _l(
                        "This field belongs to the kind “%(other)s”; leave it empty for"
                        " a plan of the kind “%(kind)s”, or choose “%(other)s”.",
                        other=other.label,
                        kind=kind.label,
                    ),
                    field=name.removesuffix("_fen"),
                )


# Reference data


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.code)))


def metrics() -> list[Metric]:
    return list(db.session.scalars(select(Metric).order_by(Metric.position)))


def protocols() -> list[Protocol]:
    return list(db.session.scalars(select(Protocol).order_by(Protocol.position)))


def data_objects() -> list[DataObject]:
    return list(db.session.scalars(select(DataObject).order_by(DataObject.position)))


def add_category(code: str, name_zh: str, name_en: str, actor: Actor) -> Category:
    code = code.strip().lower()
    if not re.fullmatch(r"[a-z0-9_]{2,40}", code):
        raise DomainError(_l("Use 2 to 40 lower-case letters, digits or _."), field="code")
    if db.session.get(Category, code) is not None:
        raise DomainError(_l("This code is already used."), field="code")
    position = (db.session.scalar(select(func.max(Category.position))) or 0) + 10
    category = Category(
        code=code, name_zh=name_zh.strip(), name_en=name_en.strip(), position=position
    )
    db.session.add(category)
    audit.record(actor, "catalog.category_added", "category", code)
    return category


# Versions


def _check_range(value: int, low: int, high: int, field: str, message: object) -> None:
    if not low <= value <= high:
        raise DomainError(message, field=field)


def _apply_fields(version: PackageVersion, fields: VersionFields) -> None:
    if db.session.get(Category, fields.category_code) is None:
        raise DomainError(_l("Choose a category from the list."), field="category_code")
    industries = list(
        db.session.scalars(select(Industry).where(Industry.code.in_(fields.industry_codes)))
    )
    if not fields.industry_codes or len(industries) != len(set(fields.industry_codes)):
        raise DomainError(_l("Choose industries the platform knows."), field="industry_codes")
    try:
        tiers = sorted({SizeTier(t) for t in fields.size_tiers}, key=list(SizeTier).index)
    except ValueError as exc:
        raise DomainError(_l("Choose from the list."), field="size_tiers") from exc
    try:
        deployment = Deployment(fields.deployment)
    except ValueError as exc:
        raise DomainError(_l("Choose from the list."), field="deployment") from exc
    if not tiers:
        raise DomainError(_l("Choose at least one size tier."), field="size_tiers")
    _check_range(
        fields.go_live_days,
        1,
        MAX_GO_LIVE_DAYS,
        "go_live_days",
        _l("Go-live takes 1 to %(n)d days.", n=MAX_GO_LIVE_DAYS),
    )
    _check_range(
        fields.sla_response_hours,
        1,
        720,
        "sla_response_hours",
        _l("Fault response is 1 to 720 hours."),
    )
    version.title = fields.title.strip()
    version.summary = fields.summary.strip()
    version.description = fields.description.strip()
    version.category_code = fields.category_code
    version.industries = industries
    version.size_tier_rows = [VersionSizeTier(tier=t) for t in tiers]
    version.deployment = deployment
    version.go_live_days = fields.go_live_days
    version.sla_response_hours = fields.sla_response_hours
    version.enterprise_provides = fields.enterprise_provides.strip()
    version.tags = clean_tags(fields.tags)
    _apply_trial(version, fields)


MAX_TRIAL_LIMITS = 500


def _apply_trial(version: PackageVersion, fields: VersionFields) -> None:
    """The trial offer: days from 1 to ``MAX_TRIAL_DAYS`` (none: no trial), a price of 0
    (free) or more, below the version's entry price once it has plans (checked again when
    it is submitted, as the plans may change meanwhile)."""
    days, price = fields.trial_days, fields.trial_price_fen
    limits = (fields.trial_limits or "").strip()
    if days is not None:
        _check_range(
            days,
            1,
            MAX_TRIAL_DAYS,
            "trial_days",
            _l("A trial lasts 1 to %(n)d days.", n=MAX_TRIAL_DAYS),
        )
    if price < 0:
        raise DomainError(_l("The trial price cannot be negative."), field="trial_price")
    if len(limits) > MAX_TRIAL_LIMITS:
        raise DomainError(
            _l("Keep the trial limits under %(n)d characters.", n=MAX_TRIAL_LIMITS),
            field="trial_limits",
        )
    if days is None:
        price, limits = 0, ""
    version.trial_days = days
    version.trial_price_fen = price
    version.trial_limits = limits
    if version.plans:
        check_trial_price(version)


def check_trial_price(version: PackageVersion) -> None:
    """A paid trial costs less than the version's entry price (its cheapest plan's
    commitment); a version without plans yet is checked when it is submitted."""
    default = version.default_plan
    entry = default.commitment_fen if default else 0
    if version.trial_price_fen and version.trial_price_fen >= entry:
        raise DomainError(
            _l(
                "A paid trial must cost less than the package's entry price (%(entry)s).",
                entry=format_fen(entry),
            ),
            field="trial_price",
        )


def _history(
    version: PackageVersion,
    before: VersionStatus | None,
    event: VersionEvent,
    actor: Actor,
    reason: str = "",
) -> None:
    db.session.add(
        VersionStatusChange(
            version_id=version.id,
            from_status=before,
            to_status=version.status,
            event=event,
            reason=reason,
            actor_user_id=actor.user_id,
        )
    )
    audit.record(
        actor,
        f"package.{event.value}",
        "package",
        version.package_id,
        version=version.number,
        status=version.status.value,
        reason=reason,
    )


def create_package(provider: Organisation, fields: VersionFields, actor: Actor) -> Package:
    if provider.kind is not OrgKind.PROVIDER:
        raise DomainError(_l("Only providers list packages."))
    package = Package(provider=provider)
    version = PackageVersion(package=package, number=1, status=VersionStatus.DRAFT)
    _apply_fields(version, fields)
    db.session.add_all([package, version])
    db.session.flush()
    audit.record(actor, "package.created", "package", package.id, version=1)
    return package


def provider_package(provider: Organisation, package_id: int) -> Package:
    """A provider's own package; another provider's is not found."""
    return get_owned(Package, package_id, provider_id=provider.id)


def _draft(package: Package) -> PackageVersion:
    version = package.latest
    if not version.editable:
        raise DomainError(
            _l("Only a draft can be changed. Start a new version to edit a published package.")
        )
    return version


def update_draft(package: Package, fields: VersionFields, actor: Actor) -> PackageVersion:
    version = _draft(package)
    _apply_fields(version, fields)
    audit.record(actor, "package.edited", "package", package.id, version=version.number)
    return version


def _validate_plan(p: PlanFields) -> PricePlan:
    try:
        kind = PlanKind(p.kind)
    except ValueError as exc:
        raise DomainError(_l("Choose a kind of plan."), field="kind") from exc
    if not p.name.strip():
        raise DomainError(_l("Give the plan a name."), field="name")
    _refuse_other_kinds(kind, p)

    def money(value: int | None, field: str, required: bool) -> int | None:
        if value is None:
            if required:
                raise DomainError(_l("Enter an amount."), field=field)
            return None
        if value < 0:
            raise DomainError(_l("The amount cannot be negative."), field=field)
        if value > MAX_PRICE_FEN:
            raise DomainError(_l("The amount cannot exceed ¥100,000,000."), field=field)
        return value

    plan = PricePlan(kind=kind, name=p.name.strip())
    if kind is PlanKind.ONE_TIME:
        plan.amount_fen = money(p.amount_fen, "amount", True)
    elif kind is PlanKind.USAGE:
        try:
            plan.usage_unit = UsageUnit(p.usage_unit or "")
        except ValueError as exc:
            raise DomainError(_l("Choose what the plan meters."), field="usage_unit") from exc
        plan.unit_price_fen = money(p.unit_price_fen, "unit_price", True)
        included = p.included_quantity or 0
        if not 0 <= included <= MAX_QUANTITY:
            raise DomainError(
                _l("The included quantity is a whole number from 0 up."), field="included_quantity"
            )
        plan.included_quantity = included
        plan.minimum_fen = money(p.minimum_fen, "minimum", False)
        plan.cap_fen = money(p.cap_fen, "cap", False)
        if (
            plan.minimum_fen is not None
            and plan.cap_fen is not None
            and plan.cap_fen < plan.minimum_fen
        ):
            raise DomainError(
                _l("The monthly cap cannot be below the monthly minimum."), field="cap"
            )
        plan.tiers = [PlanTier(from_quantity=q, unit_price_fen=f) for q, f in parse_tiers(p.tiers)]
    elif kind is PlanKind.SUBSCRIPTION:
        plan.monthly_fen = money(p.monthly_fen, "monthly", True)
        if p.term_months is None or not 1 <= p.term_months <= 60:
            raise DomainError(_l("The committed term is 1 to 60 months."), field="term_months")
        plan.term_months = p.term_months
        plan.billed_monthly = p.billed_monthly
        if (plan.monthly_fen or 0) * p.term_months > MAX_PRICE_FEN:
            raise DomainError(_l("The amount cannot exceed ¥100,000,000."), field="monthly")
    else:
        if not p.metric_code or db.session.get(Metric, p.metric_code) is None:
            raise DomainError(
                _l("Choose the metric the result is measured by."), field="metric_code"
            )
        target = p.target_value
        if target is None or not target.is_finite():
            raise DomainError(
                _l("Set the target improvement (more than zero)."), field="target_value"
            )
        target = target.quantize(Decimal("0.01"))
        if not Decimal(0) < target < MAX_TARGET:
            raise DomainError(
                _l("The target improvement is more than 0 and less than 10,000,000,000."),
                field="target_value",
            )
        try:
            plan.target_kind = TargetKind(p.target_kind or "")
            plan.fee_rule = FeeRule(p.fee_rule or "")
        except ValueError as exc:
            raise DomainError(
                _l("Choose how the target and the fee are set."), field="fee_rule"
            ) from exc
        if p.window_days is None or not 1 <= p.window_days <= 730:
            raise DomainError(_l("The measurement window is 1 to 730 days."), field="window_days")
        plan.metric_code = p.metric_code
        plan.target_value = target
        plan.window_days = p.window_days
        plan.base_fee_fen = money(p.base_fee_fen, "base_fee", False)
        if plan.fee_rule is FeeRule.FIXED:
            plan.success_fee_fen = money(p.success_fee_fen, "success_fee", True)
        else:
            plan.fee_per_unit_fen = money(p.fee_per_unit_fen, "fee_per_unit", True)
            plan.fee_cap_fen = money(p.fee_cap_fen, "fee_cap", True)
            if (
                plan.base_fee_fen is not None
                and plan.fee_cap_fen is not None
                and plan.fee_cap_fen < plan.base_fee_fen
            ):
                raise DomainError(_l("The fee cap cannot be below the base fee."), field="fee_cap")
    return plan


def add_plan(package: Package, fields: PlanFields, actor: Actor) -> PricePlan:
    version = _draft(package)
    if len(version.plans) >= MAX_PLANS:
        raise DomainError(_l("A package has at most %(n)d price plans.", n=MAX_PLANS))
    plan = _validate_plan(fields)
    plan.position = len(version.plans)
    version.plans.append(plan)
    db.session.flush()
    audit.record(
        actor, "package.plan_added", "package", package.id, plan_id=plan.id, kind=plan.kind.value
    )
    return plan


def remove_plan(package: Package, plan_id: int, actor: Actor) -> None:
    version = _draft(package)
    plan = next((p for p in version.plans if p.id == plan_id), None)
    if plan is None:
        raise NotFound(_l("Not found."))
    version.plans.remove(plan)
    audit.record(actor, "package.plan_removed", "package", package.id, plan_id=plan_id)


def add_interface(
    package: Package, flow: str, protocol_code: str, data_object_code: str, actor: Actor
) -> VersionInterface:
    version = _draft(package)
    try:
        direction = Flow(flow)
    except ValueError as exc:
        raise DomainError(_l("Choose consumes or produces."), field="flow") from exc
    if db.session.get(Protocol, protocol_code) is None:
        raise DomainError(_l("Choose a protocol from the list."), field="protocol_code")
    if db.session.get(DataObject, data_object_code) is None:
        raise DomainError(_l("Choose a data object from the list."), field="data_object_code")
    if any(
        i.flow is direction
        and i.protocol_code == protocol_code
        and i.data_object_code == data_object_code
        for i in version.interfaces
    ):
        raise DomainError(_l("This interface is already declared."), field="protocol_code")
    if len(version.interfaces) >= MAX_INTERFACES:
        raise DomainError(_l("A package declares at most %(n)d interfaces.", n=MAX_INTERFACES))
    interface = VersionInterface(
        flow=direction, protocol_code=protocol_code, data_object_code=data_object_code
    )
    version.interfaces.append(interface)
    db.session.flush()
    audit.record(actor, "package.interface_added", "package", package.id, interface_id=interface.id)
    return interface


def remove_interface(package: Package, interface_id: int, actor: Actor) -> None:
    version = _draft(package)
    interface = next((i for i in version.interfaces if i.id == interface_id), None)
    if interface is None:
        raise NotFound(_l("Not found."))
    version.interfaces.remove(interface)
    audit.record(
        actor, "package.interface_removed", "package", package.id, interface_id=interface_id
    )


def submit(package: Package, actor: Actor) -> PackageVersion:
    version = package.latest
    if not version.plans:
        raise DomainError(_l("Add at least one price plan before submitting."))
    if not version.interfaces:
        raise DomainError(_l("Declare at least one data interface before submitting."))
    check_trial_price(version)
    before = version.status
    version.status = VERSION_MACHINE.next_state(before, VersionEvent.SUBMIT, OrgKind.PROVIDER.value)
    version.submitted_at = utcnow()
    _history(version, before, VersionEvent.SUBMIT, actor)
    return version


def withdraw(package: Package, actor: Actor) -> PackageVersion:
    version = package.latest
    before = version.status
    version.status = VERSION_MACHINE.next_state(
        before, VersionEvent.WITHDRAW, OrgKind.PROVIDER.value
    )
    _history(version, before, VersionEvent.WITHDRAW, actor)
    return version


# Higher domains follow publications without the catalogue knowing them: the app factory
# connects them here (``vouchers.admission.connect``: a text-only new version keeps the
# voucher admissions of the version it replaces). Each runs inside the same transaction.
PublishedHook = Callable[[PackageVersion], None]
_published_hooks: list[PublishedHook] = []


def on_published(hook: PublishedHook) -> None:
    if hook not in _published_hooks:
        _published_hooks.append(hook)


def publish(package: Package, actor: Actor) -> PackageVersion:
    """Publish the submitted version; only a provider admitted to a pool may publish. The
    hooks connected with ``on_published`` then act on it (vouchers: admission inheritance)."""
    if not pool.is_admitted(package.provider_id):
        raise DomainError(
            _l(
                "Only providers admitted to an agency's resource pool can publish. Apply to a pool first."
            )
        )
    if any(v.status is VersionStatus.DELISTED for v in package.versions):
        raise DomainError(_l("An agency delisted this package; it cannot be published again."))
    version = package.latest
    before = version.status
    version.status = VERSION_MACHINE.next_state(
        before, VersionEvent.PUBLISH, OrgKind.PROVIDER.value
    )
    version.published_at = utcnow()
    default = version.default_plan
    version.entry_price_fen = default.commitment_fen if default else 0
    check_trial_price(version)
    previous = package.published_version
    if previous is not None and previous.id != version.id:
        previous.status = VERSION_MACHINE.next_state(
            previous.status, VersionEvent.SUPERSEDE, OrgKind.PROVIDER.value
        )
        _history(previous, VersionStatus.PUBLISHED, VersionEvent.SUPERSEDE, actor)
    package.published_version = version
    db.session.flush()
    _history(version, before, VersionEvent.PUBLISH, actor)
    for hook in _published_hooks:
        hook(version)
    return version


def new_version(package: Package, actor: Actor) -> PackageVersion:
    """Editing a published package starts the next draft, a copy of the published version."""
    source = package.published_version
    if source is None or package.latest.id != source.id:
        raise DomainError(
            _l("A new version starts from the published version, and only one draft at a time.")
        )
    with db.session.no_autoflush:
        return _copy_as_draft(package, source, actor)


# What a plan is, for comparing two versions (a new version's plans are copies: new ids).
PLAN_TERMS = (
    "kind",
    "name",
    "amount_fen",
    "monthly_fen",
    "term_months",
    "metric_code",
    "target_kind",
    "target_value",
    "fee_rule",
    "success_fee_fen",
    "fee_per_unit_fen",
    "fee_cap_fen",
    "base_fee_fen",
    "window_days",
    "billed_monthly",
    "usage_unit",
    "unit_price_fen",
    "included_quantity",
    "minimum_fen",
    "cap_fen",
)


def previous_published(version: PackageVersion) -> PackageVersion | None:
    """The package's version published before this one (the one it replaces), if any."""
    earlier = [
        v
        for v in version.package.versions
        if v.number < version.number and v.published_at is not None
    ]
    return max(earlier, key=lambda v: v.number, default=None)


def material_changes(old: PackageVersion, new: PackageVersion) -> list[str]:
    """What of ``new`` differs materially from ``old``: ``price`` (any price plan's terms),
    ``scope`` (category, industries, company sizes, deployment) or ``interfaces``. Texts
    (title, summary, description, what the enterprise provides, tags) and service terms
    (go-live days, SLA) are not material: a version changing only those keeps the
    admissions of the one before (vouchers' package admission). Empty: nothing material.

    The trial offer (days, price, limits) is not material either: vouchers never pay for a
    trial (``orders.trials`` places no voucher reservation), so an agency that admitted the
    version's plans has nothing new to judge when only the trial changes."""

    def plans(v: PackageVersion) -> list[tuple[Any, ...]]:
        return [
            (
                *(getattr(p, t) for t in PLAN_TERMS),
                tuple((t.from_quantity, t.unit_price_fen) for t in p.tiers),
            )
            for p in v.plans
        ]

    def scope(v: PackageVersion) -> tuple[Any, ...]:
        return (
            v.category_code,
            sorted(i.code for i in v.industries),
            sorted(t.value for t in v.size_tiers),
            v.deployment,
        )

    def interfaces(v: PackageVersion) -> set[tuple[str, str, str]]:
        return {(i.flow.value, i.protocol_code, i.data_object_code) for i in v.interfaces}

    changed = []
    if plans(old) != plans(new):
        changed.append("price")
    if scope(old) != scope(new):
        changed.append("scope")
    if interfaces(old) != interfaces(new):
        changed.append("interfaces")
    return changed


def _copy_as_draft(package: Package, source: PackageVersion, actor: Actor) -> PackageVersion:
    draft = PackageVersion(
        package=package,
        number=source.number + 1,
        status=VersionStatus.DRAFT,
        title=source.title,
        summary=source.summary,
        description=source.description,
        category_code=source.category_code,
        deployment=source.deployment,
        go_live_days=source.go_live_days,
        sla_response_hours=source.sla_response_hours,
        enterprise_provides=source.enterprise_provides,
        tags=source.tags,
        trial_days=source.trial_days,
        trial_price_fen=source.trial_price_fen,
        trial_limits=source.trial_limits,
    )
    draft.industries = list(source.industries)
    draft.size_tier_rows = [VersionSizeTier(tier=t) for t in source.size_tiers]
    copied = (*PLAN_TERMS, "position")
    draft.plans = [
        PricePlan(
            **{c: getattr(p, c) for c in copied},
            tiers=[
                PlanTier(from_quantity=t.from_quantity, unit_price_fen=t.unit_price_fen)
                for t in p.tiers
            ],
        )
        for p in source.plans
    ]
    draft.interfaces = [
        VersionInterface(
            flow=i.flow, protocol_code=i.protocol_code, data_object_code=i.data_object_code
        )
        for i in source.interfaces
    ]
    db.session.add(draft)
    db.session.flush()
    audit.record(actor, "package.new_version", "package", package.id, version=draft.number)
    return draft


def may_delist(package: Package, agency_id: int | None) -> bool:
    """Officials of an agency whose pool admitted (or suspended) the provider may delist."""
    stmt = select(PoolMembership.id).where(
        PoolMembership.provider_id == package.provider_id,
        PoolMembership.agency_id == agency_id,
        PoolMembership.status.in_([PoolStatus.ADMITTED, PoolStatus.SUSPENDED]),
    )
    return agency_id is not None and db.session.scalar(stmt) is not None


def delist(package: Package, reason: str, actor: Actor) -> PackageVersion:
    """An agency official takes a package out of the catalogue, with a reason the provider sees."""
    if not may_delist(package, actor.org_id):
        raise NotFound(_l("Not found."))
    if not reason.strip():
        raise DomainError(_l("Give a written reason; the provider will see it."), field="reason")
    version = package.published_version
    if version is None:
        raise DomainError(_l("This package is not published."))
    before = version.status
    version.status = VERSION_MACHINE.next_state(before, VersionEvent.DELIST, OrgKind.AGENCY.value)
    version.delisted_at = utcnow()
    version.delist_reason = reason.strip()
    package.published_version = None
    db.session.flush()
    _history(version, before, VersionEvent.DELIST, actor, reason.strip())
    return version


def provider_packages(provider: Organisation) -> list[Package]:
    stmt = (
        select(Package)
        .where(Package.provider_id == provider.id)
        .options(selectinload(Package.versions))
        .order_by(Package.id.desc())
    )
    return list(db.session.scalars(stmt))


def package_counts(provider: Organisation) -> dict[str, int]:
    """How many packages are in the catalogue, have an open draft or submission, were delisted."""
    counts = {"published": 0, "draft": 0, "submitted": 0, "delisted": 0}
    for package in provider_packages(provider):
        if package.published_version_id is not None:
            counts["published"] += 1
        if package.latest.status in (VersionStatus.DRAFT, VersionStatus.SUBMITTED):
            counts[package.latest.status.value] += 1
        if any(v.status is VersionStatus.DELISTED for v in package.versions):
            counts["delisted"] += 1
    return counts


# Reviews by verified buyers: orders checks the accepted line a review is left on.


# The public catalogue


def visible_versions() -> Select[Any]:
    """Published versions of packages whose providers are admitted to a pool."""
    return (
        select(PackageVersion)
        .join(Package, Package.published_version_id == PackageVersion.id)
        .where(
            PackageVersion.status == VersionStatus.PUBLISHED,
            pool.admitted(Package.provider_id),
        )
    )


def visible_by_package_ids(package_ids: list[int]) -> list[PackageVersion]:
    if not package_ids:
        return []
    stmt = visible_versions().where(Package.id.in_(package_ids))
    stmt = stmt.options(selectinload(PackageVersion.package).joinedload(Package.provider))
    return list(db.session.scalars(stmt))


def catalogue(
    category: str | None = None, provider_id: int | None = None, limit: int = 60, offset: int = 0
) -> tuple[list[PackageVersion], int]:
    stmt = visible_versions()
    if category:
        stmt = stmt.where(PackageVersion.category_code == category)
    if provider_id is not None:
        stmt = stmt.where(Package.provider_id == provider_id)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.options(
            selectinload(PackageVersion.plans),
            selectinload(PackageVersion.package).joinedload(Package.provider),
        )
        .order_by(PackageVersion.published_at.desc(), PackageVersion.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def category_counts() -> list[tuple[Category, int]]:
    """Every category with the number of packages the catalogue shows in it (one grouped
    query, then the categories in their order)."""
    counted = (
        visible_versions()
        .with_only_columns(PackageVersion.category_code, func.count())
        .group_by(PackageVersion.category_code)
    )
    counts: dict[str, int] = {code: n for code, n in db.session.execute(counted)}
    return [(category, counts.get(category.code, 0)) for category in categories()]


def public_package(package_id: int) -> Package:
    package = db.session.get(Package, package_id)
    if (
        package is None
        or package.published_version is None
        or not pool.is_admitted(package.provider_id)
    ):
        raise NotFound(_l("This package is not in the catalogue."))
    return package


def is_visible(package: Package) -> bool:
    return package.published_version is not None and pool.is_admitted(package.provider_id)


# Curated bundles
