"""Catalogue search: words through the full-text index (``search_index``; Chinese by
character pairs, the thesaurus's meanings too), filters and sorting, all in SQL with a fixed
number of queries per page. The web catalogue, the API and the recommendations all ask here.

With words, the default order is relevance: the best field holding the whole query (title,
then category name, then summary, then the rest), then the evidence the platform holds
(contracts whose target verified measurements showed met, then verified buyers' ratings),
then the lower price."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ColumnElement,
    Exists,
    Select,
    bindparam,
    case,
    exists,
    false,
    func,
    select,
    text,
)
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import Organisation, ProviderType, SizeTier
from marketplace.catalog import freshness, search_index, thesaurus
from marketplace.catalog.models import (
    MAX_GO_LIVE_DAYS,
    MAX_PRICE_FEN,
    Category,
    Deployment,
    Package,
    PackageVersion,
    PlanKind,
    PricePlan,
    VersionSizeTier,
    version_industries,
)
from marketplace.catalog.services import visible_versions
from marketplace.db import db
from marketplace.pool.models import PoolMembership, PoolStatus

log = logging.getLogger(__name__)

MAX_TEXT = 60  # characters of a query kept; a longer one is cut, never refused
# Matches are counted up to here ("1,000+"): counting every one of 100,000 matches for a
# broad word cost more than finding the page, and nobody pages past the thirtieth page.
MAX_COUNTED = 1000


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    PRICE_LOW = "price_low"
    PRICE_HIGH = "price_high"
    GO_LIVE = "go_live"
    RATING = "rating"

    @property
    def label(self) -> str:
        return str(SORT_LABELS[self])


SORT_LABELS = {
    Sort.RELEVANCE: _l("Best match"),
    Sort.NEWEST: _l("Newest"),
    Sort.PRICE_LOW: _l("Price, low to high"),
    Sort.PRICE_HIGH: _l("Price, high to low"),
    Sort.GO_LIVE: _l("Fastest go-live"),
    Sort.RATING: _l("Best rated"),
}


@dataclass(frozen=True)
class Query:
    """What a search asks for; every field is already checked (see ``parse``)."""

    text: str = ""
    category: str = ""
    industry: str = ""
    size_tier: str = ""
    pricing: str = ""
    deployment: str = ""
    provider_type: str = ""
    pool: int | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    max_go_live_days: int | None = None
    min_rating: int | None = None
    # only packages whose provider offers a trial (可试用)
    trial: bool = False
    sort: Sort = Sort.RELEVANCE
    page: int = 1
    notes: list[str] = field(default_factory=list)
    # packages ticked for comparison, carried through filtering and paging
    ticked: tuple[int, ...] = ()
    # the link asked for a lowest price above the highest: the two were swapped, and the
    # page says so
    price_swapped: bool = False

    @property
    def ranked(self) -> bool:
        """Ordered by relevance: there are words and no other order was chosen."""
        return self.sort is Sort.RELEVANCE and bool(self.text)

    def url_args(self, **changes: object) -> dict[str, object]:
        """The query as URL arguments (for links that keep the filters)."""
        q = replace(self, **changes)  # type: ignore[arg-type]
        args: dict[str, object] = {
            "q": q.text,
            "category": q.category,
            "industry": q.industry,
            "size_tier": q.size_tier,
            "pricing": q.pricing,
            "deployment": q.deployment,
            "provider_type": q.provider_type,
            "pool": q.pool,
            "min_price": _yuan(q.min_price_fen),
            "max_price": _yuan(q.max_price_fen),
            "max_go_live_days": q.max_go_live_days,
            "min_rating": q.min_rating,
            "trial": "1" if q.trial else None,
            "sort": q.sort.value if q.sort is not Sort.RELEVANCE else None,
            "page": q.page if q.page > 1 else None,
            "ids": list(q.ticked) or None,
        }
        return {k: v for k, v in args.items() if v not in (None, "")}


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else str(fen // 100)


def _int(value: str | None, low: int, high: int) -> int | None:
    if value is None or not re.fullmatch(r"[0-9]{1,12}", value.strip()):
        return None  # not '²' or '٣' either: str.isdigit() would let them through
    return min(max(int(value.strip()), low), high)


TRUE = {"1", "true", "on", "yes"}  # what a ticked box or a hand-written link says
MAX_TICKED = 10  # more than compare takes (4), so that the page can say so and keep them


def ticked_ids(values: list[str]) -> tuple[int, ...]:
    """The package ids ticked for comparison (``ids``), once each, in order; others dropped."""
    ids = (int(v) for v in values if re.fullmatch(r"[0-9]{1,9}", v) and int(v) > 0)
    return tuple(dict.fromkeys(ids))[:MAX_TICKED]


def parse(
    args: dict[str, str],
    categories: set[str],
    industries: set[str],
    pools: set[int],
    ticked: list[str] | None = None,
) -> Query:
    """Read the URL's arguments (``ticked``: the ``ids`` ticked for comparison, a list).
    Unknown values are dropped with a note, never an error page, so that a shared link keeps
    working after reference data changed."""
    notes: list[str] = []

    def pick(name: str, allowed: set[str]) -> str:
        value = (args.get(name) or "").strip()
        if value and value not in allowed:
            notes.append(name)
            return ""
        return value

    pool_value = _int(args.get("pool"), 1, 2**31 - 1)
    if pool_value is not None and pool_value not in pools:
        notes.append("pool")
        pool_value = None
    min_price = _int(args.get("min_price"), 0, MAX_PRICE_FEN // 100)
    max_price = _int(args.get("max_price"), 0, MAX_PRICE_FEN // 100)
    swapped = min_price is not None and max_price is not None and min_price > max_price
    if swapped:
        min_price, max_price = max_price, min_price
    trial = (args.get("trial") or "").strip().lower()
    if trial and trial not in TRUE:
        notes.append("trial")
    sort_value = args.get("sort") or ""
    sort = Sort(sort_value) if sort_value in Sort._value2member_map_ else Sort.RELEVANCE
    text = " ".join((args.get("q") or "").split())[:MAX_TEXT]
    return Query(
        text=text,
        category=pick("category", categories),
        industry=pick("industry", industries),
        size_tier=pick("size_tier", {t.value for t in SizeTier}),
        pricing=pick("pricing", {k.value for k in PlanKind}),
        deployment=pick("deployment", {d.value for d in Deployment}),
        provider_type=pick("provider_type", {t.value for t in ProviderType}),
        pool=pool_value,
        min_price_fen=None if min_price is None else min_price * 100,
        max_price_fen=None if max_price is None else max_price * 100,
        max_go_live_days=_int(args.get("max_go_live_days"), 1, MAX_GO_LIVE_DAYS),
        min_rating=_int(args.get("min_rating"), 1, 5),
        trial=trial in TRUE,
        sort=sort,
        page=_int(args.get("page"), 1, 10_000) or 1,
        notes=notes,
        ticked=ticked_ids(ticked or []),
        price_swapped=swapped,
    )


def text_match(q: Query) -> search_index.Match | None:
    """The query's words compiled for the index, with the thesaurus's meanings (kept per
    process while the thesaurus is unchanged: a page asks for them to search and again to
    mark the words in its results)."""
    if not q.text:
        return None
    return freshness.cached(
        "words",
        (q.text,),
        lambda: search_index.compile_query(q.text, thesaurus.expansions()),
        (freshness.THESAURUS,),
    )


def _common_titles() -> frozenset[str]:
    """The index's title words that many titles hold (``search_index.common_titles``), kept
    per process until the job that counts them has counted again."""
    return freshness.cached(
        "common-titles", (), search_index.common_titles, (freshness.COMMON_TITLES,)
    )


def count_common_titles() -> int:
    """Count again which title words many titles hold (PostgreSQL; the hourly job and
    ``flask search rebuild``), and have the workers read the list anew when it changed.
    Returns how many there are."""
    before = search_index.common_titles()
    common = search_index.refresh_common()
    if search_index.common_titles() != before:
        freshness.changed(freshness.COMMON_TITLES)
    return common


def highlights(q: Query) -> list[str]:
    """The words to mark in the results' titles and summaries."""
    match = text_match(q)
    return match.words if match else []


