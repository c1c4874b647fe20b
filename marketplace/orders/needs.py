"""The needs board (需求): an enterprise posts a need (category, description, budget, deadline),
providers admitted to at least one pool answer with quotes, and the enterprise compares them
and turns the ones it chooses into its working bundle, where the interoperability check,
vouchers and checkout follow as for any bundle.

Rules kept here:

- the board of a provider shows the open needs in the categories it publishes a package in,
  without the enterprise's name (industry, size, region, budget and deadline only) until the
  enterprise accepts its quote;
- a quote names one or more of the provider's own packages in the catalogue (a plan of the
  published version of each); its price is more than nothing and at most the list price of the
  plans chosen (their commitment: a one-time price, a subscription's whole term, an outcome
  plan's base fee). The bundle made from it holds those plans; the order is placed at their
  catalogue prices (the quoted price is what the provider offers to settle for, shown beside);
- one live quote per provider per need (a UNIQUE index over live and accepted quotes);
- a need moves by ``NEED_MACHINE``: open → awarded (quotes accepted) / closed (by the
  enterprise) / expired (the deadline passed, by the scheduled job), each move with a history
  row and conditional, so two requests cannot both move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from marketplace import audit, notifications
from marketplace.accounts.models import Industry, Organisation, OrgKind, Region, SizeTier
from marketplace.catalog import services as catalog
from marketplace.catalog import track_records
from marketplace.catalog.models import Category, Package, PackageVersion, PricePlan
from marketplace.db import atomic, db, local_today, move_status, utcnow
from marketplace.errors import DomainError, NotFound, get_owned
from marketplace.money import format_fen
from marketplace.orders import bundles
from marketplace.orders.models import (
    NEED_MACHINE,
    SYSTEM,
    E,
    Need,
    NeedEvent,
    NeedStatus,
    NeedStatusChange,
    Quote,
    QuoteItem,
    QuoteStatus,
)
from marketplace.pool import services as pool
from marketplace.security import Actor

MAX_DESCRIPTION = 4000
MAX_SITE = 200
MAX_MESSAGE = 2000
MAX_DAYS = 730  # delivery days a quote may promise
MAX_FEN = 10**15
MAX_ITEMS = bundles.MAX_ITEMS
LIVE = (QuoteStatus.LIVE, QuoteStatus.ACCEPTED)
CHANGED = _l("This need was changed meanwhile. Reload the page and try again.")


# --- the enterprise's side ------------------------------------------------------------------


@dataclass(frozen=True)
class NeedFields:
    category_code: str
    description: str
    budget_fen: int | None
    deadline: date | None
    industry_code: str | None = None
    site: str = ""


def _history(need: Need, before: NeedStatus | None, event: NeedEvent, actor: Actor) -> None:
    db.session.add(
        NeedStatusChange(
            need_id=need.id,
            from_status=before,
            to_status=need.status,
            event=event,
            actor_user_id=actor.user_id,
        )
    )


def _check(fields: NeedFields) -> NeedFields:
    if db.session.get(Category, fields.category_code or "") is None:
        raise DomainError(_l("Choose a category."), field="category_code")
    description = (fields.description or "").strip()
    if not description:
        raise DomainError(_l("Describe what you need."), field="description")
    if len(description) > MAX_DESCRIPTION:
        raise DomainError(
            _l("Keep the description under %(n)d characters.", n=MAX_DESCRIPTION),
            field="description",
        )
    if fields.budget_fen is None or fields.budget_fen <= 0 or fields.budget_fen > MAX_FEN:
        raise DomainError(_l("Enter a budget of more than ¥0 in yuan."), field="budget")
    if fields.deadline is None or fields.deadline <= local_today():
        raise DomainError(_l("Choose a deadline after today."), field="deadline")
    industry = fields.industry_code or None
    if industry is not None and db.session.get(Industry, industry) is None:
        raise DomainError(_l("Choose an industry from the list."), field="industry_code")
    site = (fields.site or "").strip()
    if len(site) > MAX_SITE:
        raise DomainError(_l("Keep the site under %(n)d characters.", n=MAX_SITE), field="site")
    return NeedFields(
        fields.category_code, description, fields.budget_fen, fields.deadline, industry, site
    )


def providers_in(category_code: str) -> list[int]:
    """Providers admitted to a pool that publish a package in this category (one query)."""
    stmt = (
        catalog.visible_versions()
        .with_only_columns(Package.provider_id)
        .where(PackageVersion.category_code == category_code)
        .distinct()
    )
    return sorted(db.session.scalars(stmt))


@atomic
def post(enterprise: Organisation, fields: NeedFields, actor: Actor) -> Need:
    """Post a need; the providers who publish a package in its category are told of it."""
    if enterprise.kind is not OrgKind.ENTERPRISE:
        raise DomainError(_l("Only enterprises post needs."))
    fields = _check(fields)
    assert fields.budget_fen is not None and fields.deadline is not None
    status = NEED_MACHINE.next_state(None, NeedEvent.POST, E)
    need = Need(
        enterprise_id=enterprise.id,
        category_code=fields.category_code,
        description=fields.description,
        budget_fen=fields.budget_fen,
        deadline=fields.deadline,
        industry_code=fields.industry_code,
        site=fields.site,
        status=status,
    )
    db.session.add(need)
    db.session.flush()
    _history(need, None, NeedEvent.POST, actor)
    audit.record(actor, "need.posted", "need", need.id, budget_fen=need.budget_fen)
    category = db.session.get(Category, need.category_code)
    assert category is not None
    for provider_id in providers_in(need.category_code):
        notifications.notify(
            provider_id,
            "need_posted",
            f"/needs/board/{need.id}",
            category=category.name_zh,
            budget=format_fen(need.budget_fen),
            deadline=need.deadline.isoformat(),
        )
    return need


def needs_of(enterprise: Organisation) -> list[tuple[Need, int]]:
    """The enterprise's needs, newest first, each with its number of live quotes (two queries)."""
    rows = list(
        db.session.scalars(
            select(Need).where(Need.enterprise_id == enterprise.id).order_by(Need.id.desc())
        )
    )
    counts = dict(
        db.session.execute(
            select(Quote.need_id, func.count(Quote.id))
            .join(Need, Need.id == Quote.need_id)
            .where(Need.enterprise_id == enterprise.id, Quote.status.in_(LIVE))
            .group_by(Quote.need_id)
        ).all()
    )
    return [(need, counts.get(need.id, 0)) for need in rows]


