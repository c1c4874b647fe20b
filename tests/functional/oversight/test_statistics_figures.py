"""The statistics' grouped queries against a straightforward computation in Python, on small
random order books: lines by category, median days to go-live and to acceptance, the
enterprises served and their maturity, with and without filters and a jurisdiction."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from marketplace.db import LOCAL_ZONE, utcnow
from marketplace.orders.models import (
    LineStatus,
    Order,
    OrderLine,
    Severity,
    Ticket,
    TicketStatus,
)
from marketplace.outcomes.models import ContractStatus
from marketplace.oversight import stats
from marketplace.vouchers.models import EntryKind, VoucherEntry
from tests.factories import OrganisationFactory, diagnosis
from tests.functional.catalog_helpers import services
from tests.functional.grant_helpers import outcome_contract
from tests.functional.voucher_helpers import pilot

CATEGORIES = ("equipment_networking", "mes", "erp")
INDUSTRIES = ("machining", "electronics", "food")
REGIONS = ("130102", "130104", "350203")
SIZES = ((10, 1_000_000_00), (50, 5_000_000_00), (400, 30_000_000_00))  # micro, small, medium
DEAD = (LineStatus.REJECTED, LineStatus.CANCELLED)


def random_line(dbs, rng, p, outsider, number: str, enterprise, **fields) -> OrderLine:
    """A line of a new order of ``enterprise``: the pilot's package in a random category, or
    an integration fee; from the pilot's provider or, one time in six, from ``outsider``
    (not in the agency's pool); in a random status. ``fields``: its money and times."""
    order = Order(number=number, enterprise_id=enterprise.id)
    dbs.add(order)
    dbs.flush()
    version = p.package.published_version
    category = rng.choice([*CATEGORIES, None])  # None: an integration fee
    line = OrderLine(
        order=order,
        kind="package" if category else "integration",
        package_id=p.package.id if category else None,
        version_id=version.id if category else None,
        plan_id=version.plans[0].id if category else None,
        provider_id=rng.choice([p.provider.id] * 5 + [outsider.id]),
        title=f"线 {number}",
        plan_kind="one_time",
        plan_name="一次性买断",
        status=rng.choice(list(LineStatus)),
        category_code=category,
        **fields,
    )
    dbs.add(line)
    return line


def whole_days(start: datetime, end: datetime | None) -> int | None:
    return None if end is None else int((end - start).total_seconds() // 86_400)


def median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


def expected(lines, enterprises, levels, in_pool, prefix, f):
    """The line and enterprise tables from the rows themselves."""

    def placed_there(e) -> bool:
        return (
            (prefix is None or e.region_code.startswith(prefix))
            and (f.industry is None or e.industry_code == f.industry)
            and (f.region is None or e.region_code.startswith(f.region.rstrip("0")))
        )

    since = f.since and datetime.combine(f.since, time(), LOCAL_ZONE)
    until = f.until and datetime.combine(f.until + timedelta(days=1), time(), LOCAL_ZONE)
    scope = [
        line
        for line, enterprise in lines
        if line.provider_id in in_pool
        and placed_there(enterprise)
        and (since is None or line.created_at >= since)
        and (until is None or line.created_at < until)
        and (f.category is None or (line.category_code or "integration") == f.category)
    ]
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    days: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for line in scope:
        key = line.category_code or "integration"
        by_category[key][0] += 1
        by_category[key][1] += 0 if line.status in DEAD else line.committed_fen
        for slot, moment in enumerate((line.delivered_at, line.accepted_at)):
            if moment is not None:
                for k in (key, "all"):
                    days[k][slot].append(whole_days(line.created_at, moment))
    lead = {"all": (None, None)} | {k: (median(a), median(b)) for k, (a, b) in days.items()}
    served_ids = {line.order.enterprise_id for line in scope}
    served = [e for e in enterprises if e.id in served_ids]
    tables = {
        "orders_category": sorted(
            ((k, n, fen) for k, (n, fen) in by_category.items()), key=lambda r: (-r[1], r[0])
        ),
        "lead_times": sorted(
            ((k, *v) for k, v in lead.items()), key=lambda r: (r[0] == "all", r[0])
        ),
    }
    for dimension, key in (
        ("industry", lambda e: e.industry_code),
        ("size", lambda e: e.size_tier.value),
        ("region", lambda e: e.region_code),
    ):
        counts: dict[str, int] = defaultdict(int)
        for e in served:
            counts[key(e)] += 1
        tables[f"enterprises_{dimension}"] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    maturity = {level: [0, 0] for level in range(1, 6)}
    for e in served:
        if len(levels.get(e.id, [])) >= 2:
            maturity[levels[e.id][0]][0] += 1
            maturity[levels[e.id][-1]][1] += 1
    tables["maturity"] = [(level, *pair) for level, pair in maturity.items()]
    return tables


@pytest.mark.parametrize("seed", [1, 2])
def test_the_grouped_figures_are_the_plain_computations(app, dbs, count_queries, seed):
    rng = random.Random(seed)
    p = pilot(app, dbs, tag=f"stats{seed}")
    p.issue_to(p.programme())
    outsider = OrganisationFactory(provider=True)  # not in the agency's pool
    enterprises = [p.enterprise]
    for _n in range(12):
        employees, revenue = rng.choice(SIZES)
        enterprises.append(
            OrganisationFactory(
                industry_code=rng.choice(INDUSTRIES),
                region_code=rng.choice(REGIONS),
                employees=employees,
                annual_revenue_fen=revenue,
            )
        )
    levels: dict[int, list[int]] = {}
    for e in enterprises[1:]:
        levels[e.id] = [rng.randint(1, 5) for _ in range(rng.choice([0, 1, 2, 3]))]
        for level in levels[e.id]:
            dbs.add(diagnosis(e.id, level))
    now = utcnow()
    lines = []
    for n in range(rng.randint(50, 90)):
        enterprise = rng.choice(enterprises)
        created = now - timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23))
        delivered = accepted = None
        if rng.random() < 0.7:
            delivered = created + timedelta(days=rng.randint(0, 30), hours=rng.randint(1, 20))
            if rng.random() < 0.7:
                accepted = delivered + timedelta(days=rng.randint(0, 9), hours=rng.randint(1, 3))
        line = random_line(
            dbs,
            rng,
            p,
            outsider,
            f"S{seed}-{n}",
            enterprise,
            committed_fen=rng.choice([1_000_00, 25_000_00, 60_000_00]),
            created_at=created,
            delivered_at=delivered,
            accepted_at=accepted,
        )
        lines.append((line, enterprise))
    dbs.commit()
    for line, e in lines:  # the times as the database gives them back
        dbs.refresh(line)
        assert line.enterprise_id == e.id  # its order's, written with it

    today = date.today()
    filters = [
        stats.Filters(),
        stats.Filters(category="mes"),
        stats.Filters(category="integration"),
        stats.Filters(industry="electronics"),
        stats.Filters(region="130100"),
        stats.Filters(since=today - timedelta(days=60), until=today - timedelta(days=10)),
    ]
    for jurisdiction in (None, "350200"):
        p.agency.region_code = jurisdiction
        dbs.commit()
        assert p.agency.jurisdiction == jurisdiction  # (it has no credit code)
        prefix = jurisdiction and jurisdiction.rstrip("0")
        for f in filters:
            with services(app, dbs):
                dbs.refresh(p.agency)
                count_queries.count = 0
                found = stats.every_section(p.agency, f)
                # whatever the lines: the programmes and their money (4), the months' ledger,
                # the pool's providers, the enterprises, the lines, the outcome contracts and
                # the tickets
                assert count_queries.count == 10
            want = expected(lines, enterprises, levels, {p.provider.id}, prefix, f)
            for key, rows in want.items():
                assert found[key].rows == rows, (jurisdiction, f, key)


