"""PostgreSQL: the search index keeps its title words that more than 1,000 titles hold
(``search_index_common``), counted here, by ``flask search rebuild`` and every hour by the
``search_common_titles`` job. A search guesses from it which words' title tiers are too
common to sort; for those it reads the title tier first, whose size stands for the count of
every match (half the cost of a common word). The list only steers the plan: one an hour old
costs time, not results. SQLite has no such table.

Revision ID: b6e5f1ff951b
Revises: d1e359968e46
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b6e5f1ff951b"
down_revision: str | None = "d1e359968e46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE search_index_common (lexeme TEXT PRIMARY KEY)")
    from sqlalchemy.orm import Session

    from marketplace.catalog import search_index

    search_index.refresh_common(Session(bind=connection))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE search_index_common")
