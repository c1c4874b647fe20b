"""Enterprise bundles (组合方案): choosing packages and plans, totals, and the
interoperability check that reads every package's declared data interfaces."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from marketplace import audit
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.catalog import curated_bundles
from marketplace.catalog import services as catalog
from marketplace.catalog.models import (
    CuratedBundle,
    FeeRule,
    Flow,
    Package,
    PackageVersion,
    PlanKind,
    PricePlan,
    VersionInterface,
)
from marketplace.db import atomic, db
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.orders.models import Bundle, BundleItem, Need, Quote, QuoteStatus
from marketplace.orders.quote_prices import Price, list_price, spread
from marketplace.security import Actor
from marketplace.vouchers import spending
from marketplace.vouchers.models import VoucherProgramme, prorated_fee
from marketplace.vouchers.spending import LineClaim, LineSubsidy

MAX_ITEMS = 12
# Data the shop floor or the enterprise itself supplies: machines speak field protocols, and
# people can always hand over a spreadsheet. A package reading these needs no other package.
FIELD_PROTOCOLS = {"opc_ua", "modbus_tcp", "profinet"}
FIELD_DATA = {"device_telemetry", "energy_readings"}
SELF_SERVED_PROTOCOLS = {"csv_excel"}


def _self_served(data_object: str, protocols: set[str]) -> bool:
    if protocols & SELF_SERVED_PROTOCOLS:
        return True
    return data_object in FIELD_DATA and bool(protocols & FIELD_PROTOCOLS)


MAX_BUNDLES = 20


def _enterprise(org: Organisation) -> None:
    if org.kind is not OrgKind.ENTERPRISE:
        raise DomainError(_l("Only enterprises keep bundles."))


def bundles_of(enterprise: Organisation) -> list[Bundle]:
    stmt = (
        select(Bundle)
        .where(Bundle.enterprise_id == enterprise.id)
        .options(selectinload(Bundle.items))
        .order_by(Bundle.id.desc())
    )
    return list(db.session.scalars(stmt))


def get(enterprise: Organisation, bundle_id: int) -> Bundle:
    return get_owned(Bundle, bundle_id, enterprise_id=enterprise.id)


def create(
    enterprise: Organisation, name: str, actor: Actor, curated_bundle_id: int | None = None
) -> Bundle:
    _enterprise(enterprise)
    name = name.strip()
    if not name:
        raise DomainError(_l("Give the bundle a name."), field="name")
    if len(bundles_of(enterprise)) >= MAX_BUNDLES:
        raise DomainError(_l("You can keep at most %(n)d bundles.", n=MAX_BUNDLES), field="name")
    taken = select(Bundle.id).where(Bundle.enterprise_id == enterprise.id, Bundle.name == name)
    if db.session.scalar(taken) is not None:
        raise DomainError(_l("You already have a bundle with this name."), field="name")
    bundle = Bundle(enterprise_id=enterprise.id, name=name, curated_bundle_id=curated_bundle_id)
    db.session.add(bundle)
    db.session.flush()
    audit.record(actor, "bundle.created", "bundle", bundle.id)
    return bundle


def _plan_of(package: Package, plan_id: int | None) -> PricePlan:
    version = package.published_version
    assert version is not None
    if plan_id is None:  # the plan the package page preselects, whose price the catalogue shows
        return default_plan(version)
    plan = next((p for p in version.plans if p.id == plan_id), None)
    if plan is None:
        raise DomainError(_l("Choose one of the package's price plans."), field="plan_id")
    return plan


def addable(package_id: int, plan_id: int | None) -> Package:
    """The package, when it may be added with this plan (checked before any bundle is made)."""
    package = db.session.get(Package, package_id)
    if package is None or not catalog.is_visible(package):
        raise DomainError(_l("This package is not in the catalogue."), field="package_id")
    _plan_of(package, plan_id)
    return package


def add(
    bundle: Bundle,
    package_id: int,
    plan_id: int | None,
    actor: Actor,
    quote: Quote | None = None,
) -> BundleItem:
    """Add a package with a plan; ``quote``: the accepted quote it comes from, of the bundle's
    own enterprise, whose price then binds the quote's items (``lines``)."""
    package = addable(package_id, plan_id)
    if quote is not None and not _quote_fits(quote, bundle.enterprise_id):
        raise DomainError(_l("This quote is not one of yours to apply."))
    if any(item.package_id == package_id for item in bundle.items):
        raise DomainError(_l("This package is already in the bundle."), field="package_id")
    if len(bundle.items) >= MAX_ITEMS:
        raise DomainError(
            _l("A bundle holds at most %(n)d packages.", n=MAX_ITEMS), field="package_id"
        )
    item = BundleItem(
        package=package,
        plan=_plan_of(package, plan_id),
        position=len(bundle.items),
        quote_id=quote.id if quote is not None else None,
    )
    bundle.items.append(item)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # the same package added twice at once
        raise DomainError(_l("This package is already in the bundle."), field="package_id") from exc
    extra = {"quote_id": quote.id} if quote is not None else {}
    audit.record(actor, "bundle.item_added", "bundle", bundle.id, package_id=package_id, **extra)
    return item


