"""Where an uncached search's time goes, one request at a time in one process: for each word,
the whole request, the time in SQL (statements executed, the slowest with its time), the rest
(ORM loading, rendering), and how many versions matched; optionally the plan of the slowest
statement.

    .venv/bin/python bench/search_profile.py DATABASE_URL [WORD ...] [--sample 20] [--api]
                                             [--explain | --work] [--profile N]

Without words, ``--sample`` words are drawn from the pool ``bench/run.py`` asks (category
names, thesaurus words, pieces of titles). Each word is asked once, so no cache answers; the
process is warmed up first. A statement's time is its execution: on SQLite that is until its
first row, which for a count or a sorted page is nearly all of it.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import TOTAL, search_words
from sqlalchemy import event

from marketplace import create_app
from marketplace.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("words", nargs="*")
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--api", action="store_true", help="the API's list instead of the page")
    parser.add_argument("--explain", action="store_true", help="the slowest statement's plan")
    parser.add_argument(
        "--work",
        action="store_true",
        help="measure work, not time: each statement again under EXPLAIN (ANALYZE, BUFFERS)"
        " on PostgreSQL (server ms, buffers), and the request's CPU in this process",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="profile the requests in this process (cProfile) and print the N functions"
        " costing the most time of their own, then the N costing the most with their callees",
    )
    args = parser.parse_args()
    words = args.words or search_words(args).shuffled(seed=3)[: args.sample]

    config = Config()
    config.SECRET_KEY = "bench"
    config.DATABASE_URL = args.url
    config.RATELIMIT_ENABLED = False
    config.LOG_FORMAT = "text"
    app = create_app(config)
    logging.getLogger("marketplace.access").setLevel(logging.WARNING)
    engine = app.extensions["db"].engine
    statements: list[tuple[float, str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _started(
        _conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _many: bool
    ) -> None:
        context.bench_started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _done(_conn: Any, _cursor: Any, sql: str, params: Any, context: Any, _many: bool) -> None:
        statements.append((time.perf_counter() - context.bench_started, sql, params))

    client = app.test_client()
    client.get("/catalog")  # warm: templates, reference data, the thesaurus
    client.get("/api/v1/packages?limit=1")
    if args.work:
        print(
            f"{'word':14} {'matches':>8} {'stmts':>5} {'CPU ms':>7} {'server ms':>9} {'buffers':>8}"
        )
    else:
        print(
            f"{'word':14} {'matches':>8} {'request':>8} {'SQL':>7} {'stmts':>5} {'slowest':>8}  rest"
        )
    work: list[tuple[int, float, float, int]] = []
    profiler = cProfile.Profile() if args.profile else None
    for word in words:
        statements.clear()
        if args.api:
            path = f"/api/v1/packages?limit=50&q={quote(word)}"
        else:
            path = f"/catalog?q={quote(word)}"
        started = time.perf_counter()
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        response = client.get(path)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        elapsed = time.perf_counter() - started
        if args.api:
            matches = str(len(response.get_json().get("items", [])))
        else:
            found = TOTAL.search(response.get_data(as_text=True))
            matches = found.group(1) if found else "?"
        if args.work:
            server, buffers = measured(engine, statements)
            work.append((len(statements), cpu * 1000, server, buffers))
            print(
                f"{word:14} {matches:>8} {len(statements):5} {cpu * 1000:7.1f} {server:9.1f}"
                f" {buffers:8}"
            )
            continue
        sql = sum(s for s, _q, _p in statements)
        slowest = max(statements, default=(0.0, "", None), key=lambda s: s[0])
        print(
            f"{word:14} {matches:>8} {elapsed * 1000:8.1f} {sql * 1000:7.1f} {len(statements):5}"
            f" {slowest[0] * 1000:8.1f}  {(elapsed - sql) * 1000:.1f}"
        )
        if args.explain and slowest[1]:
            explain(engine, slowest[1], slowest[2])

    if profiler:
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).strip_dirs().sort_stats(order).print_stats(args.profile)
    if work:
        print(f"{len(work)} words; median / p95 / max:")
        for n, name in enumerate(("statements", "CPU ms (this process)", "server ms", "buffers")):
            values = sorted(w[n] for w in work)
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
            print(f"  {name:22} {values[len(values) // 2]:9.1f} {p95:9.1f} {values[-1]:9.1f}")


def measured(engine: Any, statements: list[tuple[float, str, Any]]) -> tuple[float, int]:
    """The request's statements run again under EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL): the
    server's execution time and the shared buffers hit or read, summed. On SQLite the
    request's CPU above already holds the database's work: (0, 0)."""
    if engine.dialect.name != "postgresql":
        return 0.0, 0
    server, buffers = 0.0, 0
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for _s, sql, params in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0][0]
            server += plan["Planning Time"] + plan["Execution Time"]
            top = plan["Plan"]
            buffers += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
        conn.rollback()
    return server, buffers


def explain(engine: Any, sql: str, params: Any) -> None:
    """The plan of a statement as the app sent it (EXPLAIN ANALYZE on PostgreSQL)."""
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(prefix + sql, params)
        rows = cursor.fetchall()
        conn.rollback()
    print("    " + re.sub(r"\s+", " ", sql)[:160] + " ...")
    for row in rows:
        print("      " + (row[0] if postgres else f"{row[-1]}"))


if __name__ == "__main__":
    main()
