"""Hybrid mode (混合模式): in a bundle taken from an appointed integrator's curated bundle, the
enterprise swaps a module for a specialist's package of the same category (引入细分领域服务商),
under a hybrid programme whose vouchers it holds. The specialist must be admitted to that
programme's pool and its package must work with the rest of the bundle (no new gap in the
interoperability check). The integration fee is then pro-rated by the programme's rule
(``vouchers.models.prorated_fee``) and the programme's vouchers still pay, the integrator
recorded on every line it routes.

In integrator mode a swap is refused (vouchers pay for the curated bundle ordered whole); open
mode has no curated deal to keep, so the enterprise edits its bundle freely there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from marketplace import audit
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Package, PackageVersion, PricePlan
from marketplace.db import atomic, db
from marketplace.errors import DomainError, NotFound
from marketplace.orders import bundles
from marketplace.orders.bundles import Integration, Interoperability, Line, Proposed, Totals
from marketplace.orders.models import Bundle, BundleItem
from marketplace.pool.models import PoolMembership, PoolStatus
from marketplace.security import Actor
from marketplace.vouchers import spending
from marketplace.vouchers.models import ProgrammeMode, VoucherProgramme


def programmes_for(enterprise_id: int) -> list[VoucherProgramme]:
    """The programmes whose vouchers the enterprise may spend now, hybrid ones first."""
    found = {v.programme_id: v.programme for v in spending.spendable(enterprise_id)}
    return sorted(found.values(), key=lambda p: (p.mode is not ProgrammeMode.HYBRID, p.id))


def _programme(enterprise_id: int, programme_id: int) -> VoucherProgramme:
    for programme in programmes_for(enterprise_id):
        if programme.id == programme_id:
            return programme
    raise DomainError(_l("Choose a programme whose vouchers you hold."), field="programme_id")


def _module(bundle: Bundle, item_id: int) -> BundleItem:
    item = next((i for i in bundle.items if i.id == item_id), None)
    if item is None:
        raise NotFound(_l("Not found."))
    return item


def refusal(bundle: Bundle, item: BundleItem, programme: VoucherProgramme) -> str | None:
    """Why this module may not be swapped under this programme, or None."""
    if programme.mode is ProgrammeMode.INTEGRATOR:
        return str(
            _l(
                "%(programme)s is in integrator mode: its vouchers pay only for an appointed"
                " integrator's curated bundle ordered whole, so a module cannot be swapped."
                " Only a hybrid programme allows swaps.",
                programme=programme.name,
            )
        )
    if programme.mode is ProgrammeMode.OPEN:
        return str(
            _l(
                "%(programme)s is in open mode: there is no integrator's bundle to keep; remove"
                " the package and add another one instead.",
                programme=programme.name,
            )
        )
    deal = bundles.integration(bundle)
    if deal is None:
        return str(
            _l("Only a bundle taken from an integrator's curated bundle has modules to swap.")
        )
    if not deal.applies:
        return str(
            _l("The curated bundle is not kept whole any more, so its modules cannot be swapped.")
        )
    if deal.programme is not None and deal.programme.id != programme.id:
        return str(
            _l(
                "This bundle's swaps were made under %(programme)s; swap under that programme.",
                programme=deal.programme.name,
            )
        )
    if deal.curated.integrator_id not in {i.id for i in programme.integrators}:
        return str(
            _l(
                "%(integrator)s is not appointed by %(programme)s now.",
                integrator=deal.curated.integrator.name,
                programme=programme.name,
            )
        )
    if not deal.routed(item.package_id):
        return str(_l("This package is not a module of the integrator's curated bundle."))
    return None


def _admitted(programme: VoucherProgramme) -> Select[Any]:
    return select(PoolMembership.provider_id).where(
        PoolMembership.agency_id == programme.agency_id,
        PoolMembership.status == PoolStatus.ADMITTED,
    )


def candidates(
    bundle: Bundle, item: BundleItem, programme: VoucherProgramme
) -> list[PackageVersion]:
    """Specialists' packages that could take the module's place: published, of the module's
    category, by a provider admitted to the programme's pool, not in the bundle yet."""
    current = item.package.published_version
    if current is None:
        return []
    in_bundle = [i.package_id for i in bundle.items]
    stmt = (
        catalog.visible_versions()
        .where(
            PackageVersion.category_code == current.category_code,
            Package.id.not_in(in_bundle),
            Package.provider_id.in_(_admitted(programme)),
        )
        .options(selectinload(PackageVersion.package).joinedload(Package.provider))
        .order_by(PackageVersion.entry_price_fen, PackageVersion.id)
        .limit(20)
    )
    return list(db.session.scalars(stmt))


@dataclass
class Preview:
    programme: VoucherProgramme
    module: BundleItem
    candidate: PackageVersion
    plan: PricePlan
    lines_after: list[Line]
    interop: Interoperability  # the check on the bundle after the swap
    new_problems: list[str]  # what the swap would break that works now (empty: it passes)
    deal_before: Integration
    deal_after: Integration
    totals_before: Totals
    totals_after: Totals
    subsidy_before_fen: int
    subsidy_after_fen: int

    @property
    def passes(self) -> bool:
        return not self.new_problems

    @property
    def copay_before_fen(self) -> int:
        return self.totals_before.committed_fen - self.subsidy_before_fen

    @property
    def copay_after_fen(self) -> int:
        return self.totals_after.committed_fen - self.subsidy_after_fen