def _filtered(q: Query, match: search_index.Match | None) -> Select[Any]:
    stmt = visible_versions()
    if q.text:
        # only punctuation, say: nothing is searched for, so nothing is found
        stmt = search_index.joined(stmt, _with_facets(match, q)) if match else stmt.where(false())
    if q.category:
        stmt = stmt.where(PackageVersion.category_code == q.category)
    if q.industry:
        stmt = stmt.where(
            exists().where(
                version_industries.c.version_id == PackageVersion.id,
                version_industries.c.industry_code == q.industry,
            )
        )
    if q.size_tier:
        stmt = stmt.where(
            exists().where(
                VersionSizeTier.version_id == PackageVersion.id, VersionSizeTier.tier == q.size_tier
            )
        )
    if q.pricing:
        stmt = stmt.where(
            exists().where(PricePlan.version_id == PackageVersion.id, PricePlan.kind == q.pricing)
        )
    if q.deployment:
        stmt = stmt.where(PackageVersion.deployment == q.deployment)
    if q.provider_type:
        stmt = stmt.where(_provider_where(Organisation.provider_type == q.provider_type))
    if q.pool is not None:
        stmt = stmt.where(
            exists().where(
                PoolMembership.provider_id == Package.provider_id,
                PoolMembership.agency_id == q.pool,
                PoolMembership.status == PoolStatus.ADMITTED,
            )
        )
    if q.min_price_fen is not None:
        stmt = stmt.where(PackageVersion.entry_price_fen >= q.min_price_fen)
    if q.max_price_fen is not None:
        stmt = stmt.where(PackageVersion.entry_price_fen <= q.max_price_fen)
    if q.max_go_live_days is not None:
        stmt = stmt.where(PackageVersion.go_live_days <= q.max_go_live_days)
    if q.trial:
        stmt = stmt.where(PackageVersion.trial_days.is_not(None))
    if q.min_rating is not None:
        stmt = stmt.where(
            Package.rating_count > 0, Package.rating_sum >= q.min_rating * Package.rating_count
        )
    return stmt