def get(enterprise: Organisation, need_id: int) -> Need:
    return get_owned(Need, need_id, enterprise_id=enterprise.id)


def quotes_on(need: Need, shown: tuple[QuoteStatus, ...] | None = None) -> list[Quote]:
    """The quotes on a need with their packages, versions and plans (a fixed number of
    queries, whatever the number of quotes); withdrawn ones are left out."""
    stmt = (
        select(Quote)
        .where(Quote.need_id == need.id, Quote.status != QuoteStatus.WITHDRAWN)
        .options(
            selectinload(Quote.items).joinedload(QuoteItem.version),
            selectinload(Quote.items).joinedload(QuoteItem.plan),
        )
        .order_by(Quote.price_fen, Quote.id)
    )
    if shown is not None:
        stmt = stmt.where(Quote.status.in_(shown))
    return list(db.session.scalars(stmt))


def _move(need: Need, event: NeedEvent, actor_kind: str, actor: Actor) -> None:
    before = need.status
    target = NEED_MACHINE.next_state(before, event, actor_kind)
    move_status(need, before, changed=CHANGED, status=target, ended_at=utcnow())
    _history(need, before, event, actor)


def _decline_others(need: Need, kept: set[int]) -> None:
    """Live quotes not chosen become declined; their providers are told."""
    others = db.session.scalars(
        select(Quote).where(Quote.need_id == need.id, Quote.status == QuoteStatus.LIVE)
    ).all()
    for quote in others:
        if quote.id in kept:
            continue
        quote.status = QuoteStatus.DECLINED
        quote.decided_at = utcnow()
        notifications.notify(
            quote.provider_id, "quote_declined", f"/needs/board/{need.id}", need=need.id
        )


@atomic
def close(need: Need, actor: Actor) -> None:
    """The enterprise closes its open need without choosing; live quotes are declined."""
    _move(need, NeedEvent.CLOSE, E, actor)
    _decline_others(need, set())
    audit.record(actor, "need.closed", "need", need.id)


