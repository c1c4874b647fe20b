"""The mode-switch simulator's page and the concentration by routing integrator (issue 22),
on a programme's own orders."""

from __future__ import annotations

import re

from sqlalchemy import update

from marketplace.orders import services as orders
from marketplace.orders.models import LineEvent, OrderLine
from marketplace.oversight import concentration, simulator
from marketplace.security import Actor
from marketplace.vouchers import appointments
from marketplace.vouchers.models import ProgrammeMode, VoucherProgramme
from tests.functional.cap_helpers import buyer, cap_pilot, curated, make_rival, order, order_curated
from tests.functional.catalog_helpers import services
from tests.functional.voucher_helpers import selection

SYSTEM = Actor(None, None, None)
ACCEPTED = (LineEvent.ACCEPT, LineEvent.START, LineEvent.DELIVER, LineEvent.ACCEPT_DELIVERY)


def accept(app, dbs, placed):
    for line in placed.lines:
        for event in ACCEPTED:
            with services(app, dbs):
                kind = "enterprise" if event is LineEvent.ACCEPT_DELIVERY else "provider"
                orders.transition(line, event, "理由", SYSTEM, kind)


def market(app, dbs):
    """An open programme: a curated bundle of 甲's and 乙's packages (¥60,000 each) with a
    fee of ¥12,000, bought once by an enterprise with two vouchers (¥40,000); and 乙's
    package bought alone once. Everything accepted (验收)."""
    p = cap_pilot(app, dbs)
    rival = make_rival(app, dbs, p)
    programme = p.programme()
    bundle, integrator = curated(app, dbs, p, rival, 12_000_00)
    org, user = buyer(p, programme, 1)
    p.issue_to(programme, org)
    first = order_curated(p, org, user, bundle.id)
    second = order(p, *buyer(p, programme, 2), rival[1].id)
    accept(app, dbs, first)
    accept(app, dbs, second)
    return p, programme, rival[0], integrator, first, second


def test_concentration_counts_the_routing_integrator(app, client, dbs):
    p, programme, _rival, integrator, _first, _second = market(app, dbs)
    # redeemed: 甲 30,000 (routed), 乙 10,000 (routed) + 20,000 (alone) = 60,000
    with services(app, dbs):
        found = concentration.by_routing_integrator(programme)
    assert len(found) == 1
    row = found[0]
    assert row.provider.id == integrator.id
    assert (row.routed_fen, row.routed_lines, row.delivered_fen) == (40_000_00, 2, 0)
    assert (row.combined_fen, row.combined_bp) == (40_000_00, 6_666)
    client.login(p.official.email)
    page = client.text(f"/agency/programmes/{programme.id}/concentration")
    assert "按路由集成服务商" in page and integrator.name in page and "66.7%" in page


def test_the_simulator_page_projects_the_other_mode(app, client, dbs):
    p, programme, rival, integrator, first, second = market(app, dbs)
    # days to go-live, set for the projection: 甲 10 days, 乙 20 days
    for line in [*first.lines, *second.lines]:
        days = 10 if line.provider_id == p.provider.id else 20
        if line.kind == "package":
            dbs.execute(
                update(OrderLine).where(OrderLine.id == line.id).values(days_to_go_live=days)
            )
    dbs.commit()
    with services(app, dbs):
        lines = simulator.facts(programme)
    # as ordered: 甲 60,000 and 乙 60,000 routed by 丙 with its fee of 12,000; 乙 60,000 alone
    assert sorted(
        (f.provider_id, f.amount_fen, f.integrator_id or 0, f.is_integration) for f in lines
    ) == sorted(
        [
            (p.provider.id, 60_000_00, integrator.id, False),
            (rival.id, 60_000_00, integrator.id, False),
            (integrator.id, 12_000_00, 0, True),
            (rival.id, 60_000_00, 0, False),
        ]
    )
    client.login(p.official.email)
    url = f"/agency/programmes/{programme.id}/simulator"
    page = client.text(url)  # open now: projected under integrator mode, by default
    assert "集成服务商模式" in page and "假设" in page
    # now: 丙 132,000 of 192,000 (68.75 %), 乙 60,000 (31.25 %): HHI 4,727 + 977 = 5,703
    assert "5703" in page and "68.75%" in page
    # price per module: 192,000 / 3 = 64,000; days: (60,000 × 10 + 120,000 × 20) / 180,000
    assert "¥64,000.00" in page and "16.7" in page
    # to open mode, with a cap of 50 %: no fee; 甲 60,000, 乙 120,000 of 180,000: 乙 is cut
    # to 90,000 and 甲 (the only other MES provider) takes the 30,000: 50 % and 50 %
    page = client.text(f"{url}?mode=open&provider_cap=50&integration_fee_cap=")
    assert "5000" in page and "¥60,000.00" in page and "15.0" in page
    # bad input: a cap out of range is said, in Chinese, and nothing is projected from it
    response = client.get(f"{url}?mode=open&provider_cap=150")
    assert response.status_code == 422
    assert "0.01" in response.get_data(as_text=True)


def test_the_simulator_page_shows_hybrid_mode_as_a_third_column(app, client, dbs):
    """The same orders under a programme in integrator mode that appointed 丙 (an open
    programme appoints no integrator: neither integrator nor hybrid mode can be projected)."""
    p, programme, _rival, integrator, _first, _second = market(app, dbs)
    dbs.execute(
        update(VoucherProgramme)
        .where(VoucherProgramme.id == programme.id)
        .values(mode=ProgrammeMode.INTEGRATOR)
    )
    dbs.commit()
    with services(app, dbs):
        appointments.appoint(programme, selection(programme, integrator.id), SYSTEM)
    client.login(p.official.email)
    page = client.text(f"/agency/programmes/{programme.id}/simulator")
    # the third column, hybrid mode at the programme's 50 % fee floor: 丙's fee rate was
    # 12,000 / 120,000 = 10 %. Order 1: both modules are admitted specialists' (甲, 乙), so
    # nothing is kept: the floor, 6,000. Order 2 is routed by 丙 at 10 % (6,000), its one
    # module swapped: 3,000. 丙 routes every line: 189,000 of 189,000, HHI 10,000.
    assert 'id="hybrid-column"' in page and "混合模式" in page
    assert re.search(r'data-hybrid="fees">¥9,000.00<', page)
    assert re.search(r'data-hybrid="hhi">10000<', page)
    assert "¥63,000.00" in page and 'id="hybrid-floor"' in page and "50.00%" in page