def _item(bundle: Bundle, item_id: int) -> BundleItem:
    item = next((i for i in bundle.items if i.id == item_id), None)
    if item is None:
        raise NotFound(_l("Not found."))
    return item


def remove(bundle: Bundle, item_id: int, actor: Actor) -> None:
    item = _item(bundle, item_id)
    bundle.items.remove(item)
    audit.record(actor, "bundle.item_removed", "bundle", bundle.id, package_id=item.package_id)


def choose_plan(bundle: Bundle, item_id: int, plan_id: int, actor: Actor) -> None:
    item = _item(bundle, item_id)
    if not catalog.is_visible(item.package):
        raise DomainError(_l("This package is not in the catalogue any more."), field="plan_id")
    item.plan = _plan_of(item.package, plan_id)
    audit.record(
        actor,
        "bundle.plan_chosen",
        "bundle",
        bundle.id,
        package_id=item.package_id,
        plan_id=plan_id,
    )


@atomic
def from_curated(enterprise: Organisation, curated_bundle_id: int, actor: Actor) -> Bundle:
    curated = curated_bundles.public_bundle(curated_bundle_id)
    name = curated.name[:70]
    existing = {b.name for b in bundles_of(enterprise)}
    n = 2
    while name in existing:
        name = f"{curated.name} ({n})"
        n += 1
    bundle = create(enterprise, name, actor, curated_bundle_id=curated.id)
    for item in curated.items:
        add(bundle, item.package_id, None, actor)
    return bundle


@atomic
def from_recommendation(
    enterprise: Organisation, package_ids: list[int], name: str, actor: Actor
) -> Bundle:
    """Take a diagnosis' recommended starter bundle as one's own."""
    name = name[:70]
    existing = {b.name for b in bundles_of(enterprise)}
    base, n = name, 2
    while name in existing:
        name = f"{base} ({n})"
        n += 1
    bundle = create(enterprise, name, actor)
    for package_id in package_ids:
        add(bundle, package_id, None, actor)
    return bundle


# Reading a bundle: what is still offered, totals, interoperability


@dataclass(frozen=True)
class Proposed:
    """An item of a bundle not made yet: a package with the plan adding it would choose."""

    package_id: int
    plan_id: int
    plan: PricePlan


@dataclass
class Line:
    item: BundleItem | Proposed
    version: PackageVersion | None  # None: no longer in the catalogue
    plan_current: bool  # the chosen plan belongs to the package's current version
    quoted: Price | None = None  # its share of an accepted quote's price, while that applies
    quote: Quote | None = None  # the quote whose price it carries
    lapsed_quote: Quote | None = None  # the quote it came from, which no longer applies

    @property
    def price(self) -> Price:
        """What the line costs: the quoted share, else the plan's list price. The one figure
        the totals, the voucher claims, the review and the order line all use."""
        return self.quoted if self.quoted is not None else list_price(self.item.plan)


def _quote_fits(quote: Quote, enterprise_id: int) -> bool:
    """An accepted quote on a need of this enterprise."""
    return quote.status is QuoteStatus.ACCEPTED and quote.need.enterprise_id == enterprise_id