@atomic
def accept(enterprise: Organisation, need: Need, quote_ids: list[int], actor: Actor) -> Any:
    """Turn the chosen live quotes of this open need into a new bundle of the enterprise: their
    packages with the plans quoted. The chosen quotes are accepted (their providers now see the
    enterprise's name), the other live ones declined; everyone is told. Returns the bundle."""
    if need.enterprise_id != enterprise.id:
        raise NotFound(_l("Not found."))
    if need.status is not NeedStatus.OPEN:
        raise DomainError(_l("This need is not open any more."))
    wanted = set(quote_ids)
    if not wanted:
        raise DomainError(_l("Choose at least one quote."), field="quote_ids")
    chosen = [q for q in quotes_on(need, (QuoteStatus.LIVE,)) if q.id in wanted]
    if len(chosen) != len(wanted):
        raise DomainError(_l("Choose among the quotes waiting for your decision."), "quote_ids")
    _move(need, NeedEvent.AWARD, E, actor)
    name = str(_l("Need #%(need)d · %(category)s", need=need.id, category=need.category.name_zh))
    taken = {b.name for b in bundles.bundles_of(enterprise)}
    base, n = name[:70], 2
    name = base
    while name in taken:
        name = f"{base} ({n})"
        n += 1
    bundle = bundles.create(enterprise, name, actor)
    for quote in chosen:
        quote.status = QuoteStatus.ACCEPTED
        quote.decided_at = utcnow()
        for item in quote.items:
            if item.package.provider_id != quote.provider_id:  # never: checked when quoted
                raise DomainError(_l("This package is not in the catalogue."))
            # the item remembers its quote: the quoted price binds it (bundles.lines)
            bundles.add(bundle, item.package_id, item.plan_id, actor, quote=quote)
        notifications.notify(
            quote.provider_id,
            "quote_accepted",
            f"/needs/board/{need.id}",
            need=need.id,
            enterprise=enterprise.name,
        )
    need.bundle_id = bundle.id
    _decline_others(need, {q.id for q in chosen})
    audit.record(
        actor,
        "need.awarded",
        "need",
        need.id,
        bundle_id=bundle.id,
        quote_ids=sorted(q.id for q in chosen),
    )
    return bundle


# --- the scheduled job: open needs past their deadline --------------------------------------


def due_for_expiry(today: date | None = None) -> list[int]:
    today = today or local_today()
    stmt = select(Need.id).where(Need.status == NeedStatus.OPEN, Need.deadline < today)
    return list(db.session.scalars(stmt.order_by(Need.id)))


def expire_one(need_id: int, actor: Actor, today: date | None = None) -> bool:
    """Expire one open need past its deadline (a second run finds it moved: False)."""
    need = db.session.get(Need, need_id)
    today = today or local_today()
    if need is None or need.status is not NeedStatus.OPEN or need.deadline >= today:
        return False
    _move(need, NeedEvent.EXPIRE, SYSTEM, actor)
    audit.record(actor, "need.expired", "need", need.id)
    notifications.notify(need.enterprise_id, "need_expired", f"/needs/{need.id}", need=need.id)
    return True


# --- the providers' side --------------------------------------------------------------------


def _admitted(provider: Organisation) -> None:
    if provider.kind is not OrgKind.PROVIDER or not pool.is_admitted(provider.id):
        raise DomainError(
            _l("Only providers admitted to a resource pool see the needs board and quote.")
        )


def categories_of(provider: Organisation) -> set[str]:
    """The categories the provider publishes a package in (one query)."""
    stmt = (
        catalog.visible_versions()
        .with_only_columns(PackageVersion.category_code)
        .where(Package.provider_id == provider.id)
        .distinct()
    )
    return set(db.session.scalars(stmt))


@dataclass(frozen=True)
class BoardRow:
    """A need as the board shows it: no enterprise name until its quote is accepted."""

    need: Need
    industry: Industry | None
    size_tier: SizeTier | None
    region: Region | None
    own_quote: Quote | None
    enterprise_name: str | None  # only once the enterprise accepted this provider's quote


def _board_stmt() -> Any:
    """Needs with what the board may say of their enterprise (not its name)."""
    ent = Organisation
    return select(Need, ent.industry_code, ent.size_tier, ent.region_code).join(
        ent, ent.id == Need.enterprise_id
    )


def _rows(provider: Organisation, found: list[Any]) -> list[BoardRow]:
    need_ids = [row[0].id for row in found]
    quotes: dict[int, Quote] = {}
    if need_ids:
        for quote in db.session.scalars(
            select(Quote)
            .where(Quote.provider_id == provider.id, Quote.need_id.in_(need_ids))
            .order_by(Quote.id)
        ):
            if quote.need_id not in quotes or quote.status in LIVE:
                quotes[quote.need_id] = quote
    industry_codes = {row[0].industry_code or row[1] for row in found} - {None}
    industries = (
        {
            i.code: i
            for i in db.session.scalars(select(Industry).where(Industry.code.in_(industry_codes)))
        }
        if industry_codes
        else {}
    )
    region_codes = {row[3] for row in found} - {None}
    regions = (
        {r.code: r for r in db.session.scalars(select(Region).where(Region.code.in_(region_codes)))}
        if region_codes
        else {}
    )
    names = _accepted_names(provider, need_ids)
    return [
        BoardRow(
            need=need,
            industry=industries.get(need.industry_code or industry_code or ""),
            size_tier=SizeTier(size_tier) if size_tier else None,
            region=regions.get(region or ""),
            own_quote=quotes.get(need.id),
            enterprise_name=names.get(need.id),
        )
        for need, industry_code, size_tier, region in found
    ]


