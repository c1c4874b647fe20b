"""The catalogue's full-text index, on both databases, kept in step with the catalogue in
the same transaction.

Chinese has no spaces between words and most of its words are two characters long, which
no word tokenizer and no trigram index finds. Text is therefore indexed as tokens made here:

- a run of Chinese characters becomes its overlapping character pairs plus its last
  character (设备联网 → 设备 备联 联网 网): a query word of two characters or more is the
  phrase of its pairs (联网 → "联网"; 设备联 → "设备 备联"), found wherever it stands; one
  character is the prefix of a token (质 → 质*);
- a run of letters and digits is one word, lowercase (MES, PLC, OPC UA → mes, plc, opc ua),
  which a query word matches as its prefix (modb → modbus);
- everything else (spaces, punctuation, full-width forms after NFKC) only separates;
- the title and the category's name also carry the pinyin initials of their Chinese runs, from
  each character on (设备联网 → sblw, blw, lw: ``INITIALS`` + letters, so no typed word is
  confused with them), which a query of three letters or more matches as a prefix: a buyer
  typing sbjk finds 设备健康管理.

Each published version has one document of four weighted fields: title (A), category name
(B), summary (C) and the rest (D: description, provider name, industries, interfaces and
the provider's tags), in both languages where the reference data has two.

SQLite keeps the documents in an FTS5 table (``search_index``, one column per field) and
PostgreSQL in a table of ``tsvector``s with a GIN index, the same tokens and positions written
as a tsvector literal (so neither database's own parser, which knows no Chinese, is
involved); PostgreSQL keeps each document's head (title, category and summary, each lexeme
marked with its field: 'A设备') and rank key in a narrow table beside it
(``search_index_heads``), from which a common word's best tiers are found. A one-character query is a prefix on both: FTS5 answers it from its ``prefix='1'``
index; PostgreSQL, whose GIN prefix search unions every lexeme the character begins, keeps
each token's first character as a lexeme of its own ('^质'; per field in the tiers' small
vectors: '^A质' for the title) and looks that up.

Beside each document the index keeps the version's catalogue card (``search_index_cards``:
title, summary, price, evidence, provider, plan kinds, the pools that admit the provider), so
a page of results reads its cards from one narrow table by id.

Relevance is the best field holding the whole query, then the document's rank key (evidence,
then price). A page is found tier by tier, each in rank-key order with a limit, so a word
found in 60,000 documents costs a page, not a sort of 60,000 rows: on SQLite a document's
rowid *is* its place in rank-key order (``order_key``; ``search_index_rows`` maps versions to
rowids) and FTS5 stops after the page; on PostgreSQL an index on the rank key lets the
planner walk it in order when a word is common. A query is compiled to each database's syntax from the same
tokens; users' text never reaches either as syntax (every token is quoted and made of
letters, digits and Chinese characters only), so ``"``, ``*``, ``NEAR``, ``OR`` or ``-`` are
just words or separators.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    cast,
    column,
    event,
    false,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session, aliased

from marketplace.accounts.models import Industry, Organisation
from marketplace.catalog.models import (
    Category,
    DataObject,
    Package,
    PackageVersion,
    PricePlan,
    Protocol,
    VersionInterface,
    VersionSizeTier,
    VersionStatus,
    version_industries,
)
from marketplace.db import attributes_changed, db
from marketplace.pool import services as pool
from marketplace.pool.models import PoolMembership, PoolStatus, PoolStatusChange

TABLE = "search_index"
ROWS = "search_index_rows"  # SQLite: which rowid holds which version's document
# PostgreSQL: each document's head and rank key, in a narrow table of their own
HEADS = "search_index_heads"
# both: each visible version's catalogue card, read for a page of results by id
CARDS = "search_index_cards"
# PostgreSQL: the heads' title lexemes that more than ``FEW`` titles hold (``refresh_common``)
COMMON = "search_index_common"
CARD_COLUMNS = (
    "version_id",
    "package_id",
    "title",
    "summary",
    "category_code",
    "entry_price_fen",
    "go_live_days",
    "deployment",
    "results_met",
    "rating_sum",
    "rating_count",
    "provider_id",
    "provider_name",
    "provider_type",
    "trial_days",
    "trial_price_fen",
    "plan_kinds",
    "pool_ids",
)
# What a page's cards are read as (catalog.search.Card's fields, in order), from the cards
# (c) and their categories (k)
CARD_SELECT = (
    "c.version_id, c.package_id, c.title, c.summary, k.name_zh, k.name_en, c.entry_price_fen,"
    " c.go_live_days, c.results_met, c.rating_sum, c.rating_count, c.provider_id,"
    " c.provider_name, c.trial_days, c.trial_price_fen, c.deployment, c.provider_type,"
    " c.plan_kinds, c.pool_ids"
)
CARD_FROM = f"{CARDS} c JOIN categories k ON k.code = c.category_code"
_INSERT_CARD = text(
    f"INSERT INTO {CARDS} ({', '.join(CARD_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in CARD_COLUMNS)})"
)
FIELDS = ("title", "category", "summary", "body", "facets")
HEAD = ("title", "category", "summary")
WEIGHT = {"title": "A", "category": "B", "summary": "C", "body": "D", "facets": "D"}
# How well a match ranks by the best field holding the whole query (title and category
# above the summary, the summary above the rest).
TIER = {"title": 4, "category": 3, "summary": 2}
MAX_TERMS = 6
INITIALS = "0p"  # marks a pinyin-initials token
# PostgreSQL: marks the lexeme of a token's first character ('^间'); no token has a '^'
FIRST = "^"
MIN_INITIALS = 3  # letters a query word needs to be read as pinyin initials too
# PostgreSQL sorts up to this many matches of a word rather than walk the rank order
FEW = 1000
MAX_VARIANTS = 6

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_RUN = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
_INITIALS_QUERY = re.compile(rf"[a-z]{{{MIN_INITIALS},}}")
# PostgreSQL keeps positions up to 16,383; fields start apart so no phrase spans two.
_FIELD_START = {"title": 1, "category": 1001, "summary": 2001, "body": 4001, "facets": 16001}
_MAX_POSITION = 16_383


def normalise(value: str) -> str:
    """Full-width and compatibility forms folded (ＭＥＳ → mes, ２０ → 20), lowercase."""
    return unicodedata.normalize("NFKC", value).lower()


def runs(value: str) -> list[str]:
    """The runs of Chinese characters and of letters and digits, normalised."""
    return _RUN.findall(normalise(value))


def tokens(value: str) -> list[str]:
    """The tokens a document's text is indexed as."""
    out: list[str] = []
    for run in runs(value):
        if _HAN_RUN.fullmatch(run):
            out += [run[i : i + 2] for i in range(len(run) - 1)]
            out.append(run[-1])
        else:
            out.append(run)
    return out