def _apply_quotes(bundle: Bundle, result: list[Line]) -> None:
    """Price the lines made from accepted quotes at the quotes' prices (``spread``). A quote
    applies only while the bundle holds every package it quoted, each with the plan quoted,
    the plans still current, and the quote is an accepted one of the bundle's enterprise;
    otherwise its lines keep the list price and name the quote as lapsed. Two queries, and
    none for a bundle with no item from a quote."""
    quote_ids = {line.item.quote_id for line in result if isinstance(line.item, BundleItem)}
    quote_ids.discard(None)
    if not quote_ids:
        return
    stmt = (
        select(Quote)
        .where(Quote.id.in_(quote_ids))
        .options(selectinload(Quote.items), joinedload(Quote.need).load_only(Need.enterprise_id))
    )
    quotes = {q.id: q for q in db.session.scalars(stmt)}
    for quote_id in sorted(i for i in quote_ids if i is not None):
        quote = quotes.get(quote_id)
        mine = [
            line
            for line in result
            if isinstance(line.item, BundleItem) and line.item.quote_id == quote_id
        ]
        if quote is None:
            continue
        held = {(line.item.package_id, line.item.plan_id) for line in mine}
        quoted = {(item.package_id, item.plan_id) for item in quote.items}
        applies = (
            _quote_fits(quote, bundle.enterprise_id)
            and held == quoted
            and len(mine) == len(quote.items)
            and all(line.version is not None and line.plan_current for line in mine)
        )
        if not applies:
            for line in mine:
                line.lapsed_quote = quote
            continue
        order = {item.package_id: n for n, item in enumerate(quote.items)}
        mine.sort(key=lambda line: order[line.item.package_id])
        for line, price in zip(
            mine, spread(quote.price_fen, [m.item.plan for m in mine]), strict=True
        ):
            line.quoted = price
            line.quote = quote


def lines(bundle: Bundle, with_interfaces: bool = True) -> list[Line]:
    """The bundle's items with their visible versions (``with_interfaces`` for the
    interoperability check; placing an order does not need them)."""
    package_ids = [i.package_id for i in bundle.items]
    if not package_ids:
        return []
    stmt = (
        catalog.visible_versions()
        .where(Package.id.in_(package_ids))
        .options(
            selectinload(PackageVersion.plans).joinedload(PricePlan.metric),
            selectinload(PackageVersion.package).joinedload(Package.provider),
        )
    )
    if with_interfaces:
        stmt = stmt.options(selectinload(PackageVersion.interfaces))
    visible = {v.package_id: v for v in db.session.scalars(stmt)}
    result = []
    for item in bundle.items:
        version = visible.get(item.package_id)
        current = version is not None and any(p.id == item.plan_id for p in version.plans)
        result.append(Line(item=item, version=version, plan_current=current))
    _apply_quotes(bundle, result)
    return result


def proposed(choices: list[tuple[PackageVersion, PricePlan]]) -> list[Line]:
    """Lines of a bundle not made yet (a recommended set), each version with the plan adding
    it would choose, so the totals, the voucher claims and the check read them as a bundle's."""
    return [Line(Proposed(v.package_id, plan.id, plan), v, True) for v, plan in choices]


def default_plan(version: PackageVersion) -> PricePlan:
    """The plan adding the package without choosing one takes (``add(..., plan_id=None)``):
    the version's ``default_plan``, whose price the catalogue shows."""
    assert version.default_plan is not None
    return version.default_plan


def content(bundle: Bundle) -> tuple[tuple[int, int], ...]:
    """What ordering the bundle now would buy: its packages with their chosen plans, in order
    (an order's package lines are made in this order)."""
    return tuple((item.package_id, item.plan_id) for item in bundle.items)


def stamp(bundle: Bundle) -> str:
    """A short fingerprint of the bundle's content: the review page sends it with the order,
    so an order is placed only for the content the enterprise reviewed."""
    text = ";".join(f"{package}:{plan}" for package, plan in content(bundle))
    return hashlib.sha256(f"{bundle.id}|{text}".encode()).hexdigest()[:16]