SEVERITIES = list(Severity)
CONTRACT_STATUSES = list(ContractStatus)


@pytest.mark.parametrize("seed", [3, 4])
def test_months_tickets_and_contracts_are_the_plain_computations(app, dbs, seed):
    """The voucher money by month (grouped by the month's first moment on PostgreSQL), the
    tickets by severity and the outcome contracts by result (their lines found through the
    lines' index by id) against the rows themselves, with filters and a jurisdiction."""
    rng = random.Random(seed)
    p = pilot(app, dbs, tag=f"months{seed}")
    voucher = p.issue_to(p.programme())
    other_agency_voucher = pilot(app, dbs, tag=f"other{seed}")
    other_agency_voucher.issue_to(other_agency_voucher.programme())
    now = utcnow()
    for _n in range(40):  # the ledger across months, some entries on a month's edge
        at = now - timedelta(days=rng.randint(0, 400), hours=rng.randint(0, 23))
        if rng.random() < 0.2:  # local midnight of a month's first day, and just before it
            first = datetime.combine(
                (at.astimezone(LOCAL_ZONE).date()).replace(day=1), time(), LOCAL_ZONE
            )
            at = first - timedelta(milliseconds=rng.choice([0, 1]))  # (SQLite: ms)
        kind = rng.choice(list(EntryKind))
        dbs.add(
            VoucherEntry(
                voucher_id=voucher.id, kind=kind, amount_fen=rng.randint(1, 9) * 100, at=at
            )
        )
    outsider = OrganisationFactory(provider=True)  # not in the agency's pool
    enterprises = [p.enterprise] + [
        OrganisationFactory(region_code=rng.choice(REGIONS)) for _n in range(4)
    ]
    lines = []
    for n in range(rng.randint(40, 60)):
        enterprise = rng.choice(enterprises)
        line = random_line(
            dbs,
            rng,
            p,
            outsider,
            f"M{seed}-{n}",
            enterprise,
            committed_fen=1_000_00,
            created_at=now - timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23)),
        )
        dbs.flush()
        tickets = []
        for _t in range(rng.choice([0, 0, 1, 2, 3])):
            ticket = Ticket(
                line_id=line.id,
                enterprise_id=enterprise.id,
                provider_id=line.provider_id,
                severity=rng.choice(SEVERITIES),
                status=TicketStatus.OPEN,
                description="坏了",
                respond_by=now + timedelta(hours=4),
                resolve_by=now + timedelta(days=2),
                breached=rng.random() < 0.3,
            )
            dbs.add(ticket)
            tickets.append(ticket)
        contract = None
        if rng.random() < 0.4:
            contract = outcome_contract(dbs, line)
            contract.status = rng.choice(CONTRACT_STATUSES)
            contract.fee_fen = rng.choice([None, 0, 5_000_00, 12_000_00])
        lines.append((line, enterprise, tickets, contract))
    dbs.commit()
    entries = list(dbs.scalars(select(VoucherEntry).where(VoucherEntry.voucher_id == voucher.id)))

    def want(f: stats.Filters, prefix: str | None) -> dict[str, list[tuple]]:
        since = f.since and datetime.combine(f.since, time(), LOCAL_ZONE)
        until = f.until and datetime.combine(f.until + timedelta(days=1), time(), LOCAL_ZONE)

        def within(moment: datetime) -> bool:
            return (since is None or moment >= since) and (until is None or moment < until)

        months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for e in entries:
            if within(e.at):
                month = months[e.at.astimezone(LOCAL_ZONE).strftime("%Y-%m")]
                for slot, kind in enumerate((EntryKind.ISSUE, EntryKind.REDEEM, EntryKind.SETTLE)):
                    month[slot] += e.amount_fen if e.kind == kind else 0
        by_severity: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        by_result: dict[ContractStatus, list[int]] = defaultdict(lambda: [0, 0])
        for line, enterprise, tickets, contract in lines:
            if not (
                line.provider_id == p.provider.id
                and within(line.created_at)
                and (prefix is None or enterprise.region_code.startswith(prefix))
                and (f.category is None or (line.category_code or "integration") == f.category)
            ):
                continue
            for t in tickets:
                by_severity[t.severity.value][0] += 1
                by_severity[t.severity.value][1] += int(t.breached)
            if contract is not None:
                by_result[contract.status][0] += 1
                by_result[contract.status][1] += contract.fee_fen or 0
        settled = (ContractStatus.MET, ContractStatus.MISSED)
        return {
            "burn": [(m, *sums) for m, sums in sorted(months.items())],
            "tickets": [(s, *counts) for s, counts in sorted(by_severity.items())],
            "outcomes": [
                ("met", by_result[ContractStatus.MET][0], by_result[ContractStatus.MET][1]),
                ("missed", by_result[ContractStatus.MISSED][0], 0),
                ("in_progress", sum(v[0] for s, v in by_result.items() if s not in settled), 0),
            ],
        }

    today = date.today()
    filters = [
        stats.Filters(),
        stats.Filters(category="mes"),
        stats.Filters(category="integration"),
        stats.Filters(since=today - timedelta(days=200), until=today - timedelta(days=20)),
    ]
    for jurisdiction in (None, "130100"):
        p.agency.region_code = jurisdiction
        dbs.commit()
        prefix = jurisdiction and jurisdiction.rstrip("0")
        for f in filters:
            with services(app, dbs):
                dbs.refresh(p.agency)
                found = stats.every_section(p.agency, f)
            expected_tables = want(f, prefix)
            for key, rows in expected_tables.items():
                assert found[key].rows == rows, (jurisdiction, f, key)


def test_postgresql_plans_statements_for_their_values(app, dbs):
    """PostgreSQL kept one generic plan for a statement psycopg had prepared, which cost the
    statistics' grouped statements twice their server CPU and slowed the uncached search:
    every connection of the app asks for plans made for the values."""
    if dbs.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    from sqlalchemy import text

    from marketplace.db import make_engine

    engine = make_engine(dbs.get_bind().engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
            conn.rollback()
            assert conn.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    finally:
        engine.dispose()
