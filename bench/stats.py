"""Time the officials' statistics computed in process, section by section, on a benchmark
database (no server, no cache): what a cache miss of the statistics page costs.

    .venv/bin/python bench/stats.py [DATABASE_URL] [--runs 5] [--period] [--jurisdiction 130100]

``--period`` asks for a period (2001–2098: every line, as the bench's "computed" scenario
does to miss the cache); ``--jurisdiction`` gives the agency a region for the run (rolled
back), as a city's agency has. Each figure is the best of the runs: wall time, and the CPU
time of this process (on SQLite the database's work too; on PostgreSQL only Python's).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--period", action="store_true")
    parser.add_argument("--jurisdiction", default="")
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
        db.session.rollback()
    print(
        f"database: {args.url.split(':', 1)[0]}, jurisdiction: {jurisdiction or 'none'},"
        f" period: {'2001–2098' if args.period else 'none'}, best of {args.runs}"
    )
    print("| section | wall ms | CPU ms (this process) |\n|---|---:|---:|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall * 1000:.0f} | {cpu * 1000:.0f} |")


if __name__ == "__main__":
    main()