@dataclass
class Integration:
    """The integration fee of the curated bundle this bundle started from. It is owed to the
    integrator while the curated set is kept whole and still offered, or (hybrid mode) while
    every module is either kept or swapped for a specialist's package under the hybrid
    programme recorded on the bundle; then the fee is pro-rated (``prorated_fee``)."""

    curated: CuratedBundle
    applies: bool
    fee_fen: int = 0
    # hybrid mode: the programme the swaps were made under, and each specialist's package
    # swapped in → the module it replaces
    programme: VoucherProgramme | None = None
    swaps: dict[int, int] = field(default_factory=dict)
    kept_value_fen: int = 0
    whole_value_fen: int = 0

    @property
    def swapped(self) -> bool:
        return bool(self.swaps)

    def routed(self, package_id: int | None) -> bool:
        """Whether the integrator routes this package's line (a module or a swap)."""
        if not self.applies or package_id is None:
            return False
        return package_id in self.swaps or package_id in {i.package_id for i in self.curated.items}


def _module_values(curated: CuratedBundle) -> dict[int, int]:
    """Each module's list value: its published version's catalogue price (the commitment of
    its preselected plan, ``entry_price_fen``); a module no longer published counts 0."""
    return {
        item.package_id: (
            item.package.published_version.entry_price_fen
            if item.package.published_version is not None
            else 0
        )
        for item in curated.items
    }


def _deal(
    curated: CuratedBundle,
    package_ids: set[int],
    swaps: dict[int, int],
    programme: VoucherProgramme | None,
) -> Integration:
    members = {i.package_id for i in curated.items}
    swaps = {new: old for new, old in swaps.items() if old in members and new in package_ids}
    valid_swaps = bool(swaps) and programme is not None and programme.swaps_allowed
    covered = package_ids | (set(swaps.values()) if valid_swaps else set())
    whole = members <= covered and (valid_swaps or not swaps)
    applies = whole and curated_bundles.bundle_available(curated)
    fee = curated.integration_fee_fen
    values = _module_values(curated)
    whole_value = sum(values.values())
    kept_value = sum(v for pid, v in values.items() if pid in package_ids)
    if valid_swaps and programme is not None:
        fee = prorated_fee(fee, kept_value, whole_value, programme.hybrid_fee_floor_bp)
    return Integration(
        curated,
        applies,
        fee_fen=fee if applies else 0,
        programme=programme if valid_swaps else None,
        swaps=swaps if valid_swaps else {},
        kept_value_fen=kept_value,
        whole_value_fen=whole_value,
    )


def integration(bundle: Bundle) -> Integration | None:
    if bundle.curated_bundle_id is None:
        return None
    curated = db.session.get(CuratedBundle, bundle.curated_bundle_id)
    if curated is None:
        return None
    swaps = {
        i.package_id: i.replaces_package_id
        for i in bundle.items
        if i.replaces_package_id is not None
    }
    programme = (
        db.session.get(VoucherProgramme, bundle.hybrid_programme_id)
        if swaps and bundle.hybrid_programme_id is not None
        else None
    )
    return _deal(curated, {i.package_id for i in bundle.items}, swaps, programme)


def voucher_claims(bundle_lines: list[Line], deal: Integration | None) -> list[LineClaim]:
    """The bundle's lines as vouchers see them; keys 0…n-1 are the package lines in order and
    n is the integration fee. Lines no longer offered are left out."""
    integrator_id = None
    swapped_under = None
    if deal is not None and deal.applies:
        integrator_id = deal.curated.integrator_id
        swapped_under = deal.programme.id if deal.programme is not None else None
    claims = []
    for key, line in enumerate(bundle_lines):
        if line.version is None or not line.plan_current:
            continue
        package_id = line.item.package_id
        routed = deal is not None and deal.routed(package_id)
        claims.append(
            replace(
                plan_claim(line.version, line.item.plan),
                key=key,
                amount_fen=line.price.committed_fen,
                integrator_id=integrator_id if routed else None,
                swapped_under=swapped_under,
                swapped_in=routed and deal is not None and package_id in deal.swaps,
            )
        )
    if deal is not None and deal.applies and deal.fee_fen > 0:
        claims.append(
            LineClaim(
                key=len(bundle_lines),
                provider_id=deal.curated.integrator_id,
                amount_fen=deal.fee_fen,
                plan_kind=PlanKind.ONE_TIME.value,
                category_code=None,
                integrator_id=deal.curated.integrator_id,
                is_integration=True,
                swapped_under=swapped_under,
            )
        )
    return claims