def initials(value: str) -> list[str]:
    """The pinyin-initials tokens of ``value``'s Chinese runs: each run's initials from each
    character on, at least two letters (a title or category name only)."""
    from pypinyin import Style, lazy_pinyin  # its dictionaries load only where documents are made

    out: list[str] = []
    for run in _HAN_RUN.findall(normalise(value)):
        letters = "".join(
            first for first in lazy_pinyin(run, style=Style.FIRST_LETTER) if first.isascii()
        ).lower()
        out += [INITIALS + letters[i:] for i in range(len(letters) - 1)]
    return out


FACETS = {
    "category": "c",
    "industry": "i",
    "size_tier": "s",
    "pricing": "k",
    "deployment": "d",
    "provider_type": "t",
    "pool": "p",
}


def facet(name: str, value: object) -> str:
    """The token that says a document has this value of one of the catalogue's filters
    (category mes → 0cmes): a filtered search asks the index for it with its words, so the
    index finds only the documents both select (a common word with a category filter joined
    every one of 100,000 matches to the catalogue's tables to keep 7,000)."""
    return "0" + FACETS[name] + re.sub(r"[^0-9a-z]", "", str(value).lower())


def field_tokens(field: str, value: str) -> list[str]:
    """The tokens a document's field is indexed as: its words, and in the title and the
    category's name the pinyin initials too."""
    found = tokens(value)
    if field in ("title", "category"):
        found += initials(value)
    return found


# Queries


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of reading a query word: the indexed tokens it must find in a row, and
    whether the last one is a prefix."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool


@dataclass(frozen=True, slots=True)
class Match:
    """A query compiled for the index: every term must match, each by one of its variants."""

    terms: tuple[tuple[Variant, ...], ...]
    # the catalogue's filters as facet tokens every matching document must hold too
    facets: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        """What to highlight: every variant's text, longest first."""
        found = {v.text for term in self.terms for v in term}
        return sorted(found, key=lambda w: (-len(w), w))


def _variant(word: str) -> Variant:
    if _HAN_RUN.fullmatch(word):
        if len(word) == 1:
            return Variant(word, (word,), prefix=True)
        return Variant(word, tuple(word[i : i + 2] for i in range(len(word) - 1)), prefix=False)
    return Variant(word, (word,), prefix=True)


def _expansions(word: str, thesaurus: dict[str, list[str]]) -> list[str]:
    """The word and what the thesaurus reads it as: a Chinese entry anywhere in a Chinese
    word (预测维护系统 → 预测性维护系统), a Latin entry as the whole word."""
    found = [word]
    for term, meanings in thesaurus.items():
        if term == word or (_HAN_RUN.fullmatch(term) and term in word):
            for means in meanings:
                found.append(word.replace(term, means))
    return list(dict.fromkeys(found))[:MAX_VARIANTS]


def compile_query(value: str, thesaurus: dict[str, list[str]] | None = None) -> Match | None:
    """The query's terms (its runs, so spaces and punctuation are ignored), each with its
    thesaurus variants; None when nothing searchable is left (only punctuation, say)."""
    words = list(dict.fromkeys(runs(value)))[:MAX_TERMS]
    if not words:
        return None
    terms = []
    for word in words:
        variants: list[Variant] = []
        for expansion in _expansions(word, thesaurus or {}):
            # a meaning with spaces or punctuation ("数据 采集") is read as its runs in a row
            parts = runs(expansion)
            if len(parts) == 1:
                variants.append(_variant(parts[0]))
                if _INITIALS_QUERY.fullmatch(parts[0]):
                    variants.append(Variant(parts[0], (INITIALS + parts[0],), prefix=True))
            elif parts:
                # the phrase the index holds for that text: a Chinese run's pairs and, where
                # another run follows, its last character; a Latin word (化工 ERP: 化工 工
                # erp); the last run as a word of its own (a prefix if it would be one)
                *first, last = parts
                tail = _variant(last)
                joined = tuple(t for p in first for t in tokens(p)) + tail.tokens
                variants.append(Variant(expansion, joined, prefix=tail.prefix))
                if all(_HAN_RUN.fullmatch(p) for p in parts):
                    # spaces are ignored: 数据 采集 also finds 数据采集
                    variants.append(_variant("".join(parts)))
        terms.append(tuple(dict.fromkeys(variants)))
    return Match(terms=tuple(terms))


def _fts5(match: Match, field: str | None = None) -> str:
    def phrase(v: Variant) -> str:
        return '"' + " ".join(v.tokens) + '"' + (" *" if v.prefix else "")

    expression = " AND ".join(
        "(" + " OR ".join(phrase(v) for v in term) + ")" for term in match.terms
    )
    if field:
        return f"{{{field}}} : ({expression})"
    if match.facets:
        wanted = " AND ".join(f'"{f}"' for f in match.facets)
        expression = f"({expression}) AND {{facets}} : ({wanted})"
    return expression


