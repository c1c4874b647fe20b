"""The concentration figures the database computes (shares, ranks, HHI, the summed-up rest)
against a straightforward computation in Python, on small random markets."""

from __future__ import annotations

import random
from collections import defaultdict
from fractions import Fraction

import pytest
from sqlalchemy import literal, select

from marketplace.orders.models import LineStatus, Order, OrderLine
from marketplace.oversight import concentration
from marketplace.oversight.concentration import Market, ProviderName, Share
from marketplace.vouchers.models import Reservation, ReservationStatus, Voucher, VoucherStatus
from tests.factories import OrganisationFactory
from tests.functional.catalog_helpers import published_package, services
from tests.functional.voucher_helpers import ONE_TIME, pilot

CATEGORIES = ("equipment_networking", "mes", "erp")


def test_hhi_rounds_a_half_to_even_in_python_and_in_sql(app, app_ctx):
    sums = [0, 4_999, 5_000, 5_001, 15_000, 25_000, 25_001, 38_000_000, 100_000_000]
    expected = [round(Fraction(n, 10_000)) for n in sums]  # Python rounds a half to even
    assert [concentration.hhi(n) for n in sums] == expected == [0, 0, 0, 1, 2, 2, 3, 3800, 10000]
    in_sql = app_ctx.execute(select(*(concentration.hhi_sql(literal(n)) for n in sums))).one()
    assert list(in_sql) == expected


def reference(rows, shown):
    """The markets from (category, provider id, name, line id, amount) of the redeemed
    reservations, the plain way: as (category, listed shares, totals, HHIs, rest)."""
    money: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    lines: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    names = {}
    for category, provider, name, line, amount in rows:
        names[provider] = name
        for market in (category, concentration.ALL):
            money[market][provider] += amount
            lines[market][provider].add(line)
    found = []
    for market in sorted(money, key=lambda m: (m == concentration.ALL, m)):
        value = sum(money[market].values())
        orders = sum(len(s) for s in lines[market].values())
        shares = []  # (-money, provider id, name, money, lines, money bp, lines bp)
        for provider, v in money[market].items():
            n = len(lines[market][provider])
            bp = (v * 10_000 // value, n * 10_000 // orders)
            shares.append((-v, provider, names[provider], v, n, *bp))
        shares.sort()
        listed = shares if shown is None else shares[:shown]
        others = [] if shown is None else shares[shown:]
        rest = (len(others), *(sum(s[k] for s in others) for k in (3, 4, 5, 6))) if others else None
        found.append(
            (
                market,
                [s[1:] for s in listed],
                value,
                orders,
                round(Fraction(sum(s[5] ** 2 for s in shares), 10_000)),
                round(Fraction(sum(s[6] ** 2 for s in shares), 10_000)),
                rest,
            )
        )
    return found


def as_tuples(markets):
    return [
        (
            m.category,
            [
                (s.provider.id, s.provider.name, s.value_fen, s.orders, s.value_bp, s.orders_bp)
                for s in m.shares
            ],
            m.value_fen,
            m.orders,
            m.hhi_value,
            m.hhi_orders,
            tuple(m.rest) if m.rest else None,
        )
        for m in markets
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_databases_figures_are_the_plain_computations(app, dbs, seed):
    rng = random.Random(seed)
    p = pilot(app, dbs, tag=f"conc{seed}")
    programme, other_programme = p.programme(), p.programme(name="另一个转型券项目")
    versions = {
        category: published_package(
            app, dbs, p.provider, p.provider_owner, plans=(ONE_TIME,), category_code=category
        )
        for category in CATEGORIES
    }
    for package in versions.values():
        dbs.refresh(package)
    # more providers than a market lists, a few with the same money (ties go by id)
    providers = [p.provider] + [OrganisationFactory(provider=True) for _ in range(21)]
    order = Order(number=f"T{seed}-1", enterprise_id=p.enterprise.id)
    dbs.add(order)
    vouchers = {}
    for n, prog in enumerate((programme, other_programme)):
        vouchers[prog.id] = Voucher(
            code=f"ZXQ-T{seed}{n}",
            programme_id=prog.id,
            enterprise_id=p.enterprise.id,
            face_value_fen=10**9,
            cap_fen=10**9,
            status=VoucherStatus.ACTIVE,
        )
        dbs.add(vouchers[prog.id])
    dbs.flush()
    redeemed = []
    for n in range(rng.randint(60, 120)):
        # the first lines give every provider a share; then some providers sell much more
        first = n < len(providers)
        provider = providers[n] if first else rng.choice(providers[: rng.choice([3, 8, 22])])
        category = rng.choice([*CATEGORIES, None])  # None: an integration fee
        package = versions[category] if category else None
        line = OrderLine(
            order_id=order.id,
            kind="package" if package else "integration",
            package_id=package.id if package else None,
            version_id=package.published_version_id if package else None,
            plan_id=package.published_version.plans[0].id if package else None,
            provider_id=provider.id,
            title=f"线 {n}",
            plan_kind="one_time",
            plan_name="一次性买断",
            committed_fen=10**8,
            status=LineStatus.COMPLETED,
            category_code=category,
        )
        dbs.add(line)
        dbs.flush()
        # one or two reservations on a line (its base and success fee), some not redeemed,
        # some of another programme
        for success_fee in (False, True)[: rng.choice([1, 1, 2])]:
            amount = rng.choice([1, 5_000_00, 5_000_00, 12_345_67, 20_000_00])
            status = rng.choice([ReservationStatus.REDEEMED] * 4 + [ReservationStatus.RESERVED])
            prog = rng.choice([programme] * 5 + [other_programme])
            if first and not success_fee:
                status, prog = ReservationStatus.REDEEMED, programme
            dbs.add(
                Reservation(
                    voucher_id=vouchers[prog.id].id,
                    programme_id=prog.id,
                    order_line_id=line.id,
                    provider_id=provider.id,
                    enterprise_id=p.enterprise.id,
                    amount_fen=amount,
                    line_amount_fen=10**8,
                    for_success_fee=success_fee,
                    status=status,
                )
            )
            if prog is programme and status is ReservationStatus.REDEEMED:
                market = category or concentration.INTEGRATION
                redeemed.append((market, provider.id, provider.name, line.id, amount))
    dbs.flush()

    with services(app, dbs):
        for shown in (None, 0, 3, concentration.SHOWN_PER_MARKET):
            found = concentration.markets(programme, shown)
            assert as_tuples(found) == reference(redeemed, shown), shown
        every = concentration.markets(programme, shown=None)
        page = concentration.markets(programme)
    assert len(page) == 5  # three categories, integration, all
    assert page[-1].rest is not None and page[-1].rest.providers == len(providers) - 15
    # Market.of, the definition in Python, agrees with the database on every market
    for market, listed in zip(every, page, strict=True):
        again = Market.of(
            market.category,
            [Share(ProviderName(*s.provider), s.value_fen, s.orders) for s in market.shares],
        )
        assert as_tuples([again])[0][:6] == as_tuples([market])[0][:6]  # shares, totals, HHI
        assert as_tuples([listed])[0][2:] == as_tuples([again])[0][2:]  # and the rest
        assert listed.shares == again.shown