def plan_claim(version: PackageVersion, plan: PricePlan) -> LineClaim:
    """One plan of a package as vouchers see it, ordered on its own (keyed by the plan)."""
    return LineClaim(
        key=plan.id,
        provider_id=version.package.provider_id,
        amount_fen=plan.commitment_fen,
        plan_kind=plan.kind.value,
        category_code=version.category_code,
        version_id=version.id,
    )


def plan_prices(enterprise_id: int, version: PackageVersion) -> dict[int, LineSubsidy]:
    """What the enterprise's vouchers would pay of each plan of this package, by plan id (plans
    the vouchers pay nothing of are left out); the plans are alternatives, not a basket."""
    claims = [plan_claim(version, plan) for plan in version.plans]
    subsidies = spending.plan(enterprise_id, claims, alternatives=True)
    return {s.claim.key: s for s in subsidies if s.subsidy_fen}


@dataclass
class Totals:
    one_time_fen: int = 0
    subscription_fen: int = 0
    outcome_base_fen: int = 0
    integration_fee_fen: int = 0
    success_fees_up_to_fen: int = 0
    longest_go_live_days: int = 0

    @property
    def committed_fen(self) -> int:
        return (
            self.one_time_fen
            + self.subscription_fen
            + self.outcome_base_fen
            + self.integration_fee_fen
        )


def totals(bundle_lines: list[Line], integration_fee: Integration | None = None) -> Totals:
    t = Totals()
    if integration_fee is not None and integration_fee.applies:
        t.integration_fee_fen = integration_fee.fee_fen
    for line in bundle_lines:
        if line.version is None or not line.plan_current:
            continue
        plan = line.item.plan
        price = line.price
        if plan.kind is PlanKind.ONE_TIME:
            t.one_time_fen += price.committed_fen
        elif plan.kind is PlanKind.SUBSCRIPTION:
            t.subscription_fen += price.committed_fen
        elif plan.kind is PlanKind.OUTCOME:
            t.outcome_base_fen += price.committed_fen
            if plan.fee_rule is FeeRule.FIXED:
                t.success_fees_up_to_fen += plan.success_fee_fen or 0
            else:  # the cap covers the base fee and the per-unit fees together
                t.success_fees_up_to_fen += (plan.fee_cap_fen or 0) - (plan.base_fee_fen or 0)
        t.longest_go_live_days = max(t.longest_go_live_days, line.version.go_live_days)
    return t


@dataclass
class Link:
    producer: PackageVersion
    consumer: PackageVersion
    data_object: str
    protocols: list[str]  # shared protocols; empty = a missing link
    produced_as: list[str] = field(default_factory=list)
    read_as: list[str] = field(default_factory=list)
    bridges: list[PackageVersion] = field(default_factory=list)  # would translate between them


@dataclass
class Gap:
    consumer: PackageVersion
    data_object: str
    protocols: list[str]  # what the consumer can read
    suggestions: list[PackageVersion] = field(default_factory=list)


@dataclass
class Interoperability:
    links: list[Link]
    missing: list[Link]  # a producer and a consumer without a common protocol
    unmatched: list[Gap]  # a consumer whose data nothing in the bundle produces
    duplicate_categories: list[tuple[str, list[PackageVersion]]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unmatched or self.duplicate_categories)


def _by_object(version: PackageVersion, flow: Flow) -> dict[str, set[str]]:
    result: dict[str, set[str]] = defaultdict(set)
    for i in version.interfaces:
        if i.flow is flow:
            result[i.data_object_code].add(i.protocol_code)
    return result


