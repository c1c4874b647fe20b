"""The search index in rank order: a page of a common word without sorting its matches.

SQLite: the FTS5 table's rowid becomes each document's place in rank order (evidence, then
price, then the newer version), the version an unindexed column, and ``search_index_rows``
maps versions to rowids; FTS5 then reads a tier's matches in rank order and stops after the
page; a ``facets`` column holds the filters' tokens (0cmes: category mes), so a filtered
search asks the index for its words and filters together. PostgreSQL: an index on the rank
key, walked in order for a common word, and a GIN index on the small ``head`` vectors
(title, category, summary), from which a common word's best tiers are taken. The rank key's layout changed (43 bits) and titles and category names
carry pinyin initials, so every document is written again (by d1e359968e46).

Revision ID: 5e7a1c0d9b21
Revises: 97de720a2c91
Create Date: 2026-12-05 15:00:00
"""

from alembic import op

revision = "5e7a1c0d9b21"
down_revision = "97de720a2c91"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The documents are written again by d1e359968e46 (the cards), in the layout today's code
    # writes: a rebuild here, with today's code, would write tables this revision lacks.
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_search_index_rank ON search_index (rank_key, version_id DESC)")
        op.execute("CREATE INDEX ix_search_index_head ON search_index USING gin (head)")
        return
    op.execute("DROP TABLE search_index")
    op.execute(
        "CREATE VIRTUAL TABLE search_index USING fts5("
        "title, category, summary, body, facets, version_id UNINDEXED,"
        " tokenize='unicode61 remove_diacritics 0', prefix='1')"
    )
    op.execute(
        "CREATE TABLE search_index_rows ("
        " version_id INTEGER PRIMARY KEY REFERENCES package_versions (id) ON DELETE CASCADE,"
        " doc INTEGER NOT NULL UNIQUE)"
    )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_index_head")
        op.execute("DROP INDEX ix_search_index_rank")
        return
    op.execute("DROP TABLE search_index_rows")
    op.execute("DROP TABLE search_index")
    op.execute(
        "CREATE VIRTUAL TABLE search_index USING fts5("
        "title, category, summary, body, rank_key UNINDEXED,"
        " tokenize='unicode61 remove_diacritics 0', prefix='1')"
    )
