"""The search index on PostgreSQL: heads in a narrow table of their own, their
lexemes marked with their field.

A row of ``search_index`` held the whole document (about 4 KB, kept in the row), its head and
its rank key: one row filled most of a page, so each tier's check and each row of a walk in
rank order read a page. The heads move to ``search_index_heads`` with a copy of the rank
key (about five rows a page), and a head's lexemes carry their field's letter instead of a
weight ('A设备' for the title), which the GIN index can tell apart (it keeps no weights, so
``'设备':A`` took every row with 设备 anywhere in its head and checked each). Every document
is written again by d1e359968e46. SQLite is unchanged.

Revision ID: c4e8a2f61d07
Revises: b7d3e5a1c924
Create Date: 2026-12-06 00:30:00
"""

from alembic import op

revision = "c4e8a2f61d07"
down_revision = "b7d3e5a1c924"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE search_index_heads ("
        " version_id INTEGER PRIMARY KEY REFERENCES package_versions (id) ON DELETE CASCADE,"
        " head TSVECTOR NOT NULL, rank_key BIGINT NOT NULL)"
    )
    op.execute("ALTER TABLE search_index_heads ALTER COLUMN head SET STORAGE MAIN")
    op.execute("DROP INDEX ix_search_index_head")
    op.execute("ALTER TABLE search_index DROP COLUMN head")
    op.execute(
        "CREATE INDEX ix_search_index_heads_rank ON search_index_heads (rank_key, version_id DESC)"
    )
    op.execute("CREATE INDEX ix_search_index_heads_head ON search_index_heads USING gin (head)")
    # the documents are written again by d1e359968e46 (the cards), in the layout today's code
    # writes: a rebuild here, with today's code, would write a table this revision lacks


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_index ADD COLUMN head TSVECTOR")
    # the whole document answers the older tier queries ('设备':A) as its head did; only a
    # one-character word's tiers ('^A间') need `flask search rebuild` with the older code
    op.execute("UPDATE search_index SET head = document")
    op.execute("ALTER TABLE search_index ALTER COLUMN head SET NOT NULL")
    op.execute("ALTER TABLE search_index ALTER COLUMN head SET STORAGE MAIN")
    op.execute("DROP TABLE search_index_heads")
    op.execute("CREATE INDEX ix_search_index_head ON search_index USING gin (head)")
