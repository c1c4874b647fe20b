"""The 100× dataset of the benchmarks, made with bulk inserts (ids chosen here, one executemany
per table and chunk):

    10,000 published packages of 1,000 providers in one agency's pool, 50,000 enterprises,
    200,000 order lines in every state with their acceptance history, reviews and tickets,
    20,000 vouchers with their ledgers and reservations, 5,000 outcome contracts with
    250,000 measurements.

    .venv/bin/python bench/dataset.py [DATABASE_URL] [--scale 1.0] [--packages 100000]

The database is emptied and migrated first (SQLite file or PostgreSQL database). ``--scale``
shrinks everything for a quick try (0.01 is 2,000 lines). ``--packages`` sets the catalogue's
size alone (ten packages a provider; the search benchmark's catalogue is 100,000), the rest
stays as ``--scale`` has it. Packages have Chinese titles, summaries and descriptions made from
their category's and industries' words (``catalogue_text.py``); providers have company names.
Last, the app rebuilds its search index over the published versions (timed), and the
database's statistics are refreshed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue_text import interfaces, package_text, provider_names

from marketplace import migrate
from marketplace.accounts.passwords import hash_password
from marketplace.db import Base, make_engine
from marketplace.models import AuditEntry  # noqa: F401  (every table known)
from marketplace.orders.models import whole_days

CATEGORIES = [
    "aps",
    "crm",
    "data_platform",
    "design_3d",
    "energy_management",
    "equipment_networking",
    "erp",
    "industrial_security",
    "mes",
    "predictive_maintenance",
    "production_visualisation",
    "quality_traceability",
    "training_advisory",
    "wms",
]
INDUSTRIES = [
    "auto_parts",
    "building_materials",
    "chemicals",
    "electronics",
    "food",
    "furniture",
    "hardware",
    "machining",
    "pharma",
    "textile",
]
REGIONS = ["130102", "130104", "130105", "130108", "130111", "350203", "350205", "350206"]
SIZE_TIER_SETS = [
    ("micro", "small"),
    ("micro", "small"),
    ("small", "medium"),
    ("micro", "small", "medium"),
    ("medium",),
]
DEPLOYMENTS = ["saas", "saas", "saas", "hybrid", "on_premises"]
STATES = [  # (status, share of lines)
    ("placed", 5),
    ("accepted", 5),
    ("rejected", 3),
    ("cancelled", 3),
    ("in_delivery", 10),
    ("delivered", 6),
    ("disputed", 2),
    ("completed", 66),
]
PASSWORD = "zhuanxing2026"
NORMAL_RESOLUTION_HOURS = 120  # TICKET_RESOLUTION_HOURS' default for "normal"
BUYERS = 400
NOW = datetime.now(UTC)
CHUNK = 5_000


USAGE_LINES = 20  # accepted lines on usage plans, for the usage-ingestion scenario


def T(name: str) -> Table:
    return Base.metadata.tables[name]


def chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load(engine: Engine, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert in chunks; rows of one shape go together (an executemany takes the first row's
    columns for all)."""
    n = 0
    with engine.begin() as conn:
        for batch in chunks(rows):
            shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
            for row in batch:
                shapes.setdefault(frozenset(row), []).append(row)
            for same in shapes.values():
                conn.execute(insert(T(table)), same)
            n += len(batch)
    return n


def credit_code(prefix: str, n: int) -> str:
    return f"{prefix}{n:016d}"[:18]