def _with_facets(match: search_index.Match, q: Query) -> search_index.Match:
    """The words and the filters the index holds as facets, asked of the index together (the
    filters are applied again to the catalogue's rows; the index only narrows first)."""
    chosen = {
        "category": q.category,
        "industry": q.industry,
        "size_tier": q.size_tier,
        "pricing": q.pricing,
        "deployment": q.deployment,
        "provider_type": q.provider_type,
        "pool": q.pool,
    }
    facets = tuple(search_index.facet(name, v) for name, v in chosen.items() if v)
    return replace(match, facets=facets)


def _provider_where(condition: ColumnElement[bool]) -> Exists:
    """A condition on the package's provider, as EXISTS rather than a join: joined, the
    organisations table made PostgreSQL drive a filtered search from all 10,000 packages
    (53 ms) instead of the category's index (9 ms)."""
    return exists().where(Organisation.id == Package.provider_id, condition)


def matching(q: Query) -> Select[Any]:
    """The visible versions the query's words and filters select, unordered (the API pages
    through them by package id)."""
    return _filtered(q, text_match(q))


def _ordered(stmt: Select[Any], q: Query, match: search_index.Match | None) -> Select[Any]:
    newest = (PackageVersion.published_at.desc(), PackageVersion.id.desc())
    if q.sort is Sort.PRICE_LOW:
        return stmt.order_by(PackageVersion.entry_price_fen, *newest)
    if q.sort is Sort.PRICE_HIGH:
        return stmt.order_by(PackageVersion.entry_price_fen.desc(), *newest)
    if q.sort is Sort.GO_LIVE:
        return stmt.order_by(PackageVersion.go_live_days, *newest)
    # hundredths of a star; unrated packages last
    rating = case(
        (Package.rating_count > 0, Package.rating_sum * 100 / Package.rating_count), else_=-1
    )
    if q.sort is Sort.RATING:
        return stmt.order_by(rating.desc(), Package.rating_count.desc(), *newest)
    if q.ranked and match is not None:
        return stmt.order_by(*search_index.ranked(match))
    return stmt.order_by(*newest)


def suggestions(q: Query, categories: list[Category], limit: int = 3) -> list[Category]:
    """For a search that found nothing: the categories nearest its words, by the character
    pairs they share, then the longer shared beginning (能源计量 → 能源管理 before 企业资源
    计划, which shares 源计 by chance), then the characters they share."""
    match = text_match(q)
    if match is None:
        return []
    words = [v.text for term in match.terms for v in term]
    wanted = {t for word in words for t in search_index.tokens(word)}
    scored = []
    for category in categories:
        names = [search_index.normalise(category.name_zh), search_index.normalise(category.name_en)]
        tokens = {t for name in names for t in search_index.tokens(name)}
        prefix = max(_shared_start(w, n) for w in words for n in names)
        chars = {c for t in wanted for c in t} & {c for t in tokens for c in t}
        score = (len(wanted & tokens), prefix, len(chars))
        if score > (0, 0, 0):
            scored.append((score, category.position, category))
    scored.sort(key=lambda item: (tuple(-n for n in item[0]), item[1]))
    return [category for _score, _position, category in scored[:limit]]


def _shared_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Page(NamedTuple):
    """A page of matching version ids in order, how many match (see ``page_ids``), and the
    cards of the page that the search read with it (by version; perhaps none)."""

    ids: list[int]
    total: int
    cards: dict[int, Card]


