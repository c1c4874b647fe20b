"""Integrators' curated bundles (集成套餐): ready-made combinations of admitted packages from
several providers with an integration fee, offered while every package in them is."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.accounts.models import Industry, Organisation, ProviderType, SizeTier
from marketplace.catalog import search
from marketplace.catalog.models import (
    MAX_PRICE_FEN,
    BundleStatus,
    CuratedBundle,
    CuratedBundleItem,
    Package,
    PackageVersion,
    PlanKind,
)
from marketplace.catalog.services import is_visible, visible_by_package_ids
from marketplace.db import db
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.pool import services as pool
from marketplace.security import Actor


@dataclass(frozen=True)
class BundleFields:
    name: str
    summary: str
    industry_code: str
    size_tier: str
    integration_fee_fen: int
    package_ids: list[int]


def create_bundle(integrator: Organisation, fields: BundleFields, actor: Actor) -> CuratedBundle:
    if integrator.provider_type is not ProviderType.INTEGRATOR:
        raise DomainError(_l("Only integrators compose curated bundles."))
    ids = list(dict.fromkeys(fields.package_ids))
    if len(ids) < 2:
        raise DomainError(_l("A curated bundle has at least two packages."), field="package_ids")
    packages = list(db.session.scalars(select(Package).where(Package.id.in_(ids))))
    if len(packages) != len(ids) or not all(is_visible(p) for p in packages):
        raise DomainError(
            _l("Every part must be a published package in the catalogue (not delisted)."),
            field="package_ids",
        )
    if db.session.get(Industry, fields.industry_code) is None:
        raise DomainError(_l("Choose an industry from the list."), field="industry_code")
    try:
        tier = SizeTier(fields.size_tier)
    except ValueError as exc:
        raise DomainError(_l("Choose from the list."), field="size_tier") from exc
    if fields.integration_fee_fen < 0:
        raise DomainError(_l("The amount cannot be negative."), field="integration_fee")
    if fields.integration_fee_fen > MAX_PRICE_FEN:
        raise DomainError(_l("The amount cannot exceed ¥100,000,000."), field="integration_fee")
    if len({p.provider_id for p in packages}) < 2:
        raise DomainError(_l("Combine packages of at least two providers."), field="package_ids")
    name_taken = select(CuratedBundle.id).where(
        CuratedBundle.integrator_id == integrator.id, CuratedBundle.name == fields.name.strip()
    )
    if db.session.scalar(name_taken) is not None:
        raise DomainError(_l("You already have a bundle with this name."), field="name")
    bundle = CuratedBundle(
        integrator=integrator,
        name=fields.name.strip(),
        summary=fields.summary.strip(),
        industry_code=fields.industry_code,
        size_tier=tier,
        integration_fee_fen=fields.integration_fee_fen,
        status=BundleStatus.PUBLISHED,
    )
    order = {pid: n for n, pid in enumerate(ids)}
    bundle.items = [CuratedBundleItem(package=p, position=order[p.id]) for p in packages]
    db.session.add(bundle)
    db.session.flush()
    audit.record(actor, "bundle.created", "curated_bundle", bundle.id, packages=ids)
    return bundle


MAX_CHOSEN = 20  # packages a bundle form keeps ticked across searches


def package_choices(
    chosen_ids: list[int], text: str, category: str | None
) -> list[tuple[int, str]]:
    """The composer's package picker: the packages already ticked, then those the search
    finds; one entry per package, named by its current (published) version's title and
    number and its provider. Two packages of one provider with the same title are told apart
    by their numbers."""
    versions = visible_by_package_ids(chosen_ids[:MAX_CHOSEN])
    versions += search.for_bundle(text, category)
    unique = list({v.package_id: v for v in reversed(versions)}.values())[::-1]
    twins = Counter((v.title, v.package.provider_id) for v in unique)
    choices = []
    for v in unique:
        label = _l(
            "%(title)s (version %(n)d) · %(provider)s",
            title=v.title,
            n=v.number,
            provider=v.package.provider.name,
        )
        if twins[(v.title, v.package.provider_id)] > 1:
            label = _l("%(label)s · package no. %(id)d", label=label, id=v.package_id)
        choices.append((v.package_id, str(label)))
    return choices


def own_bundle(integrator: Organisation, bundle_id: int) -> CuratedBundle:
    return get_owned(CuratedBundle, bundle_id, integrator_id=integrator.id)


def withdraw_bundle(bundle: CuratedBundle, actor: Actor) -> None:
    if bundle.status is BundleStatus.WITHDRAWN:
        return
    bundle.status = BundleStatus.WITHDRAWN
    audit.record(actor, "bundle.withdrawn", "curated_bundle", bundle.id)


def bundle_available(bundle: CuratedBundle, admitted: set[int] | None = None) -> bool:
    """Offered only while all its parts are published and their providers admitted.

    ``admitted`` is the set of admitted provider ids when the caller already has it."""
    if admitted is None:
        admitted = pool.admitted_among(_bundle_provider_ids([bundle]))
    return (
        bundle.status is BundleStatus.PUBLISHED
        and bundle.integrator_id in admitted
        and all(
            item.package.published_version_id is not None and item.package.provider_id in admitted
            for item in bundle.items
        )
    )


def _bundle_provider_ids(bundles: list[CuratedBundle]) -> set[int]:
    ids = {b.integrator_id for b in bundles}
    ids.update(item.package.provider_id for b in bundles for item in b.items)
    return ids


def availability(bundles: list[CuratedBundle]) -> dict[int, bool]:
    admitted = pool.admitted_among(_bundle_provider_ids(bundles))
    return {b.id: bundle_available(b, admitted) for b in bundles}


def integrator_bundles(integrator: Organisation) -> list[CuratedBundle]:
    stmt = (
        select(CuratedBundle)
        .where(CuratedBundle.integrator_id == integrator.id)
        .options(selectinload(CuratedBundle.items).selectinload(CuratedBundleItem.package))
        .order_by(CuratedBundle.id.desc())
    )
    return list(db.session.scalars(stmt))


def public_bundles() -> list[CuratedBundle]:
    stmt = (
        select(CuratedBundle)
        .where(CuratedBundle.status == BundleStatus.PUBLISHED)
        .options(
            selectinload(CuratedBundle.items)
            .selectinload(CuratedBundleItem.package)
            .selectinload(Package.published_version)
            .selectinload(PackageVersion.plans)
        )
        .order_by(CuratedBundle.id)
    )
    bundles = list(db.session.scalars(stmt))
    available = availability(bundles)
    return [b for b in bundles if available[b.id]]


def public_bundle(bundle_id: int) -> CuratedBundle:
    bundle = db.session.get(
        CuratedBundle,
        bundle_id,
        options=[
            selectinload(CuratedBundle.items)
            .selectinload(CuratedBundleItem.package)
            .selectinload(Package.published_version)
            .selectinload(PackageVersion.plans)
        ],
    )
    if bundle is None or not bundle_available(bundle):
        raise NotFound(_l("This bundle is not offered now."))
    return bundle


def bundle_totals(bundle: CuratedBundle) -> dict[str, int]:
    """One-time parts, subscriptions over their terms and the integration fee, each apart;
    each part at its default plan (the lowest), the plan it is ordered with."""
    one_time = subscription = 0
    for item in bundle.items:
        version = item.package.published_version
        plan = version.default_plan if version is not None else None
        if plan is None:
            continue
        if plan.kind is PlanKind.ONE_TIME:
            one_time += plan.amount_fen or 0
        elif plan.kind is PlanKind.SUBSCRIPTION:
            subscription += plan.subscription_total_fen
        elif plan.kind is PlanKind.OUTCOME:
            one_time += plan.base_fee_fen or 0
    return {
        "parts_one_time_fen": one_time,
        "parts_subscription_fen": subscription,
        "integration_fee_fen": bundle.integration_fee_fen,
        "total_fen": one_time + subscription + bundle.integration_fee_fen,
    }