def _accepted_names(provider: Organisation, need_ids: list[int]) -> dict[int, str]:
    if not need_ids:
        return {}
    stmt = (
        select(Need.id, Organisation.name)
        .join(Organisation, Organisation.id == Need.enterprise_id)
        .join(
            Quote,
            and_(
                Quote.need_id == Need.id,
                Quote.provider_id == provider.id,
                Quote.status == QuoteStatus.ACCEPTED,
            ),
        )
        .where(Need.id.in_(need_ids))
    )
    return dict(db.session.execute(stmt).all())


BOARD_LIMIT = 100


def board(provider: Organisation) -> list[BoardRow]:
    """The open needs in the provider's categories (soonest deadline first, at most
    ``BOARD_LIMIT``), and the needs it quoted on that are decided: a fixed number of queries."""
    _admitted(provider)
    categories = categories_of(provider)
    if not categories:
        return []
    mine = exists().where(Quote.need_id == Need.id, Quote.provider_id == provider.id)
    stmt = (
        _board_stmt()
        .where(Need.category_code.in_(categories), (Need.status == NeedStatus.OPEN) | mine)
        .order_by((Need.status == NeedStatus.OPEN).desc(), Need.deadline, Need.id)
        .limit(BOARD_LIMIT)
    )
    return _rows(provider, list(db.session.execute(stmt).all()))


def board_need(provider: Organisation, need_id: int) -> BoardRow:
    """One need of the board (404 when it is not in the provider's categories, unless the
    provider quoted on it)."""
    _admitted(provider)
    categories = categories_of(provider)
    mine = exists().where(Quote.need_id == Need.id, Quote.provider_id == provider.id)
    stmt = _board_stmt().where(Need.id == need_id)
    found = db.session.execute(stmt.where(Need.category_code.in_(categories) | mine)).all()
    if not found:
        raise NotFound(_l("Not found."))
    return _rows(provider, list(found))[0]


def quotable_plans(provider: Organisation) -> list[tuple[PackageVersion, PricePlan]]:
    """The plans of the provider's packages in the catalogue, for the quote form."""
    stmt = (
        catalog.visible_versions()
        .where(Package.provider_id == provider.id)
        .options(selectinload(PackageVersion.plans))
        .order_by(PackageVersion.title, PackageVersion.id)
    )
    return [(v, p) for v in db.session.scalars(stmt) for p in v.plans]


@dataclass(frozen=True)
class QuoteFields:
    plan_ids: list[int]
    price_fen: int | None
    delivery_days: int | None
    message: str = ""


