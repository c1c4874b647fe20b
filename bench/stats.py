"""Time the officials' statistics computed in process, section by section, on a benchmark
database (no server, no cache): what a cache miss of the statistics page costs.

    .venv/bin/python bench/stats.py [DATABASE_URL] [--runs 5] [--period] [--jurisdiction 130100]
                                    [--explain]

``--period`` asks for a period (2001–2098: every line, as the bench's "computed" scenario
does to miss the cache); ``--jurisdiction`` gives the agency a region for the run (rolled
back), as a city's agency has. Each figure is the best of the runs: wall time, and the CPU
time of this process (on SQLite the database's work too; on PostgreSQL only Python's).
``--explain`` then prints each statement of the page with its best time and its plan
(SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--period", action="store_true")
    parser.add_argument("--jurisdiction", default="")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    os.environ.update(DATABASE_URL=args.url, SECRET_KEY=os.environ.get("SECRET_KEY", "bench"))

    from sqlalchemy import select

    from marketplace import create_app
    from marketplace.accounts.models import Organisation
    from marketplace.db import db
    from marketplace.oversight import stats

    sections = {
        "money": stats.money,
        "burn": stats.burn,
        "enterprises and maturity": stats.by_enterprise,
        "lines: categories and lead times": stats.by_line,
        "outcomes": stats.outcomes,
        "tickets": stats.tickets,
        "all (every_section)": stats.every_section,
    }
    f = stats.Filters(since=date(2001, 1, 1), until=date(2098, 1, 1)) if args.period else None
    with create_app().app_context():
        agency = db.session.scalars(
            select(Organisation).where(Organisation.kind == "agency").order_by(Organisation.id)
        ).first()
        assert agency is not None, "no agency: build the dataset first"
        if args.jurisdiction:
            agency.region_code = args.jurisdiction
            db.session.flush()
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.runs):
            for name, compute in sections.items():
                started, cpu = time.perf_counter(), time.process_time()
                compute(agency, f or stats.Filters())
                took = (time.perf_counter() - started, time.process_time() - cpu)
                best[name] = min(best.get(name, took), took)
        jurisdiction = agency.jurisdiction
        plans = (
            explain(stats.every_section, agency, f or stats.Filters(), args.runs)
            if args.explain
            else []
        )
        db.session.rollback()
    print(
        f"database: {args.url.split(':', 1)[0]}, jurisdiction: {jurisdiction or 'none'},"
        f" period: {'2001–2098' if args.period else 'none'}, best of {args.runs}"
    )
    print("| section | wall ms | CPU ms (this process) |\n|---|---:|---:|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall * 1000:.0f} | {cpu * 1000:.0f} |")
    if args.explain:
        print("\n".join(plans))


def explain(compute: Any, agency: Any, f: Any, runs: int) -> list[str]:
    """Each statement ``compute`` sends, run again alone with its rows fetched (best wall time
    of ``runs``), and its plan."""
    from sqlalchemy import event

    from marketplace.db import db

    engine = db.engine
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        compute(agency, f)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    connection = db.session.connection()
    postgres = engine.dialect.name == "postgresql"
    out = []
    for n, (statement, parameters) in enumerate(sent, 1):
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            connection.exec_driver_sql(statement, parameters).fetchall()
            best = min(best, time.perf_counter() - started)
        out.append(f"\n#{n}: {best * 1000:.1f} ms\n{statement}")
        prefix = "EXPLAIN (ANALYZE, BUFFERS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(prefix + statement, parameters).fetchall()
        out.extend("    " + (row[0] if postgres else f"{row[1]:>3} {row[3]}") for row in rows)
    return out


if __name__ == "__main__":
    main()
