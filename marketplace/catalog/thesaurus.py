"""The search thesaurus (检索词表): the words enterprises type for what the catalogue calls
otherwise (预测维护 → 预测性维护, 看板 → 可视化, 上云 → 设备联网). Data, not code: officials
and the platform admin add and remove entries; every change is audited and takes effect on
the next search (the catalogue's caches depend on it)."""

from __future__ import annotations

import json
from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace import audit
from marketplace.catalog import freshness, search_index
from marketplace.catalog.models import SearchSynonym
from marketplace.db import add_unique, db
from marketplace.errors import DomainError, NotFound
from marketplace.security import Actor

MAX_LENGTH = 30


def entries() -> list[SearchSynonym]:
    return list(
        db.session.scalars(select(SearchSynonym).order_by(SearchSynonym.term, SearchSynonym.means))
    )


def expansions() -> dict[str, list[str]]:
    """Each term and what it also means, from the per-worker cache while the thesaurus is
    unchanged (a search reads it on every request)."""

    def compute() -> str:
        found: dict[str, list[str]] = defaultdict(list)
        for term, means in db.session.execute(
            select(SearchSynonym.term, SearchSynonym.means).order_by(SearchSynonym.id)
        ):
            found[term].append(means)
        return json.dumps(found, ensure_ascii=False)

    return dict(json.loads(freshness.cached("thesaurus", (), compute, [freshness.THESAURUS])))


def _word(value: str, field: str) -> str:
    """The entry as the index reads it: folded, its runs joined by one space."""
    word = " ".join(search_index.runs(value))
    if not word:
        raise DomainError(_l("Enter a word of letters, digits or Chinese characters."), field=field)
    if len(word) > MAX_LENGTH:
        raise DomainError(
            _l("At most %(n)d characters.", n=MAX_LENGTH),
            field=field,
        )
    return word


def add(term: str, means: str, actor: Actor) -> SearchSynonym:
    term_word, means_word = _word(term, "term"), _word(means, "means")
    if term_word == means_word:
        raise DomainError(_l("A word cannot mean itself."), field="means")
    if " " in term_word:
        raise DomainError(_l("The searched word is one word: no spaces."), field="term")
    entry = SearchSynonym(term=term_word, means=means_word, created_by_user_id=actor.user_id)
    if not add_unique(entry):
        raise DomainError(
            _l("“%(term)s” already means “%(means)s”.", term=term_word, means=means_word),
            field="means",
        )
    audit.record(
        actor, "search.synonym_added", "search_synonym", entry.id, term=term_word, means=means_word
    )
    return entry


def remove(entry_id: int, actor: Actor) -> None:
    entry = db.session.get(SearchSynonym, entry_id)
    if entry is None:
        raise NotFound("no such thesaurus entry")
    audit.record(
        actor,
        "search.synonym_removed",
        "search_synonym",
        entry.id,
        term=entry.term,
        means=entry.means,
    )
    db.session.delete(entry)
    db.session.flush()