def check(versions: list[PackageVersion]) -> Interoperability:
    """The interoperability check on these versions (their interfaces loaded), without the
    catalogue's suggestions for the gaps: no query, so a caller may try many sets."""
    links: list[Link] = []
    missing: list[Link] = []
    unmatched: list[Gap] = []
    produces = {v.id: _by_object(v, Flow.PRODUCES) for v in versions}
    for consumer in versions:
        for data_object, readable in _by_object(consumer, Flow.CONSUMES).items():
            producers = [
                p for p in versions if p.id != consumer.id and data_object in produces[p.id]
            ]
            if not producers and not _self_served(data_object, readable):
                unmatched.append(Gap(consumer, data_object, sorted(readable)))
            for producer in producers:
                made = produces[producer.id][data_object]
                shared = sorted(made & readable)
                link = Link(producer, consumer, data_object, shared, sorted(made), sorted(readable))
                (links if shared else missing).append(link)
    by_category: dict[str, list[PackageVersion]] = defaultdict(list)
    for v in versions:
        by_category[v.category_code].append(v)
    duplicates = [(c, vs) for c, vs in by_category.items() if len(vs) > 1]
    return Interoperability(links, missing, unmatched, duplicates)


def interoperability(bundle_lines: list[Line]) -> Interoperability:
    """The check on the bundle's lines, with packages of the catalogue that would close its
    gaps (those that produce missing data, those that would bridge two protocols)."""
    versions = [line.version for line in bundle_lines if line.version is not None]
    result = check(versions)
    in_bundle = {v.package_id for v in versions}
    _suggest(result.unmatched, exclude=in_bundle)
    _bridge(result.missing, exclude=in_bundle)
    return result


def _bridge(missing: list[Link], exclude: set[int], per_link: int = 3) -> None:
    """Packages that read the data as the producer sends it and pass it on as the consumer
    reads it (a gateway or a data platform), found with one query."""
    if not missing:
        return
    stmt = (
        catalog.visible_versions()
        .join(VersionInterface, VersionInterface.version_id == PackageVersion.id)
        .where(VersionInterface.data_object_code.in_({link.data_object for link in missing}))
        .add_columns(
            VersionInterface.flow, VersionInterface.data_object_code, VersionInterface.protocol_code
        )
        .order_by(PackageVersion.entry_price_fen, PackageVersion.id)
        .limit(2000)
    )
    versions: dict[int, PackageVersion] = {}
    speaks: dict[int, set[tuple[Flow, str, str]]] = defaultdict(set)
    for version, flow, data_object, protocol in db.session.execute(stmt):
        if version.package_id not in exclude:
            versions[version.id] = version
            speaks[version.id].add((flow, data_object, protocol))
    for link in missing:
        for version_id, version in versions.items():
            reads = any(
                (Flow.CONSUMES, link.data_object, p) in speaks[version_id] for p in link.produced_as
            )
            sends = any(
                (Flow.PRODUCES, link.data_object, p) in speaks[version_id] for p in link.read_as
            )
            if reads and sends and len(link.bridges) < per_link:
                link.bridges.append(version)


def _suggest(gaps: list[Gap], exclude: set[int], per_gap: int = 3) -> None:
    """Packages that produce the missing data over a protocol the consumer reads (one query)."""
    if not gaps:
        return
    wanted = {(g.data_object, p) for g in gaps for p in g.protocols}
    stmt = (
        catalog.visible_versions()
        .join(VersionInterface, VersionInterface.version_id == PackageVersion.id)
        .where(
            VersionInterface.flow == Flow.PRODUCES,
            VersionInterface.data_object_code.in_({d for d, _p in wanted}),
        )
        .add_columns(VersionInterface.data_object_code, VersionInterface.protocol_code)
        .order_by(PackageVersion.entry_price_fen, PackageVersion.id)
        .limit(200)
    )
    offers: dict[tuple[str, str], list[PackageVersion]] = defaultdict(list)
    for version, data_object, protocol in db.session.execute(stmt):
        if version.package_id not in exclude:
            offers[(data_object, protocol)].append(version)
    for gap in gaps:
        seen: set[int] = set()
        for protocol in gap.protocols:
            for version in offers.get((gap.data_object, protocol), []):
                if version.id not in seen and len(gap.suggestions) < per_gap:
                    seen.add(version.id)
                    gap.suggestions.append(version)