def page_ids(q: Query, per_page: int = 24, offset: int | None = None) -> Page:
    """One page of matching version ids, in order (from ``offset``, else from the query's
    page), and how many match: counted up to ``MAX_COUNTED + 1`` (or just past the page).

    Matches are counted and paged on their ids alone; only the page's versions are read
    (``cards``): sorting every match's full row, descriptions included, cost more than the
    search itself at 10,000 packages. A word of few matches on PostgreSQL reads the page's
    cards in the same statement (a round trip fewer)."""
    match = text_match(q)
    if offset is None:
        offset = (q.page - 1) * per_page
    at_most = max(MAX_COUNTED, offset + per_page) + 1
    if (
        match is not None
        and q.ranked
        and q == Query(text=q.text, page=q.page, notes=q.notes, ticked=q.ticked)
    ):
        # words alone: the index holds exactly the visible versions and their rank keys,
        # so it answers without touching the catalogue's tables
        found = search_index.page_and_count(match, per_page, offset, at_most, _common_titles())
        return Page(found.ids, found.total, {i: _card(row) for i, row in found.cards.items()})
    ids_only = _filtered(q, match).with_only_columns(PackageVersion.id)
    counted = ids_only.limit(at_most).subquery()
    total = db.session.scalar(select(func.count()).select_from(counted)) or 0
    page = _ordered(ids_only, q, match).limit(per_page).offset(offset)
    return Page(list(db.session.scalars(page)), total, {})


@dataclass(frozen=True, slots=True)
class Card:
    """What a catalogue card shows of a version, as the search index keeps it beside the
    version's document (``search_index_cards``): a page's cards are one statement over one
    narrow table, without loading versions, plans, packages and providers as objects."""

    version_id: int
    package_id: int
    title: str
    summary: str
    category_zh: str
    category_en: str
    entry_price_fen: int
    go_live_days: int
    results_met: int
    rating_sum: int
    rating_count: int
    provider_id: int
    provider_name: str
    trial_days: int | None  # the trial offer (none: no trial); a free one at 0 fen
    trial_price_fen: int
    deployment: Deployment
    provider_type: ProviderType | None
    plan_kinds: tuple[PlanKind, ...]
    # the agencies whose pools admit the provider, in id order
    pool_ids: tuple[int, ...]

    def category_name(self, locale: str) -> str:
        return self.category_en if locale == "en" and self.category_en else self.category_zh

    @property
    def rating(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 1) if self.rating_count else None


def cards(ids: list[int], read: dict[int, Card] | None = None) -> list[Card]:
    """The cards of these versions, in this order (versions the catalogue does not show have
    none); those in ``read`` (a ``Page``'s) are not read again."""
    made = {i: read[i] for i in ids if i in read} if read else {}
    wanted = [i for i in ids if i not in made]
    if wanted:
        for row in db.session.execute(_CARDS, {"ids": wanted}):
            made[row[0]] = _card(row)
    if len(made) < len(set(ids)):
        # the index holds a card for every version it finds: one missing is an index out of
        # step with the catalogue (a bulk load without ``flask search rebuild``, say)
        log.warning("search index: no card for versions %s", sorted(set(ids) - set(made)))
    return [made[i] for i in ids if i in made]


def _card(row: Any) -> Card:
    """A card from its columns (``search_index.CARD_SELECT``)."""
    *columns, deployment, provider_type, plan_kinds, pool_ids = row
    card: Any = Card  # built from the row's columns, in the order of its fields
    return card(
        *columns,
        _DEPLOYMENTS[deployment],
        _PROVIDER_TYPES.get(provider_type),
        tuple(_PLAN_KINDS[k] for k in plan_kinds.split(",") if k),
        tuple(int(a) for a in pool_ids.split(",") if a),
    )


# a card's enums by their stored values (a lookup per card, not an Enum call)
_DEPLOYMENTS = {d.value: d for d in Deployment}
_PROVIDER_TYPES = {t.value: t for t in ProviderType}
_PLAN_KINDS = {k.value: k for k in PlanKind}

_CARDS = text(
    f"SELECT {search_index.CARD_SELECT} FROM {search_index.CARD_FROM} WHERE c.version_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def for_bundle(text: str, category: str | None, limit: int = 50) -> list[PackageVersion]:
    """Published packages for the curated-bundle composer: the catalogue's search, by
    relevance when there are words, else by title."""
    q = Query(text=" ".join(text.split())[:MAX_TEXT], category=category or "")
    match = text_match(q)
    stmt = _filtered(q, match)
    stmt = _ordered(stmt, q, match) if q.text else stmt.order_by(PackageVersion.title)
    stmt = stmt.options(selectinload(PackageVersion.package).joinedload(Package.provider))
    return list(db.session.scalars(stmt.limit(limit)))


def compare(package_ids: list[int]) -> list[PackageVersion]:
    """The visible versions of these packages, in the order asked for."""
    stmt = (
        visible_versions()
        .where(Package.id.in_(package_ids))
        .options(
            selectinload(PackageVersion.plans),
            selectinload(PackageVersion.interfaces),
            selectinload(PackageVersion.package).joinedload(Package.provider),
        )
    )
    found = {v.package_id: v for v in db.session.scalars(stmt)}
    return [found[i] for i in package_ids if i in found]