def _problems(
    check: Interoperability, data_name: Callable[[str], str]
) -> dict[tuple[str, ...], str]:
    """The check's problems, keyed so that two checks can be compared."""
    found: dict[tuple[str, ...], str] = {}
    for link in check.missing:
        found[
            (
                "missing",
                str(link.producer.package_id),
                str(link.consumer.package_id),
                link.data_object,
            )
        ] = str(
            _l(
                "%(producer)s and %(consumer)s share no protocol for %(data)s.",
                producer=link.producer.title,
                consumer=link.consumer.title,
                data=data_name(link.data_object),
            )
        )
    for gap in check.unmatched:
        found[("unmatched", str(gap.consumer.package_id), gap.data_object)] = str(
            _l(
                "Nothing in the bundle sends %(data)s that %(consumer)s needs.",
                consumer=gap.consumer.title,
                data=data_name(gap.data_object),
            )
        )
    for category, _versions in check.duplicate_categories:
        found[("duplicate", category)] = str(
            _l("Two packages of the same category: %(category)s.", category=category)
        )
    return found


def preview(
    bundle: Bundle,
    item_id: int,
    programme_id: int,
    package_id: int,
    data_name: Callable[[str], str] = str,
) -> Preview:
    """What swapping the module for this package would give: the check, the fee and the
    totals before and after vouchers. Refuses (``DomainError``) a swap that is not allowed
    at all; a swap that fails the check is previewed with its problems (``passes`` false)."""
    item = _module(bundle, item_id)
    programme = _programme(bundle.enterprise_id, programme_id)
    reason = refusal(bundle, item, programme)
    if reason is not None:
        raise DomainError(reason)
    candidate = catalog.visible_versions().where(Package.id == package_id)
    version = db.session.scalar(
        candidate.options(
            selectinload(PackageVersion.interfaces),
            selectinload(PackageVersion.plans),
            selectinload(PackageVersion.package).joinedload(Package.provider),
        )
    )
    if version is None:
        raise DomainError(_l("This package is not in the catalogue."), field="package_id")
    module_version = item.package.published_version
    if module_version is None or version.category_code != module_version.category_code:
        raise DomainError(
            _l("Swap a module only for a package of the same category."), field="package_id"
        )
    admitted = db.session.scalar(
        _admitted(programme).where(PoolMembership.provider_id == version.package.provider_id)
    )
    if admitted is None:
        raise DomainError(
            _l(
                "%(provider)s is not admitted to the pool of %(agency)s: the programme's vouchers"
                " do not pay for it.",
                provider=version.package.provider.name,
                agency=programme.agency.name,
            ),
            field="package_id",
        )
    if any(i.package_id == version.package_id for i in bundle.items):
        raise DomainError(_l("This package is already in the bundle."), field="package_id")
    plan = bundles.default_plan(version)
    lines_before = bundles.lines(bundle)
    lines_after = [
        Line(Proposed(version.package_id, plan.id, plan), version, True)
        if line.item is item
        else line
        for line in lines_before
    ]
    deal_before = bundles.integration(bundle)
    assert deal_before is not None
    swaps = dict(deal_before.swaps)
    original = swaps.pop(item.package_id, item.package_id)  # a swap of a swap replaces the module
    swaps[version.package_id] = original
    package_ids = {line.item.package_id for line in lines_after}
    deal_after = bundles._deal(deal_before.curated, package_ids, swaps, programme)
    before = bundles.check([line.version for line in lines_before if line.version is not None])
    after = bundles.check([line.version for line in lines_after if line.version is not None])
    old_problems, new_problems = _problems(before, data_name), _problems(after, data_name)
    subsidy_before = spending.plan(
        bundle.enterprise_id, bundles.voucher_claims(lines_before, deal_before)
    )
    subsidy_after = spending.plan(
        bundle.enterprise_id, bundles.voucher_claims(lines_after, deal_after)
    )
    return Preview(
        programme=programme,
        module=item,
        candidate=version,
        plan=plan,
        lines_after=lines_after,
        interop=after,
        new_problems=[text for key, text in new_problems.items() if key not in old_problems],
        deal_before=deal_before,
        deal_after=deal_after,
        totals_before=bundles.totals(lines_before, deal_before),
        totals_after=bundles.totals(lines_after, deal_after),
        subsidy_before_fen=sum(s.subsidy_fen for s in subsidy_before),
        subsidy_after_fen=sum(s.subsidy_fen for s in subsidy_after),
    )


@atomic
def swap(
    bundle: Bundle,
    item_id: int,
    programme_id: int,
    package_id: int,
    actor: Actor,
    data_name: Callable[[str], str] = str,
) -> Preview:
    """Swap the module for the specialist's package: refused, nothing stored, unless the
    preview passes the interoperability check."""
    shown = preview(bundle, item_id, programme_id, package_id, data_name)
    if not shown.passes:
        raise DomainError(
            _l(
                "%(package)s does not work with the rest of the bundle: %(problems)s",
                package=shown.candidate.title,
                problems=" ".join(shown.new_problems),
            ),
            field="package_id",
        )
    module = shown.module
    original = shown.deal_after.swaps[shown.candidate.package_id]
    position = module.position
    bundle.items.remove(module)
    db.session.flush()
    bundle.items.insert(
        position,
        BundleItem(
            package_id=shown.candidate.package_id,
            plan_id=shown.plan.id,
            position=position,
            replaces_package_id=original,
        ),
    )
    bundle.hybrid_programme_id = shown.programme.id
    db.session.flush()
    db.session.expire(bundle, ["items"])
    audit.record(
        actor,
        "bundle.module_swapped",
        "bundle",
        bundle.id,
        programme_id=shown.programme.id,
        removed_package_id=module.package_id,
        added_package_id=shown.candidate.package_id,
        integration_fee_fen=shown.deal_after.fee_fen,
    )
    return shown