def _tsquery(match: Match, field: str | None = None, *, head: bool = False) -> str:
    """The query as a tsquery literal: over the whole document; over one field of it, by its
    weights ('设备':A); or over one field of the head, whose lexemes carry their field's
    letter ('A设备')."""
    mark = WEIGHT[field] if field and head else ""
    weight = WEIGHT[field] if field and not head else ""

    def phrase(v: Variant) -> str:
        if v.prefix and len(v.tokens) == 1 and len(v.tokens[0]) == 1:
            # one character: its own lexeme (``FIRST``; in a head's field, '^A间'), not the
            # union of every lexeme it begins ('间':* read 1,500 of them from the GIN index:
            # 65 ms); a document's fields are told apart by a row's own check ('间':*A)
            if weight:
                return f"'{v.tokens[0]}':*{weight}"
            return f"'{FIRST}{mark}{v.tokens[0]}'"
        last = len(v.tokens) - 1
        return " <-> ".join(
            f"'{mark}{t}'" + f":{'*' if v.prefix and i == last else ''}{weight}".rstrip(":")
            for i, t in enumerate(v.tokens)
        )

    query = " & ".join("(" + " | ".join(phrase(v) for v in term) + ")" for term in match.terms)
    if match.facets and not field:
        query += "".join(f" & '{f}'" for f in match.facets)
    return query


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# The index as a table. SQLite's FTS5 rows carry the version as an unindexed column and are
# keyed by their place in rank order (rowid); PostgreSQL's rows are keyed by version_id, the
# whole documents in one table and their heads and rank keys in a narrow one: a document
# fills most of a page, so a tier's check or a walk in rank order read a page per row.
_sqlite_index = table(TABLE, column("rowid"), column("version_id"))
_pg_index = table(TABLE, column("version_id"), column("document"), column("rank_key"))
_pg_heads = table(HEADS, column("version_id"), column("head"), column("rank_key"))


def _postgresql() -> bool:
    return _dialect() == "postgresql"


def _in_rank_order(rows: Any = None) -> tuple[ColumnElement[Any], ...]:
    """Evidence, then price, then the newer version: the rowid on SQLite (``order_key``); on
    PostgreSQL the rank key of the documents (or of ``rows``, the heads)."""
    if _postgresql():
        rows = _pg_index if rows is None else rows
        return (rows.c.rank_key, rows.c.version_id.desc())
    return (_sqlite_index.c.rowid,)


def _matches(match: Match, field: str | None = None) -> ColumnElement[bool]:
    """The index's row matches (in ``field`` alone, if given). On PostgreSQL a field is
    looked for in the document by its weights (a check of the row: the GIN index keeps no
    weights); ``_in_head`` finds it from the GIN index of the heads."""
    if _postgresql():
        return _pg_index.c.document.op("@@")(_pg_query(match, field))
    return _fts5_match(_fts5(match, field))


def _in_head(match: Match, field: str) -> ColumnElement[bool]:
    """PostgreSQL, over the heads: the whole query in this field ('A设备'), exactly from the
    GIN index for a word of one token, checked in a row of a few hundred bytes otherwise."""
    return _pg_heads.c.head.op("@@")(_pg_query(match, field, head=True))


def _pg_query(match: Match, field: str | None = None, head: bool = False) -> ColumnElement[Any]:
    return cast(bindparam(None, _tsquery(match, field, head=head), unique=True), TSQUERY)


def _fts5_match(expression: str) -> ColumnElement[bool]:
    # the table's name stands for its every column
    return literal_column(TABLE).op("MATCH")(bindparam(None, expression, unique=True))


def _tiers(match: Match) -> list[ColumnElement[bool]]:
    """PostgreSQL: the index's rows of each relevance tier, best first, as disjoint
    conditions: the whole query in the title; else in the category's name; else in the
    summary; else anywhere. The first three over the heads, the last over the documents
    (their weights tell the better tiers apart within the row)."""
    heads = [_in_head(match, f) for f in TIER]
    out = [and_(here, *(~b for b in heads[:n])) for n, here in enumerate(heads)]
    out.append(and_(_matches(match), *(~_matches(match, f) for f in TIER)))
    return out


def _fts5_tiers(match: Match) -> list[str]:
    """SQLite: the same tiers as FTS5 expressions; FTS5 says "not in a better field" itself
    (``a NOT b`` walks both in rowid order)."""
    fields = [f"({_fts5(match, f)})" for f in TIER]
    return [
        " NOT ".join([field, *fields[:n]]) for n, field in enumerate([*fields, f"({_fts5(match)})"])
    ]


# SQLite: a tier's page in rank order (the rowid), and how many match up to a limit; the same
# two statements for every query, which only the FTS5 expression changes
_FTS5_PAGE = text(
    f"SELECT version_id FROM {TABLE} WHERE {TABLE} MATCH :q ORDER BY rowid"
    " LIMIT :limit OFFSET :offset"
)
_FTS5_COUNT = text(
    f"SELECT count(*) FROM (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH :q LIMIT :at_most)"
)


def _fts5_count(expression: str, at_most: int) -> int:
    return int(db.session.scalar(_FTS5_COUNT, {"q": expression, "at_most": at_most}) or 0)


_sqlite_rows = table(ROWS, column("version_id"), column("doc"))


def joined(stmt: Select[Any], match: Match) -> Select[Any]:
    """``stmt`` (over package versions) limited to the versions that match, driven from the
    index (a join: an ``IN`` list let SQLite walk every published version instead). SQLite
    joins through ``search_index_rows`` to the rowid: joined on the unindexed version column,
    FTS5 ran the whole query again for each version the filters kept."""
    if _postgresql():
        return stmt.join(_pg_index, _pg_index.c.version_id == PackageVersion.id).where(
            _matches(match)
        )
    return (
        stmt.join(_sqlite_rows, _sqlite_rows.c.version_id == PackageVersion.id)
        .join(_sqlite_index, _sqlite_index.c.rowid == _sqlite_rows.c.doc)
        .where(_matches(match))
    )