@atomic
def send_quote(provider: Organisation, need_id: int, fields: QuoteFields, actor: Actor) -> Quote:
    """Answer an open need. Refused, with nothing stored: a provider not admitted, a need not
    open (or past its deadline, or not in its categories), a plan not of one of its own packages
    in the catalogue, a price of nothing or above the plans' list price, a second live quote."""
    row = board_need(provider, need_id)
    need = row.need
    if need.status is not NeedStatus.OPEN or need.deadline < local_today():
        raise DomainError(_l("This need is not open for quotes any more."))
    if need.category_code not in categories_of(provider):
        raise NotFound(_l("Not found."))
    if row.own_quote is not None and row.own_quote.status in LIVE:
        raise DomainError(
            _l("You have already quoted on this need; withdraw that quote to send another.")
        )
    plan_ids = list(dict.fromkeys(fields.plan_ids))
    if not plan_ids:
        raise DomainError(_l("Choose at least one of your packages."), field="plan_ids")
    if len(plan_ids) > MAX_ITEMS:
        raise DomainError(_l("A quote holds at most %(n)d packages.", n=MAX_ITEMS), "plan_ids")
    offered = {plan.id: (version, plan) for version, plan in quotable_plans(provider)}
    if any(plan_id not in offered for plan_id in plan_ids):
        raise DomainError(
            _l("Quote only with plans of your own packages in the catalogue."), field="plan_ids"
        )
    chosen = [offered[plan_id] for plan_id in plan_ids]
    if len({version.package_id for version, _plan in chosen}) != len(chosen):
        raise DomainError(_l("Choose one plan of each package."), field="plan_ids")
    list_price = sum(plan.commitment_fen for _version, plan in chosen)
    price = fields.price_fen
    if price is None or price <= 0:
        raise DomainError(_l("Enter a price of more than ¥0 in yuan."), field="price")
    if price > list_price:
        raise DomainError(
            _l(
                "The quoted price cannot be above the list price of the plans chosen (%(list)s).",
                list=format_fen(list_price),
            ),
            field="price",
        )
    days = fields.delivery_days
    if days is None or not 1 <= days <= MAX_DAYS:
        raise DomainError(
            _l("Enter the days to deliver, from 1 to %(n)d.", n=MAX_DAYS), field="delivery_days"
        )
    message = (fields.message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise DomainError(
            _l("Keep the message under %(n)d characters.", n=MAX_MESSAGE), field="message"
        )
    quote = Quote(
        need_id=need.id,
        provider_id=provider.id,
        status=QuoteStatus.LIVE,
        price_fen=price,
        list_price_fen=list_price,
        delivery_days=days,
        message=message,
        created_by_id=actor.user_id,
        items=[
            QuoteItem(package_id=v.package_id, version_id=v.id, plan_id=p.id) for v, p in chosen
        ],
    )
    try:
        with db.session.begin_nested():
            db.session.add(quote)
            db.session.flush()
    except IntegrityError as exc:  # two quotes sent at once: the index keeps one
        raise DomainError(
            _l("You have already quoted on this need; withdraw that quote to send another.")
        ) from exc
    audit.record(actor, "quote.sent", "quote", quote.id, need_id=need.id, price_fen=price)
    notifications.notify(
        need.enterprise_id,
        "quote_received",
        f"/needs/{need.id}",
        need=need.id,
        provider=provider.name,
        price=format_fen(price),
    )
    return quote


def withdraw(provider: Organisation, quote_id: int, actor: Actor) -> Quote:
    """The provider takes back its live quote while the need is open."""
    quote = get_owned(Quote, quote_id, provider_id=provider.id)
    if quote.status is not QuoteStatus.LIVE or quote.need.status is not NeedStatus.OPEN:
        raise DomainError(_l("Only a quote waiting on an open need can be withdrawn."))
    move_status(
        quote,
        QuoteStatus.LIVE,
        changed=CHANGED,
        status=QuoteStatus.WITHDRAWN,
        decided_at=utcnow(),
    )
    audit.record(actor, "quote.withdrawn", "quote", quote.id, need_id=quote.need_id)
    return quote


# --- to-dos ---------------------------------------------------------------------------------


def quotes_waiting(enterprise: Organisation) -> list[tuple[Need, int]]:
    """Open needs of the enterprise with live quotes, and how many (one query)."""
    stmt = (
        select(Need, func.count(Quote.id))
        .join(Quote, Quote.need_id == Need.id)
        .where(
            Need.enterprise_id == enterprise.id,
            Need.status == NeedStatus.OPEN,
            Quote.status == QuoteStatus.LIVE,
        )
        .group_by(Need.id)
    )
    return [(need, n) for need, n in db.session.execute(stmt).all()]


def unanswered(provider: Organisation) -> list[Need]:
    """Open needs in the provider's categories it has not quoted on (two queries); none for a
    provider not admitted to any pool."""
    if provider.kind is not OrgKind.PROVIDER or not pool.is_admitted(provider.id):
        return []
    categories = categories_of(provider)
    if not categories:
        return []
    mine = exists().where(
        Quote.need_id == Need.id, Quote.provider_id == provider.id, Quote.status.in_(LIVE)
    )
    stmt = (
        select(Need)
        .where(
            Need.status == NeedStatus.OPEN,
            Need.category_code.in_(categories),
            Need.deadline >= local_today(),
            ~mine,
        )
        .order_by(Need.deadline)
        .limit(BOARD_LIMIT)
    )
    return list(db.session.scalars(stmt))


def compare_rows(quotes: list[Quote]) -> dict[str, Any]:
    """What the comparison shows beside the quotes: each package's record (the catalogue's
    track-record hook, in a fixed number of statements) and the providers' pools."""
    package_ids = sorted({item.package_id for q in quotes for item in q.items})
    provider_ids = sorted({q.provider_id for q in quotes})
    return {
        "records": track_records.of_packages(package_ids),
        "pools": pool.admitted_pools(provider_ids),
    }