def build(
    url: str, scale: float = 1.0, seed: int = 2026, n_packages: int | None = None
) -> dict[str, int]:
    rng = random.Random(seed)
    words = random.Random(seed + 1)  # the catalogue's text, apart: the orders stay the same
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        path = Path(url.removeprefix("sqlite:///"))
        path.unlink(missing_ok=True)
    migrate.upgrade(engine)

    n_providers = max(10, int(1_000 * scale))
    if n_packages is None:
        n_packages = n_providers * 10
    else:  # ten packages a provider
        n_providers = max(1, -(-n_packages // 10))
    n_enterprises = max(100, int(50_000 * scale))
    n_lines = max(200, int(200_000 * scale))
    n_vouchers = max(50, int(20_000 * scale))
    n_contracts = max(10, int(5_000 * scale))
    counts: dict[str, int] = {}
    password = hash_password(PASSWORD)

    # Organisations: 1 agency, 1 assessor, providers, enterprises; an owner each for the first.
    agency_id, assessor_id = 1, 2
    providers = range(3, 3 + n_providers)

    def provider_of(package: int) -> int:  # package: 0-based
        return providers[package * n_providers // n_packages]

    enterprises = range(providers.stop, providers.stop + n_enterprises)
    orgs: list[dict[str, Any]] = [
        {
            "id": agency_id,
            "kind": "agency",
            "name": "石家庄市工业和信息化局",
            "credit_code": credit_code("11", 1),
        },
        {
            "id": assessor_id,
            "kind": "assessor",
            "name": "数字化转型评估中心",
            "credit_code": credit_code("12", 2),
        },
    ]
    orgs += [
        {
            "id": i,
            "kind": "provider",
            "name": name,
            "credit_code": credit_code("91", i),
            "provider_type": "integrator" if i % 10 == 0 else "scenario",
            "contact_phone": f"0311-{i:08d}",
        }
        for i, name in zip(providers, provider_names(n_providers, words), strict=True)
    ]
    orgs += [
        {
            "id": i,
            "kind": "enterprise",
            "name": f"企业{i:06d}制造有限公司",
            "credit_code": credit_code("92", i),
            "industry_code": INDUSTRIES[i % len(INDUSTRIES)],
            "region_code": REGIONS[i % len(REGIONS)],
            "employees": 10 + i % 400,
            "annual_revenue_fen": (200 + i % 5_000) * 10_000 * 100,
        }
        for i in enterprises
    ]
    counts["organisations"] = load(engine, "organisations", orgs)
    # owners: the agency, the assessor, 20 providers and BUYERS enterprises (each holding an
    # unused voucher: the checkout scenario orders with them)
    owners = [agency_id, assessor_id, *providers[:20], *enterprises[:BUYERS]]
    counts["users"] = load(
        engine,
        "users",
        (
            {
                "id": n + 1,
                "org_id": org,
                "email": f"bench{org}@bench.demo",
                "name": f"用户{org}",
                "role": "owner",
                "session_token": f"s{org}",
                "password_hash": password,
                "email_confirmed_at": NOW,  # ordering needs a confirmed address
            }
            for n, org in enumerate(owners)
        ),
    )
    counts["pool_memberships"] = load(
        engine,
        "pool_memberships",
        (
            {
                "provider_id": p,
                "agency_id": agency_id,
                "status": "admitted",
                "years_in_business": 5,
                "reference_customer_count": 3,
                "reference_customers": "甲乙丙",
                "capability_statement": "能力说明",
                "contact_name": "王工",
                "contact_phone": "138",
                "contact_email": "bd@p.cn",
            }
            for p in providers
        ),
    )

    # Packages: ten per provider, one published version each with three plans.
    def packages() -> Iterator[dict[str, Any]]:
        for k in range(n_packages):
            yield {
                "id": k + 1,
                "provider_id": provider_of(k),
                "published_version_id": None,
                "rating_sum": 0,
                "rating_count": 0,
            }

    counts["packages"] = load(engine, "packages", packages())
    versions, served, tiers, connects = [], [], [], []
    for k in range(n_packages):
        category = CATEGORIES[k % len(CATEGORIES)]
        text_ = package_text(category, words)
        served += [{"version_id": k + 1, "industry_code": code} for code in text_.industries]
        tiers += [
            {"version_id": k + 1, "tier": tier}
            for tier in words.choice(SIZE_TIER_SETS)  # "small" in four of five
        ]
        connects += [
            {"version_id": k + 1, "flow": flow, "protocol_code": protocol, "data_object_code": data}
            for flow, protocol, data in interfaces(category, words)
        ]
        versions.append(
            {
                "id": k + 1,
                "package_id": k + 1,
                "number": 1,
                "status": "published",
                "title": text_.title,
                "summary": text_.summary,
                "description": text_.description,
                "tags": text_.tags,
                "category_code": category,
                "deployment": words.choice(DEPLOYMENTS),
                "go_live_days": 7 + k % 60,
                "sla_response_hours": 4 + k % 20,
                "entry_price_fen": (2_000 + k % 50 * 100) * 100,
                "published_at": NOW - timedelta(days=k % 300),
            }
        )
    counts["package_versions"] = load(engine, "package_versions", versions)
    with engine.begin() as conn:
        conn.execute(text("UPDATE packages SET published_version_id = id"))
    plans = []
    for k in range(n_packages):
        base = 3 * k
        plans += [
            {
                "id": base + 1,
                "version_id": k + 1,
                "position": 0,
                "kind": "one_time",
                "name": "一次性买断",
                "amount_fen": (20_000 + k % 50 * 1_000) * 100,
            },
            {
                "id": base + 2,
                "version_id": k + 1,
                "position": 1,
                "kind": "subscription",
                "name": "年度订阅",
                "monthly_fen": (1_000 + k % 30 * 100) * 100,
                "term_months": 12,
            },
            {
                "id": base + 3,
                "version_id": k + 1,
                "position": 2,
                "kind": "outcome",
                "name": "按效果付费",
                "metric_code": "defect_rate",
                "target_kind": "relative",
                "target_value": Decimal("10"),
                "fee_rule": "fixed",
                "success_fee_fen": 30_000_00,
                "base_fee_fen": 5_000_00,
                "window_days": 90,
            },
        ]
    counts["price_plans"] = load(engine, "price_plans", plans)
    counts["version_interfaces"] = load(engine, "version_interfaces", connects)
    load(engine, "version_industries", served)
    load(engine, "version_size_tiers", tiers)

    # Orders: two lines each, every state; 5 % of the accepted lines are outcome contracts.
    weights = [w for _s, w in STATES]
    statuses = [s for s, _w in STATES]
    orders, lines, changes, reviews, tickets = [], [], [], [], []
    outcome_lines: list[tuple[int, int, int, int]] = []  # line, enterprise, provider, package
    for n in range(n_lines // 2):
        enterprise = enterprises[n % n_enterprises]
        placed = NOW - timedelta(days=rng.randint(1, 365), minutes=rng.randint(0, 1440))
        orders.append(
            {
                "id": n + 1,
                "number": f"ZX{placed:%Y%m%d}-{n + 1:06d}",
                "enterprise_id": enterprise,
                "created_at": placed,
            }
        )
        for j in range(2):
            line_id = 2 * n + j + 1
            package = rng.randrange(n_packages)
            status = rng.choices(statuses, weights)[0]
            outcome = status == "completed" and len(outcome_lines) < n_contracts and j == 1
            plan = 3 * package + (3 if outcome else 1 + (line_id % 2))
            provider = provider_of(package)
            amount = (20_000 + package % 50 * 1_000) * 100
            delivered = placed + timedelta(days=rng.randint(5, 40))
            accepted = delivered + timedelta(days=rng.randint(1, 10))
            went_live = status in ("delivered", "disputed", "completed")
            lines.append(
                {
                    "id": line_id,
                    "order_id": n + 1,
                    "enterprise_id": enterprise,  # the order's, copied (a composite key)
                    "kind": "package",
                    "package_id": package + 1,
                    "version_id": package + 1,
                    "plan_id": plan,
                    "provider_id": provider,
                    "title": versions[package]["title"],
                    "plan_kind": "outcome"
                    if outcome
                    else ("one_time" if plan % 3 == 1 else "subscription"),
                    "plan_name": "方案",
                    "amount_fen": amount,
                    "committed_fen": amount,
                    "status": status,
                    "category_code": CATEGORIES[package % len(CATEGORIES)],
                    "delivered_at": delivered if went_live else None,
                    "accepted_at": accepted if status == "completed" else None,
                    "created_at": placed,
                    # as the line's transitions store them
                    "days_to_go_live": whole_days(placed, delivered) if went_live else None,
                    "days_to_acceptance": whole_days(placed, accepted)
                    if status == "completed"
                    else None,
                }
            )
            if status == "completed":
                changes.append(
                    {
                        "line_id": line_id,
                        "from_status": "delivered",
                        "to_status": "completed",
                        "event": "accept_delivery",
                        "actor_kind": "enterprise",
                        "at": accepted,
                    }
                )
                if rng.random() < 0.3:
                    reviews.append(
                        {
                            "line_id": line_id,
                            "package_id": package + 1,
                            "enterprise_id": enterprise,
                            "rating": rng.choice([3, 4, 4, 5, 5]),
                            "created_at": accepted,
                        }
                    )
                if rng.random() < 0.1:
                    opened = accepted + timedelta(days=3)
                    tickets.append(
                        {
                            "line_id": line_id,
                            "enterprise_id": enterprise,
                            "provider_id": provider,
                            "severity": "normal",
                            "status": "open",  # not answered yet
                            "description": "报表导出超时",
                            "opened_at": opened,
                            "respond_by": opened + timedelta(hours=8),
                            "resolve_by": opened + timedelta(hours=NORMAL_RESOLUTION_HOURS),
                            "breached": rng.random() < 0.2,
                        }
                    )
                if outcome:
                    outcome_lines.append((line_id, enterprise, provider, package + 1))
    counts["orders"] = load(engine, "orders", orders)
    counts["order_lines"] = load(engine, "order_lines", lines)
    counts["line_status_changes"] = load(engine, "line_status_changes", changes)
    counts["reviews"] = load(engine, "reviews", reviews)
    counts["tickets"] = load(engine, "tickets", tickets)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE packages SET rating_sum = (SELECT coalesce(sum(rating), 0) FROM reviews"
                " WHERE reviews.package_id = packages.id), rating_count = (SELECT count(*) FROM"
                " reviews WHERE reviews.package_id = packages.id)"
            )
        )

    # Vouchers: one open programme; each voucher holds one line's subsidy, reserved or redeemed.
    face = 20_000_00
    with engine.begin() as conn:
        conn.execute(
            insert(T("voucher_programmes")),
            {
                "id": 1,
                "agency_id": agency_id,
                "name": "2026 年中小企业数字化转型券",
                "status": "open",
                "mode": "open",
                "budget_fen": face * n_vouchers * 2,
                "face_value_fen": face,
                "rate_bp": 5_000,
                "cap_fen": face,
                "issue_from": date.today() - timedelta(days=200),
                "redeem_by": date.today() + timedelta(days=200),
                "issued_fen": face * n_vouchers,
            },
        )
    vouchers, entries, reservations = [], [], []
    line_of = {line["id"]: line for line in lines}
    for v in range(n_vouchers):
        line = line_of.get(2 * v + 1)
        enterprise = enterprises[v % n_enterprises]
        record = {
            "id": v + 1,
            "code": f"ZXQ-BNCH-{v + 1:04d}-{v % 9973:04d}-0000",
            "programme_id": 1,
            "enterprise_id": enterprise,
            "face_value_fen": face,
            "cap_fen": face,
            "status": "active",
            "issued_at": NOW - timedelta(days=150),
        }
        entries.append(
            {
                "voucher_id": v + 1,
                "kind": "issue",
                "amount_fen": face,
                "at": NOW - timedelta(days=150),
            }
        )
        usable = (
            v >= BUYERS  # the buyers' vouchers stay whole for the checkout scenario
            and line is not None
            and line["status"] not in ("rejected", "cancelled")
        )
        if (
            usable
            and line["order_id"]
            and orders[line["order_id"] - 1]["enterprise_id"] == enterprise
        ):
            amount = min(face, line["committed_fen"] // 2)
            done = line["status"] == "completed"
            record["redeemed_fen" if done else "reserved_fen"] = amount
            reservation_id = len(reservations) + 1
            reservations.append(
                {
                    "id": reservation_id,
                    "voucher_id": v + 1,
                    "programme_id": 1,
                    "order_line_id": line["id"],
                    "provider_id": line["provider_id"],
                    "enterprise_id": enterprise,
                    "amount_fen": amount,
                    "line_amount_fen": line["committed_fen"],
                    "status": "redeemed" if done else "reserved",
                    "created_at": line["created_at"],
                }
            )
            entries.append(
                {
                    "voucher_id": v + 1,
                    "kind": "reserve",
                    "amount_fen": amount,
                    "reservation_id": reservation_id,
                    "at": line["created_at"],
                }
            )
            if done:
                entries.append(
                    {
                        "voucher_id": v + 1,
                        "kind": "redeem",
                        "amount_fen": amount,
                        "reservation_id": reservation_id,
                        "at": line["delivered_at"],
                    }
                )
        vouchers.append(record)
    counts["vouchers"] = load(engine, "vouchers", vouchers)
    counts["voucher_reservations"] = load(engine, "voucher_reservations", reservations)
    counts["voucher_entries"] = load(engine, "voucher_entries", entries)

    # Outcome contracts, measuring, with fifty measurements each.
    contracts, measurements = [], []
    for c, (line_id, enterprise, provider, _package) in enumerate(outcome_lines):
        start = date.today() - timedelta(days=60)
        contracts.append(
            {
                "id": c + 1,
                "order_line_id": line_id,
                "enterprise_id": enterprise,
                "provider_id": provider,
                "title": "不良率下降（按效果付费）",
                "status": "measuring",
                "metric_code": "defect_rate",
                "better": "lower",
                "target_kind": "relative",
                "target_value": Decimal("10"),
                "fee_rule": "fixed",
                "success_fee_fen": 30_000_00,
                "base_fee_fen": 5_000_00,
                "window_days": 90,
                "baseline_value": Decimal("3.2"),
                "window_start": start,
                "window_end": start + timedelta(days=90),
            }
        )
        for m in range(50):
            day = start + timedelta(days=m)
            measurements.append(
                {
                    "contract_id": c + 1,
                    "external_id": f"mes-{c + 1}-{m}",
                    "period_start": day,
                    "period_end": day,
                    "value": Decimal("3.2") - Decimal(m % 7) / 10,
                    "status": "confirmed" if m < 40 else "submitted",
                    "source": "api",
                }
            )
    counts["outcome_contracts"] = load(engine, "outcome_contracts", contracts)
    counts["measurements"] = load(engine, "measurements", measurements)

    # Usage plans (billed by the month for reported report calls) on the first packages, each
    # with one accepted line on an existing order: the usage-ingestion scenario posts to them.
    # Added after everything else, with ids after the others, so no other row changes.
    usage_plans, usage_lines = [], []
    first_plan, first_line = 3 * n_packages, max(line["id"] for line in lines)
    old_orders = [o for o in orders if o["created_at"] < NOW - timedelta(days=30)]
    for k in range(min(USAGE_LINES, n_packages, len(old_orders))):
        usage_plans.append(
            {
                "id": first_plan + k + 1,
                "version_id": k + 1,
                "position": 3,
                "kind": "usage",
                "name": "按报告调用量计费",
                "usage_unit": "report_calls",
                "unit_price_fen": 50,
                "included_quantity": 1_000,
                "cap_fen": 5_000_00,
            }
        )
        order = old_orders[k]
        accepted = order["created_at"] + timedelta(days=20)
        usage_lines.append(
            {
                "id": first_line + k + 1,
                "order_id": order["id"],
                "enterprise_id": order["enterprise_id"],
                "kind": "package",
                "package_id": k + 1,
                "version_id": k + 1,
                "plan_id": first_plan + k + 1,
                "provider_id": provider_of(k),
                "title": versions[k]["title"],
                "plan_kind": "usage",
                "plan_name": "按报告调用量计费",
                "committed_fen": 0,
                "status": "completed",
                "category_code": CATEGORIES[k % len(CATEGORIES)],
                "delivered_at": accepted - timedelta(days=1),  # from the order's day on
                "accepted_at": accepted,
                "created_at": order["created_at"],
                "days_to_go_live": whole_days(order["created_at"], accepted - timedelta(days=1)),
                "days_to_acceptance": whole_days(order["created_at"], accepted),
            }
        )
    counts["price_plans"] += load(engine, "price_plans", usage_plans)
    counts["usage_lines"] = load(engine, "order_lines", usage_lines)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # the ids above were chosen here, not by the sequences
            for table in (
                "organisations",
                "users",
                "packages",
                "package_versions",
                "price_plans",
                "orders",
                "order_lines",
                "voucher_programmes",
                "vouchers",
                "voucher_reservations",
                "outcome_contracts",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()
    return counts


def rebuild_search_index(url: str) -> tuple[int, float]:
    """Rebuild the search index through the app, as ``flask search rebuild`` does (the bulk
    inserts above bypassed the ORM, which keeps it in step): its documents and seconds."""
    from marketplace import create_app
    from marketplace.catalog import search_index
    from marketplace.config import Config
    from marketplace.db import db, writing

    config = Config()
    config.SECRET_KEY = "bench"
    config.DATABASE_URL = url
    config.LOG_FORMAT = "text"
    app = create_app(config)
    with app.app_context():
        started = time.perf_counter()
        with writing():
            documents = search_index.rebuild()
            search_index.refresh_common()
            db.session.commit()
        return documents, time.perf_counter() - started


def analyze(url: str) -> None:
    """Fresh planner statistics for every table, the search index's included; on PostgreSQL
    a VACUUM too, which merges the GIN indexes' pending lists into the indexes, as a running
    server's autovacuum soon would (until then each search reads the pending entries too)."""
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="sqlite:////tmp/bench.sqlite3")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--packages",
        type=int,
        default=None,
        help="published packages, ten a provider (default: 10,000 times --scale)",
    )
    args = parser.parse_args()
    database = args.url.split(":", 1)[0]
    started = time.perf_counter()
    counts = build(args.url, args.scale, n_packages=args.packages)
    elapsed = time.perf_counter() - started
    print(", ".join(f"{v:,} {k}" for k, v in counts.items()))
    print(f"built in {elapsed:.1f} s on {database}")
    documents, seconds = rebuild_search_index(args.url)
    print(f"search index rebuilt: {documents:,} documents in {seconds:.1f} s")
    started = time.perf_counter()
    analyze(args.url)
    print(f"VACUUM / ANALYZE in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