def tier(match: Match) -> ColumnElement[int]:
    """For a joined query: 4 when the whole query matches in the title, 3 in the category's
    name, 2 in the summary, else 1 (its words are found across the fields or in the rest).
    PostgreSQL reads it from the row's weights; SQLite asks FTS5 with column filters (each a
    set of rowids, built once per query)."""
    if _postgresql():
        return case(*((_matches(match, f), n) for f, n in TIER.items()), else_=1)
    return case(
        *(
            (_sqlite_index.c.rowid.in_(select(_sqlite_index.c.rowid).where(_matches(match, f))), n)
            for f, n in TIER.items()
        ),
        else_=1,
    )


def ranked(match: Match) -> tuple[ColumnElement[Any], ...]:
    """The relevance order of a joined query: the field tier, then the rank key kept with
    each document (evidence, then price), then the newer version."""
    return (tier(match).desc(), *_in_rank_order())


class Found(NamedTuple):
    """A page of matching version ids in order, how many match (up to a limit), and the
    page's cards when the statement that found them read them too (their rows, by version,
    in ``CARD_SELECT``'s order)."""

    ids: list[int]
    total: int
    cards: dict[int, tuple[Any, ...]]


def page_and_count(
    match: Match, limit: int, offset: int, at_most: int, common: frozenset[str] = frozenset()
) -> Found:
    """One page of matching version ids in relevance order and how many visible versions
    match, up to ``at_most``, from the index alone (it holds only visible versions).

    On PostgreSQL one statement counts a word's matches and reads its page with the page's
    cards: for a word of up to ``FEW`` matches, the most common case, from its matches; for
    a commoner word, from its best tier (the titles that hold it) when that has up to ``FEW``
    and so is taken whole and sorted, as ``page_only`` would take it first. Only a page that
    tier does not fill, or a title tier too common to sort, reads on with ``page_only``.

    A word that ``common`` (``common_titles``) says is in more than ``FEW`` titles reads its
    title tier first: when there are that many, they stand for the count (the documents'
    count of a common word was half its cost), and the tier is walked. A wrong guess costs
    time, not results: both statements answer the same."""
    if not _postgresql():
        total = _fts5_count(_fts5(match), at_most)
        return Found(page_only(match, limit, offset) if total > offset else [], total, {})
    statement = _TITLES_FIRST if in_common_titles(match, common) else _FEW_PAGE
    rows = db.session.execute(statement, page_parameters(match, limit, offset, at_most)).all()
    total, titles = int(rows[0][0]), int(rows[0][1])
    ids = [row[2] for row in rows if row[2] is not None]
    cards = {row[2]: row[3:] for row in rows if row[3] is not None}
    if total > FEW and total > offset:  # (``total`` is counted past the page: see ``at_most``)
        if titles > FEW:
            ids = page_only(match, limit, offset, walk_first=True)
        elif len(ids) < limit:
            ids += page_only(match, limit - len(ids), max(offset - titles, 0), start=1)
    return Found(ids, total, cards)


def page_parameters(match: Match, limit: int, offset: int, at_most: int) -> dict[str, Any]:
    """PostgreSQL: what ``_FEW_PAGE`` and ``_TITLES_FIRST`` are asked with."""
    return {
        "q": _tsquery(match),
        **{field: _tsquery(match, field) for field in TIER},
        "title_head": _tsquery(match, "title", head=True),
        "at_most": at_most,
        "few": FEW,
        "limit": limit,
        "offset": offset,
    }


# PostgreSQL, after the count (``counted``) and the title tier (``titled``, ``titles``): a word
# of up to ``FEW`` matches, its page in relevance order (the tier read from each document's
# weights); a commoner word, the page of its title tier when that has no more than ``FEW``; with
# the page's cards. A few-match word's page rows are read again by version: the matches carry
# no document, so none is written to a temporary file. The branch a word does not need is not
# run (a one-time filter).
_PAGE = f"""
SELECT counted.total, titles.found, page.version_id, {CARD_SELECT}
FROM counted CROSS JOIN titles LEFT JOIN LATERAL (
    (SELECT d.version_id, d.rank_key,
        CASE WHEN d.document @@ CAST(:title AS tsquery) THEN 4
            WHEN d.document @@ CAST(:category AS tsquery) THEN 3
            WHEN d.document @@ CAST(:summary AS tsquery) THEN 2
            ELSE 1 END AS tier
    FROM matched JOIN {TABLE} d ON d.version_id = matched.version_id
    WHERE counted.total <= :few
    ORDER BY tier DESC, d.rank_key, d.version_id DESC
    LIMIT :limit OFFSET :offset)
    UNION ALL
    (SELECT version_id, rank_key, 4 FROM titled
    WHERE counted.total > :few AND titles.found <= :few
    ORDER BY rank_key, version_id DESC
    LIMIT :limit OFFSET :offset)
) page ON true
LEFT JOIN ({CARD_FROM}) ON c.version_id = page.version_id
ORDER BY page.tier DESC, page.rank_key, page.version_id DESC
"""

# The count first: a word's matches, up to ``at_most``, taken once from the GIN index; then,
# for a commoner word, its title tier from the heads' GIN index, up to ``FEW`` + 1 (read in
# vain when there are more: that tier is then walked).
_FEW_PAGE = text(
    f"""
WITH matched AS MATERIALIZED (
    SELECT version_id FROM {TABLE} WHERE document @@ CAST(:q AS tsquery) LIMIT :at_most
), counted AS (SELECT count(*) AS total FROM matched),
titled AS MATERIALIZED (
    SELECT version_id, rank_key FROM {HEADS}
    WHERE head @@ CAST(:title_head AS tsquery) AND (SELECT total FROM counted) > :few
    LIMIT :few + 1
), titles AS (SELECT count(*) AS found FROM titled)
{_PAGE}"""
)

