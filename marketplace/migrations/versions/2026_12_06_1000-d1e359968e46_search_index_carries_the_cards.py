"""The search index carries each visible version's card (``search_index_cards``, both
databases): what a catalogue card shows (title, summary, category, price, trial, go-live,
deployment, evidence, provider, plan kinds and the pools that admit the provider), written with
the version's document in the same transaction. A page of search results reads its cards from
this one narrow table by id instead of joining versions, packages, providers and plans
scattered over the catalogue's tables (on PostgreSQL 30 cards read about 480 buffers, 150 of
them from the operating system, and cost a millisecond), and the cards' pool tags need no
statement of their own.

The index is written again here, for both databases: the earlier migrations that rebuilt it
(5e7a1c0d9b21 on SQLite, c4e8a2f61d07 on PostgreSQL) no longer do, since a rebuild runs
today's code, which writes this table.

Revision ID: d1e359968e46
Revises: 304645ec402c
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d1e359968e46"
down_revision: str | None = "304645ec402c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    big = "BIGINT" if connection.dialect.name == "postgresql" else "INTEGER"
    op.execute(
        "CREATE TABLE search_index_cards ("
        " version_id INTEGER PRIMARY KEY REFERENCES package_versions (id) ON DELETE CASCADE,"
        " package_id INTEGER NOT NULL,"
        " title VARCHAR(120) NOT NULL,"
        " summary VARCHAR(300) NOT NULL,"
        " category_code VARCHAR(40) NOT NULL,"
        f" entry_price_fen {big} NOT NULL,"
        " go_live_days INTEGER NOT NULL,"
        " deployment VARCHAR(20) NOT NULL,"
        " results_met INTEGER NOT NULL,"
        " rating_sum INTEGER NOT NULL,"
        " rating_count INTEGER NOT NULL,"
        " provider_id INTEGER NOT NULL,"
        " provider_name VARCHAR(200) NOT NULL,"
        " provider_type VARCHAR(20),"
        " trial_days INTEGER,"
        f" trial_price_fen {big} NOT NULL,"
        # in plan order and in agency id order, comma-separated: the same on both databases
        " plan_kinds TEXT NOT NULL,"
        " pool_ids TEXT NOT NULL)"
    )
    # Today's code writes the index here: a later change to what the index reads must move
    # this rebuild to its own migration (as this one moved it from 5e7a1c0d9b21 and
    # c4e8a2f61d07), or the upgrade from an older database breaks.
    from sqlalchemy.orm import Session

    from marketplace.catalog import search_index

    search_index.rebuild(Session(bind=connection))
    if connection.dialect.name == "postgresql":
        # every document was written again: plan the searches on the new rows (their dead
        # versions go at the next VACUUM; a VACUUM FULL of the three tables gives the space
        # back at once, outside a transaction)
        op.execute("ANALYZE search_index, search_index_heads, search_index_cards")


def downgrade() -> None:
    op.execute("DROP TABLE search_index_cards")
