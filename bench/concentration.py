"""The concentration page's work on a benchmark database, in one process (no server): its
statements, wall and CPU time per request, cold (the markets computed: the per-process cache
emptied before each view) and warm (kept under the programme's money stamp), and the markets
statement alone. ``--explain`` prints the statement's plan (SQLite's EXPLAIN QUERY PLAN,
PostgreSQL's EXPLAIN ANALYZE with its server time).

    .venv/bin/python bench/concentration.py [DATABASE_URL] [--views 20] [--programme 1]
                                            [--explain]

CPU is this process's: on SQLite it holds the database's work, on PostgreSQL only Python's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "zhuanxing2026"  # dataset.py's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--programme", type=int, default=1)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=args.url,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench"),
        COUNT_QUERIES="true",
        RATELIMIT_ENABLED="false",
    )
    from sqlalchemy import event

    from marketplace import create_app
    from marketplace.db import db
    from marketplace.oversight import concentration
    from marketplace.vouchers.models import VoucherProgramme

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    cache = app.extensions["catalogue_cache"]
    path = f"/agency/programmes/{args.programme}/concentration"
    client = app.test_client()
    assert (
        client.post("/login", data={"email": "bench1@bench.demo", "password": PASSWORD}).status_code
        == 302
    )

    def views(cold: bool) -> list[tuple[float, float, int]]:
        got = []
        for _ in range(args.views):
            if cold:
                cache.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            got.append(
                (
                    (time.perf_counter() - wall) * 1000,
                    (time.process_time() - cpu) * 1000,
                    int(response.headers.get("X-Query-Count", 0)),
                )
            )
            assert response.status_code == 200, response.status_code
        return got

    views(cold=False)  # warm-up: templates, the official's session
    for name, cold in (("cold (markets computed)", True), ("warm (markets kept)", False)):
        got = views(cold)
        walls = sorted(w for w, _c, _q in got)
        cpus = sorted(c for _w, c, _q in got)
        print(
            f"page, {name}: wall p50 {statistics.median(walls):.1f} ms,"
            f" max {walls[-1]:.1f} ms; CPU p50 {statistics.median(cpus):.1f} ms;"
            f" statements {sorted({q for _w, _c, q in got})}"
        )

    with app.app_context():
        programme = db.session.get(VoucherProgramme, args.programme)
        assert programme is not None
        for shown in (concentration.SHOWN_PER_MARKET, None):
            best = []
            for _ in range(5):
                wall, cpu = time.perf_counter(), time.process_time()
                found = concentration.computed_markets(programme, shown)
                best.append(
                    ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
                )
            w, c = min(best)
            shares = sum(len(m.shares) for m in found)
            print(
                f"computed_markets(shown={shown}): best wall {w:.1f} ms, CPU {c:.1f} ms,"
                f" {len(found)} markets, {shares} shares"
            )
        if args.explain:
            captured: list[tuple[str, Any]] = []

            @event.listens_for(db.engine, "before_cursor_execute")
            def keep(
                _conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: Any
            ) -> None:
                captured.append((sql, params))

            concentration.computed_markets(programme)
            event.remove(db.engine, "before_cursor_execute", keep)
            sql, params = captured[-1]
            conn = db.session.connection().connection.driver_connection
            cur = conn.cursor()  # type: ignore[union-attr]
            if db.engine.dialect.name == "postgresql":
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            else:
                cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            for row in cur.fetchall():
                print("  ", " ".join(str(x) for x in row))


if __name__ == "__main__":
    main()