# The title tier first, for a word guessed common: more than ``FEW`` titles that hold it say
# that more than ``FEW`` documents do (when no more is asked: ``at_most`` is ``FEW`` + 1), and
# the documents are not counted; fewer, and the statement goes on as ``_FEW_PAGE``.
_TITLES_FIRST = text(
    f"""
WITH titled AS MATERIALIZED (
    SELECT version_id, rank_key FROM {HEADS}
    WHERE head @@ CAST(:title_head AS tsquery)
    LIMIT :few + 1
), titles AS (SELECT count(*) AS found FROM titled),
matched AS MATERIALIZED (
    SELECT version_id FROM {TABLE} WHERE document @@ CAST(:q AS tsquery) LIMIT :at_most
), counted AS (  -- the matches are read only if the CASE asks for their count
    SELECT CASE WHEN found > :few AND :at_most <= :few + 1 THEN :at_most
        ELSE (SELECT count(*) FROM matched) END AS total
    FROM titles
)
{_PAGE}"""
)


def in_common_titles(match: Match, common: frozenset[str]) -> bool:
    """The guess that more than ``FEW`` titles hold the whole query: every term has a reading
    each of whose tokens ``common`` lists (a title lexeme in more than ``FEW`` titles; a
    prefix, any such lexeme it begins). A phrase is in no more titles than its rarest pair,
    so a word guessed rare is; a word guessed common usually is (170 of the bench's 172
    walked words, and 25 of its 1,328 others, at 100,000 packages)."""
    if not common or match.facets:  # a filtered search's titles would not stand for its count
        return False
    mark = WEIGHT["title"]

    def common_lexeme(token: str, prefix: bool) -> bool:
        if prefix:
            return any(lexeme.startswith(mark + token) for lexeme in common)
        return mark + token in common

    def held(v: Variant) -> bool:
        if v.prefix and len(v.tokens) == 1 and len(v.tokens[0]) == 1:
            return f"{FIRST}{mark}{v.tokens[0]}" in common  # one character: its own lexeme
        last = len(v.tokens) - 1
        return all(common_lexeme(t, v.prefix and i == last) for i, t in enumerate(v.tokens))

    return all(any(held(v) for v in term) for term in match.terms)


def common_titles(session: Session | None = None) -> frozenset[str]:
    """PostgreSQL: the title lexemes more than ``FEW`` titles held when ``refresh_common``
    last counted them; SQLite: none (it reads each tier in rank order and stops)."""
    connection = (session or db.session).connection()
    if connection.dialect.name != "postgresql":
        return frozenset()
    return frozenset(connection.scalars(text(f"SELECT lexeme FROM {COMMON}")))


def refresh_common(session: Session | None = None) -> int:
    """PostgreSQL: count again which title lexemes more than ``FEW`` titles hold, for
    ``in_common_titles``. It reads every head (``ts_stat``: 1.8 s at 100,000 packages), so
    the hourly ``search_common_titles`` job does it, and ``flask search rebuild``; never a
    request. A list an hour old costs time, not results. Returns how many are common
    (SQLite: none)."""
    connection = (session or db.session).connection()
    if connection.dialect.name != "postgresql":
        return 0
    # one count at a time (the job, a rebuild): readers are not held up
    connection.execute(text(f"LOCK TABLE {COMMON} IN SHARE ROW EXCLUSIVE MODE"))
    connection.execute(text(f"DELETE FROM {COMMON}"))
    connection.execute(
        text(
            f"INSERT INTO {COMMON} (lexeme) SELECT word FROM ts_stat('SELECT head FROM {HEADS}')"
            " WHERE ndoc > :few AND (word LIKE :title OR word LIKE :first)"
        ),
        {"few": FEW, "title": WEIGHT["title"] + "%", "first": FIRST + WEIGHT["title"] + "%"},
    )
    return int(connection.scalar(text(f"SELECT count(*) FROM {COMMON}")) or 0)


def page_only(
    match: Match, limit: int, offset: int, start: int = 0, walk_first: bool = False
) -> list[int]:
    """One page of matching version ids in relevance order, from the index alone.

    Tier by tier, each read in rank order only as far as the page needs. SQLite reads a
    tier's rowids in order and stops. PostgreSQL, whose planner cannot tell a common Chinese
    phrase from a rare one, is told (a word of up to ``FEW`` matches never comes here: see
    ``page_and_count``): each tier is taken from the GIN index and sorted when it has up to
    ``FEW`` matches (the title, category and summary tiers from the heads' GIN index), else
    read by walking the rank order.

    On PostgreSQL the page may begin at the tier numbered ``start`` (``offset`` counted from
    there), and ``walk_first`` says that the first tier read is already known to hold more
    than ``FEW``: ``page_and_count`` read the title tier with the count."""
    found: list[int] = []
    skip = offset
    if _postgresql():
        # the heads' tiers read the heads, the last the documents
        tiers = [
            (_pg_heads if n < len(TIER) else _pg_index, c) for n, c in enumerate(_tiers(match))
        ]
        for n, (rows, condition) in enumerate(tiers[start:]):
            need = limit - len(found)
            if need <= 0:
                break
            read = _walked if walk_first and n == 0 else _sorted
            got, before = read(rows, condition, need, skip)
            skip -= before
            found += got
        return found
    if start or walk_first:
        raise ValueError("SQLite reads every tier, in order")
    for expression in _fts5_tiers(match):
        need = limit - len(found)
        if need <= 0:
            break
        got = list(db.session.scalars(_FTS5_PAGE, {"q": expression, "limit": need, "offset": skip}))
        skip -= skip if got or not skip else _fts5_count(expression, skip)
        found += got
    return found


