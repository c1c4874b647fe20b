"""How long a batch issue to 50,000 eligible enterprises takes (issue 5's target: seconds).

    .venv/bin/python bench/voucher_batch.py [DATABASE_URL]

Builds a scratch database (SQLite in a temporary folder by default), bulk-inserts the
enterprises, then times ``issuing.issue_batch`` and the ledger check. It drops nothing
outside its own database; give it an empty PostgreSQL database to measure there.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

from marketplace import create_app, migrate
from marketplace.accounts.models import Organisation, OrgKind
from marketplace.config import TestConfig
from marketplace.db import db, local_today, make_engine, writing
from marketplace.security import Actor
from marketplace.vouchers import issuing, ledger, programmes
from marketplace.vouchers.models import ProgrammeMode

ENTERPRISES = 50_000


def main(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(TestConfig(url))
    with app.app_context(), writing():
        agency = Organisation(kind=OrgKind.AGENCY, name="基准测试工信局")
        db.session.add(agency)
        db.session.flush()
        db.session.execute(
            insert(Organisation),
            [
                {
                    "kind": OrgKind.ENTERPRISE,
                    "name": f"基准企业{n}",
                    "credit_code": f"91130102{n:010d}",
                    "industry_code": "machining",
                    "region_code": "130102",
                    "employees": 50,
                    "annual_revenue_fen": 5_000_000_00,
                }
                for n in range(ENTERPRISES)
            ],
        )
        actor = Actor(None, agency.id, None)
        programme = programmes.create_programme(
            agency,
            programmes.Rules(
                name="基准券",
                mode=ProgrammeMode.OPEN,
                budget_fen=ENTERPRISES * 10_000_00,
                face_value_fen=10_000_00,
                rate_bp=5_000,
                cap_fen=10_000_00,
                issue_from=local_today(),
                redeem_by=local_today() + timedelta(days=30),
                size_tiers=["small"],
                industry_codes=["machining"],
                # the benchmark measures issuing itself, not the four-eyes proposal
                batch_approval_threshold_fen=ENTERPRISES * 10_000_00,
            ),
            actor,
        )
        programmes.open_programme(programme, actor)
        db.session.commit()
        started = time.perf_counter()
        preview = issuing.preview_batch(programme)
        previewed = time.perf_counter()
        run = issuing.issue_batch(programme, "bench-batch-key-0001", actor)
        db.session.commit()
        issued = time.perf_counter()
        problems = ledger.check()
        checked = time.perf_counter()
    print(f"database: {engine.dialect.name}; eligible enterprises: {preview.count}")
    print(f"preview:     {previewed - started:6.2f} s")
    print(f"batch issue: {issued - previewed:6.2f} s  ({run.count} vouchers)")
    print(f"ledger check:{checked - issued:6.2f} s  ({len(problems)} differences)")


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else ""
    if not target:
        target = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    main(target.replace("postgresql://", "postgresql+psycopg://", 1))