def _sorted(
    rows: Any, condition: ColumnElement[bool], need: int, skip: int
) -> tuple[list[int], int]:
    """PostgreSQL: a tier's page and how many of its matches lie before the page. A tier of up
    to ``FEW`` matches is taken whole from the GIN index and sorted; a larger one (管 in
    40,000 titles: 45,000 buffers to take and sort) is read in rank order (``_walked``), where
    a page is found within a few hundred rows."""
    matched = (
        select(rows.c.version_id, rows.c.rank_key)
        .where(condition)
        .limit(FEW + 1)
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    ordered = select(matched.c.version_id, func.count().over()).order_by(
        matched.c.rank_key, matched.c.version_id.desc()
    )
    page = db.session.execute(ordered.limit(need).offset(skip)).all()
    if page and page[0][1] <= FEW:
        return [row[0] for row in page], skip
    if not page:
        if not skip:
            return [], 0
        found = int(db.session.scalar(select(func.count()).select_from(matched)) or 0)
        if found <= FEW:
            return [], found
    return _walked(rows, condition, need, skip)


def _walked(
    rows: Any, condition: ColumnElement[bool], need: int, skip: int
) -> tuple[list[int], int]:
    """PostgreSQL: a common tier's page by reading the rank order of ``rows`` (the heads' or
    the documents') and testing each row until the page is full. The condition is wrapped so
    that the planner cannot take it from the GIN index instead, which would read every match
    first."""
    opaque = func.coalesce(condition, false())
    walk = select(rows.c.version_id).where(opaque).order_by(*_in_rank_order(rows))
    found = list(db.session.scalars(walk.limit(need).offset(skip)))
    if found or not skip:
        return found, skip if found else 0
    return [], _count(condition, skip)


def _count(condition: ColumnElement[bool], at_most: int) -> int:
    # PostgreSQL: the matches before a page that a walk found empty. Every match's row is
    # read, though no column is asked for: PostgreSQL 15.20's bitmap scan fetched each heap
    # page even for a plain word, which needs no recheck, with the visibility map set
    # (checked with EXPLAIN)
    found: Select[Any] = select(literal_column("1")).where(condition).limit(at_most)
    return int(db.session.scalar(select(func.count()).select_from(found.subquery())) or 0)


# Documents


def rank_key(results_met: int, rating_sum: int, rating_count: int, price_fen: int) -> int:
    """The evidence and price of a document as one ascending key of 43 bits: more contracts
    met on verified measurements first, then the higher rating from verified buyers (unrated
    last), then the lower entry price in whole yuan (prices above ¥16,777,215 tie)."""
    results = 1023 - min(results_met, 1023)
    rating = 511 - (rating_sum * 100 // rating_count if rating_count else 0)
    price = min(price_fen // 100, 2**24 - 1)
    return (results << 33) | (rating << 24) | price


_LOW = 2**20 - 1


def order_key(rank: int, version_id: int) -> int:
    """A document's place in rank order as one positive 63-bit integer (SQLite's rowid): the
    rank key, then the newer version first."""
    return (rank << 20) | (_LOW - (version_id & _LOW))


@dataclass(frozen=True, slots=True)
class Document:
    """What the index holds of one visible version: its text by field, its rank key and its
    card (the columns of ``search_index_cards``)."""

    fields: dict[str, str]
    rank_key: int
    card: dict[str, Any]


def _fields(version_ids: Sequence[int], connection: Connection) -> dict[int, Document]:
    """Each visible version's text by field, rank key and card, read in a few statements.
    The index holds only what the catalogue shows (``visible_versions``): the published
    version of a package whose provider a pool admits."""
    docs: dict[int, dict[str, list[str]]] = {}
    keys: dict[int, int] = {}
    cards: dict[int, dict[str, Any]] = {}
    rows = connection.execute(
        select(
            PackageVersion.id,
            PackageVersion.package_id,
            PackageVersion.title,
            PackageVersion.summary,
            PackageVersion.description,
            PackageVersion.tags,
            Category.name_zh,
            Category.name_en,
            Organisation.name,
            Package.results_met,
            Package.rating_sum,
            Package.rating_count,
            PackageVersion.entry_price_fen,
            PackageVersion.category_code,
            PackageVersion.deployment,
            PackageVersion.go_live_days,
            PackageVersion.trial_days,
            PackageVersion.trial_price_fen,
            Organisation.provider_type,
            Package.provider_id,
        )
        .join(Category, Category.code == PackageVersion.category_code)
        .join(Package, Package.published_version_id == PackageVersion.id)
        .join(Organisation, Organisation.id == Package.provider_id)
        .where(
            PackageVersion.id.in_(version_ids),
            PackageVersion.status == VersionStatus.PUBLISHED,
            pool.admitted(Package.provider_id),
        )
    )
    providers: dict[int, int] = {}
    for row in rows:
        vid = row.id
        providers[vid] = row.provider_id
        keys[vid] = rank_key(row.results_met, row.rating_sum, row.rating_count, row.entry_price_fen)
        cards[vid] = {
            "version_id": vid,
            "package_id": row.package_id,
            "title": row.title,
            "summary": row.summary,
            "category_code": row.category_code,
            "entry_price_fen": row.entry_price_fen,
            "go_live_days": row.go_live_days,
            "deployment": row.deployment.value,
            "results_met": row.results_met,
            "rating_sum": row.rating_sum,
            "rating_count": row.rating_count,
            "provider_id": row.provider_id,
            "provider_name": row.name,
            "provider_type": row.provider_type.value if row.provider_type else None,
            "trial_days": row.trial_days,
            "trial_price_fen": row.trial_price_fen,
        }
        docs[vid] = {
            "title": [row.title],
            "category": [row.name_zh, row.name_en],
            "summary": [row.summary],
            "body": [row.description, row.name, row.tags or ""],
            "facets": [
                facet("category", row.category_code),
                facet("deployment", row.deployment),
                *([facet("provider_type", row.provider_type)] if row.provider_type else []),
            ],
        }
    if not docs:
        return {}
    found = list(docs)
    for vid, code, zh, en in connection.execute(
        select(
            version_industries.c.version_id,
            Industry.code,
            Industry.name_zh,
            Industry.name_en,
        )
        .join(Industry, Industry.code == version_industries.c.industry_code)
        .where(version_industries.c.version_id.in_(found))
    ):
        docs[vid]["body"] += [zh, en]
        docs[vid]["facets"].append(facet("industry", code))
    for vid, tier in connection.execute(
        select(VersionSizeTier.version_id, VersionSizeTier.tier).where(
            VersionSizeTier.version_id.in_(found)
        )
    ):
        docs[vid]["facets"].append(facet("size_tier", tier))
    kinds: dict[int, dict[str, None]] = defaultdict(dict)
    for vid, kind in connection.execute(
        select(PricePlan.version_id, PricePlan.kind)
        .where(PricePlan.version_id.in_(found))
        .order_by(PricePlan.version_id, PricePlan.position)
    ):
        kinds[vid][kind.value] = None
    for vid in found:
        docs[vid]["facets"] += [facet("pricing", kind) for kind in kinds[vid]]
        cards[vid]["plan_kinds"] = ",".join(kinds[vid])
    pools: dict[int, list[int]] = defaultdict(list)
    for provider_id, agency_id in connection.execute(
        select(PoolMembership.provider_id, PoolMembership.agency_id)
        .where(
            PoolMembership.provider_id.in_({providers[v] for v in found}),
            PoolMembership.status == PoolStatus.ADMITTED,
        )
        .order_by(PoolMembership.agency_id)
    ):
        pools[provider_id].append(agency_id)
    for vid in found:
        admitted = pools[providers[vid]]
        docs[vid]["facets"] += [facet("pool", a) for a in admitted]
        cards[vid]["pool_ids"] = ",".join(str(a) for a in admitted)
    for vid, protocol, zh, en in connection.execute(
        select(VersionInterface.version_id, Protocol.name, DataObject.name_zh, DataObject.name_en)
        .join(Protocol, Protocol.code == VersionInterface.protocol_code)
        .join(DataObject, DataObject.code == VersionInterface.data_object_code)
        .where(VersionInterface.version_id.in_(found))
    ):
        docs[vid]["body"] += [protocol, zh, en]
    return {
        vid: Document({f: "\n".join(parts) for f, parts in fields.items()}, keys[vid], cards[vid])
        for vid, fields in docs.items()
    }


def _tsvector(fields: dict[str, str], only: Sequence[str] = FIELDS) -> str:
    """The document as a tsvector literal: every token with its positions and field weight,
    and each token's first character as a lexeme of its own (``FIRST``): what FTS5's
    ``prefix='1'`` index holds, for a one-character query. No phrase holds one, so it has no
    positions: in the whole document '^间'.

    The ``head`` (the tiers) marks each lexeme with its field's letter instead of a weight:
    'A设备' in the title, '^A间' for a first character. The GIN index keeps no weights, so
    ``'设备':A`` took every row with 设备 anywhere in its head and checked each; 'A设备' is
    found exactly."""
    positions: dict[str, list[str]] = defaultdict(list)
    firsts: dict[str, None] = {}
    per_field = tuple(only) == HEAD
    for field in only:
        position = _FIELD_START[field]
        mark = WEIGHT[field] if per_field else ""
        weight = "" if per_field else WEIGHT[field]
        for token in field_tokens(field, fields[field]):
            if position > _MAX_POSITION:
                break
            positions[mark + token].append(f"{position}{weight}")
            firsts[FIRST + mark + token[0]] = None
            position += 1
    words = [f"'{t}':{','.join(p)}" for t, p in positions.items()]
    return " ".join(words + [f"'{t}'" for t in firsts])


def refresh(connection: Connection, version_ids: Iterable[int]) -> None:
    """Write these versions' documents again (a version no longer published loses its)."""
    ids = sorted(set(version_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        docs = _fields(chunk, connection)
        _write(connection, chunk, docs)


def _write(connection: Connection, ids: list[int], docs: dict[int, Document]) -> None:
    connection.execute(text(f"DELETE FROM {CARDS} WHERE version_id IN ({_listed(ids)})"))
    if docs:
        connection.execute(_INSERT_CARD, [doc.card for doc in docs.values()])
    if connection.dialect.name == "postgresql":
        for name in (TABLE, HEADS):
            connection.execute(
                text(f"DELETE FROM {name} WHERE version_id = ANY(:ids)"), {"ids": ids}
            )
        if docs:
            connection.execute(
                text(
                    f"INSERT INTO {TABLE} (version_id, document, rank_key)"
                    " VALUES (:id, CAST(:doc AS tsvector), :key)"
                ),
                [
                    {"id": vid, "doc": _tsvector(d.fields), "key": d.rank_key}
                    for vid, d in docs.items()
                ],
            )
            connection.execute(
                text(
                    f"INSERT INTO {HEADS} (version_id, head, rank_key)"
                    " VALUES (:id, CAST(:head AS tsvector), :key)"
                ),
                [
                    {"id": vid, "head": _tsvector(d.fields, HEAD), "key": d.rank_key}
                    for vid, d in docs.items()
                ],
            )
        return
    marks = _listed(ids)
    connection.execute(
        text(
            f"DELETE FROM {TABLE} WHERE rowid IN"
            f" (SELECT doc FROM {ROWS} WHERE version_id IN ({marks}))"
        )
    )
    connection.execute(text(f"DELETE FROM {ROWS} WHERE version_id IN ({marks})"))
    if not docs:
        return
    places = _places(connection, {vid: order_key(d.rank_key, vid) for vid, d in docs.items()})
    connection.execute(
        text(f"INSERT INTO {ROWS} (version_id, doc) VALUES (:id, :doc)"),
        [{"id": vid, "doc": doc} for vid, doc in places.items()],
    )
    connection.execute(
        text(
            f"INSERT INTO {TABLE} (rowid, version_id, title, category, summary, body, facets)"
            " VALUES (:doc, :id, :title, :category, :summary, :body, :facets)"
        ),
        [
            {
                "id": vid,
                "doc": places[vid],
                **{f: " ".join(field_tokens(f, d.fields[f])) for f in FIELDS},
            }
            for vid, d in docs.items()
        ],
    )


def _listed(ids: Iterable[int]) -> str:
    """Ids written into a statement (integers only; an empty list matches nothing)."""
    return ",".join(str(int(i)) for i in ids) or "NULL"


def _places(connection: Connection, wanted: dict[int, int]) -> dict[int, int]:
    """Each version's rowid: its order key, or the next free one below when another version
    with the same rank key and the same low 20 bits of its id (a million versions apart)
    holds it; the tie then breaks the other way, nothing else moves."""
    marks = _listed(wanted.values())
    taken = set(connection.scalars(text(f"SELECT doc FROM {ROWS} WHERE doc IN ({marks})")))
    places: dict[int, int] = {}
    for vid, key in wanted.items():
        while key in taken:
            key -= 1
            taken |= set(connection.scalars(text(f"SELECT doc FROM {ROWS} WHERE doc = {key}")))
        taken.add(key)
        places[vid] = key
    return places


def rebuild(session: Session | None = None) -> int:
    """Empty the index and write every published version's document again (the
    ``flask search rebuild`` command; after bulk loads that bypass the ORM). Returns how
    many documents were written."""
    connection = (session or db.session).connection()
    connection.execute(text(f"DELETE FROM {TABLE}"))
    connection.execute(
        text(f"DELETE FROM {HEADS if connection.dialect.name == 'postgresql' else ROWS}")
    )
    connection.execute(text(f"DELETE FROM {CARDS}"))
    ids = list(
        connection.scalars(
            select(PackageVersion.id).where(PackageVersion.status == VersionStatus.PUBLISHED)
        )
    )
    refresh(connection, ids)
    return len(ids)


def count(session: Session | None = None) -> int:
    connection = (session or db.session).connection()
    return int(connection.scalar(text(f"SELECT count(*) FROM {TABLE}")) or 0)


# Keeping the index in step: every flush that changes what a document holds rewrites it in
# the same transaction, whichever service (or test factory) made the change.

_ORG_FIELDS = ("name", "provider_type")
_NAME_FIELDS = ("name_zh", "name_en", "name")


def _affected(session: Session) -> tuple[set[int], list[ColumnElement[bool]]]:
    """The versions whose documents this flush changes: directly, or by a name they show."""
    ids: set[int] = set()
    wider: list[ColumnElement[bool]] = []
    for objects, dirty in ((session.new, False), (session.dirty, True), (session.deleted, False)):
        for obj in objects:
            if isinstance(obj, PackageVersion):
                ids.add(obj.id)
            elif isinstance(obj, Package) and dirty:
                wider.append(PackageVersion.package_id == obj.id)
            elif isinstance(obj, PoolStatusChange | PoolMembership):
                # admitted, suspended or exited: its provider's packages enter or leave
                membership = obj if isinstance(obj, PoolMembership) else obj.membership
                wider.append(_of_provider(membership.provider_id))
            elif isinstance(obj, VersionInterface | PricePlan):
                # (both change on drafts today, which have no document: a refresh finds
                # nothing to write; a published version's would show on its card)
                ids.add(obj.version_id)
            elif isinstance(obj, Organisation) and dirty and attributes_changed(obj, _ORG_FIELDS):
                wider.append(_of_provider(obj.id))
            elif isinstance(obj, Category) and dirty and attributes_changed(obj, _NAME_FIELDS):
                wider.append(PackageVersion.category_code == obj.code)
            elif isinstance(obj, Industry) and dirty and attributes_changed(obj, _NAME_FIELDS):
                wider.append(
                    PackageVersion.id.in_(
                        select(version_industries.c.version_id).where(
                            version_industries.c.industry_code == obj.code
                        )
                    )
                )
            elif (
                isinstance(obj, Protocol | DataObject)
                and dirty
                and attributes_changed(obj, _NAME_FIELDS)
            ):
                key = (
                    VersionInterface.protocol_code
                    if isinstance(obj, Protocol)
                    else VersionInterface.data_object_code
                )
                wider.append(
                    PackageVersion.id.in_(
                        select(VersionInterface.version_id).where(key == obj.code)
                    )
                )
    return ids, wider


def _of_provider(provider_id: int) -> ColumnElement[bool]:
    owned = aliased(Package)
    return PackageVersion.package_id.in_(select(owned.id).where(owned.provider_id == provider_id))


def refresh_packages(package_ids: Iterable[int]) -> None:
    """Write these packages' documents again (their evidence changed by a bulk update the
    flush does not see: a rating, a settled contract)."""
    connection = db.session.connection()
    ids = connection.scalars(
        select(Package.published_version_id).where(
            Package.id.in_(list(package_ids)), Package.published_version_id.is_not(None)
        )
    )
    refresh(connection, [i for i in ids if i is not None])


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    ids, wider = _affected(session)
    if not ids and not wider:
        return
    connection = session.connection()
    for condition in wider:
        ids.update(
            connection.scalars(
                select(PackageVersion.id).where(
                    condition, PackageVersion.status == VersionStatus.PUBLISHED
                )
            )
        )
    refresh(connection, ids)
